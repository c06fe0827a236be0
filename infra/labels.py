"""The labels every taggable resource carries, so the janitor and leftover checks can find them.

`expires-at` and `budget-usd` are mandatory (the policy pack in `policy/` rejects resources
without them): the janitor reads the first, and anyone looking at a billing export can tell a
cluster's intended spend from the second.
"""

from __future__ import annotations

from typing import Any

from infra.spec.common import expiry_label


def budget_label(usd: float) -> str:
    """A budget as a label value both clouds accept: 12.5 -> '12_50' (no '.' in GCP labels)."""
    return f"{usd:.2f}".replace(".", "_")


def parse_budget_label(value: str) -> float:
    return float(value.replace("_", "."))


def study_labels(spec, stack: str, expires_at: Any = None) -> dict[str, Any]:
    """study, stack, owner, expires-at, budget-usd (+ the cluster's own labels); GCP and AWS.

    `expires_at` is the stamped label value (infra.expiry, an Output for `study:ttl`); without
    it, the expiry of a cluster created now (validation checks the same format).
    """
    if expires_at is None:
        from infra.validate import clock

        expires_at = expiry_label(spec.expiry(clock()))
    labels: dict[str, Any] = dict(getattr(spec.cluster, "labels", {}) or {})
    labels.update(
        {
            "study": spec.study,
            "stack": stack,
            "owner": spec.owner,
            "expires-at": expires_at,
            "budget-usd": budget_label(spec.budget.usd),
            "managed-by": "study-harness",
        }
    )
    return labels
