"""What `study plan` says about a stack's durable results: the bucket, the run's URL, and the
identity bindings that let the cluster write there (read off the resources the program
registered, so the plan shows what `pulumi up` would create, not what it should)."""

from __future__ import annotations

import json
from typing import Any

BINDING_TYPES = (
    "gcp:storage/bucketIAMMember:BucketIAMMember",
    "gcp:serviceaccount/iAMMember:IAMMember",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation",
    "aws:iam/role:Role",
)


def _binding(r) -> str | None:
    """One line per binding, from the settings the plan keeps (study.plan.SHOWN)."""
    i = r.settings
    if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember":
        return (f"{i.get('member')} has {i.get('role')} on gs://{i.get('bucket')} where "
                f"{i.get('expression')}")
    if r.type == "gcp:serviceaccount/iAMMember:IAMMember":
        who = "the guard" if r.name.endswith("-guard-wi") else "the writer"
        return f"{i.get('member')} may act as {who} ({i.get('role')})"
    if r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation":
        role = "the guard role" if r.name.endswith("-guard") else "the writer role"
        return (f"{i.get('namespace')}/{i.get('serviceAccount')} assumes {role} "
                "through EKS Pod Identity")
    if r.type == "aws:iam/role:Role" and r.name.endswith("-results-writer"):
        policies = [json.loads(p.get("policy", "{}")) for p in i.get("inlinePolicies") or []]
        grants = [f"{s.get('Action')} on {s.get('Resource')}"
                  for p in policies for s in p.get("Statement", [])]
        return f"role {r.name} may only: " + "; ".join(grants)
    return None


def results_summary(plan) -> dict[str, Any] | None:
    """{bucket, results_url, run_id, retention_days, upload_jobs, bindings} or None."""
    from infra.results_bucket import bucket_name, scheme
    from infra.service_accounts import uploader_sa

    spec = plan.spec
    if not plan.resources:
        return None
    from infra.results_bucket import ACCOUNT_PLACEHOLDER
    from study.mock_engine import CALLS

    # The plan renders under mocks: say which account, as the bucket line does.
    mock_account = CALLS["aws:index/getCallerIdentity:getCallerIdentity"]["accountId"]
    bindings = [b.replace(mock_account, ACCOUNT_PLACEHOLDER) for r in plan.resources
                if r.type in BINDING_TYPES if (b := _binding(r)) is not None]
    uploads = sum(1 for o in plan.manifests if o.get("kind") == "Job"
                  and (o.get("metadata") or {}).get("name", "").startswith("upload-"))
    bucket = f"{scheme(spec)}://{bucket_name(spec)}"
    return {
        "bucket": bucket,
        "results_url": f"{bucket}/{plan.stack}/<run-id>/",
        "run_id": "study run's id, else the study namespace's creation time (ConfigMap study-run)",
        "retention_days": spec.results.retention_days,
        "writer": f"study-harness/{uploader_sa(plan.stack)}",
        "upload_jobs": uploads,
        "bindings": bindings,
    }
