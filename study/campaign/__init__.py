"""Campaigns: one stack (or one per cloud) swept over node counts on one cluster resized in place.

`spec` reads and checks `campaigns/<name>.yaml` and expands its members, `plan` prices them two
ways (in place, and one cluster per member as the seed studies did), `orchestrator` runs them
through the `study run` lifecycle. The single-stack pieces (plan, lifecycle) are reused, never
copied.
"""
