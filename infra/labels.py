"""The labels every taggable resource carries, so the janitor and leftover checks can find them."""

from __future__ import annotations

from infra.spec.common import expiry_label


def study_labels(spec, stack: str) -> dict[str, str]:
    """study, stack, owner, expires-at (+ the cluster's own labels); valid on GCP and AWS."""
    labels = dict(getattr(spec.cluster, "labels", {}) or {})
    labels.update(
        {
            "study": spec.study,
            "stack": stack,
            "owner": spec.owner,
            "expires-at": expiry_label(spec.expires_at),
            "managed-by": "study-harness",
        }
    )
    return labels
