"""`study plan` names the stack's own uploader and guard service accounts in its results section,
as the program binds them (Workload Identity principals `PROJECT.svc.id.goog[NS/KSA]`, per
Google's "Workload Identity Federation for GKE"; EKS Pod Identity associations)."""

from __future__ import annotations

from study.plan import make_plan


def test_gke_plan_shows_each_roles_own_service_account():
    plan = make_plan("gke-64-localssd")
    assert plan.ok, plan.violations
    res = plan.to_json()["results"]
    assert res["writer"] == "study-harness/results-gke-64-localssd"
    pool = "serviceAccount:study-harness-sandbox.svc.id.goog"
    assert [b for b in res["bindings"] if "workloadIdentityUser" in b] == [
        f"{pool}[study-harness/guard-gke-64-localssd] may act as the guard "
        "(roles/iam.workloadIdentityUser)",
        f"{pool}[study-harness/results-gke-64-localssd] may act as the writer "
        "(roles/iam.workloadIdentityUser)",
    ]


def test_eks_plan_shows_each_roles_own_service_account():
    plan = make_plan("eks-16-pulling")
    assert plan.ok, plan.violations
    res = plan.to_json()["results"]
    assert res["writer"] == "study-harness/results-eks-16-pulling"
    assert [b for b in res["bindings"] if "Pod Identity" in b] == [
        "study-harness/guard-eks-16-pulling assumes the guard role through EKS Pod Identity",
        "study-harness/results-eks-16-pulling assumes the writer role through EKS Pod Identity",
    ]
