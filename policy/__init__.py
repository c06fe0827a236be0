"""Pulumi policy pack for study stacks (rules in `policies.py`; `__main__.py` serves them)."""
