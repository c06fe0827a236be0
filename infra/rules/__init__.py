"""Per-cloud validation rules (see infra.validate)."""
