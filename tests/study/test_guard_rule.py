"""The `guard` real-cloud rule, in `study plan` and in the policy pack: every study cluster runs
the guard as its own ServiceAccount, bound to a cloud identity, with a results bucket.

A CronJob's Jobs are created by the kube-controller-manager's CronJob controller
(kubernetes/kubernetes pkg/controller/cronjob/cronjob_controllerv2.go, v1.35), so the guard
runs with no client connected; without the identity binding (GKE: Workload Identity Federation
for GKE, "Link Kubernetes ServiceAccounts to IAM"; EKS: the Amazon EKS user guide, "EKS Pod
Identity") its cloud calls fail.
"""

from __future__ import annotations

import pytest

from core.stacks import project_dir, read_stack_config
from policy.cloud_rules import RULES, RenderedStack
from study.mock_engine import run_program
from tests.conftest import to_config
from tests.policy.test_policies import stack_args, violations

GUARD = next(r for r in RULES if r.name == "guard")


def rendered(stack: str, sec: dict | None = None, drop=lambda r: False):
    from policy.manifests import manifests_of

    config = to_config(sec) if sec is not None else read_stack_config(stack)
    run = run_program(stack, config, project_dir() / "__main__.py")
    assert run.error is None, run.error
    resources = [r for r in run.resources if not drop(r)]
    manifests = [m for r in resources for m in manifests_of(r.type, r.inputs)]
    return RenderedStack(None, manifests, resources)


@pytest.mark.parametrize("stack", ["gke-64-localssd", "eks-6-topology"])
def test_shipped_stacks_have_the_guard(stack):
    assert GUARD.check(rendered(stack)) == []


@pytest.mark.parametrize(("stack", "dropped", "problem"), [
    pytest.param(
        "gke-64-localssd", "kubernetes:batch/v1:CronJob",
        "no CronJob study-harness/study-guard: nothing scales the nodes to zero at the deadline "
        "when the run's process dies or nobody runs one (keep study:guard.enabled true)",
        id="without-the-guard-cronjob"),
    pytest.param(
        "gke-64-localssd", "gcp:serviceaccount/iAMMember:IAMMember",
        "ServiceAccount study-harness/guard-gke-64-localssd is not bound to a Google service "
        "account (Workload Identity: roles/iam.workloadIdentityUser for "
        "PROJECT.svc.id.goog[study-harness/guard-gke-64-localssd] and the "
        "iam.gke.io/gcp-service-account annotation): the guard could not scale the node pool",
        id="gke-without-workload-identity"),
    pytest.param(
        "eks-6-topology", "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "ServiceAccount study-harness/guard-eks-6-topology has no EKS Pod Identity association: "
        "the guard could not scale the node group",
        id="eks-without-pod-identity"),
])
def test_a_stack_missing_a_guard_resource_is_refused(stack, dropped, problem):
    assert GUARD.check(rendered(stack, drop=lambda r: r.type == dropped)) == [problem]


def test_a_guard_running_as_a_name_other_stacks_share_is_refused():
    """The project's identity pool trusts a namespace and KSA name in every cluster of the
    project (Workload Identity Federation for GKE, "Identity sameness"): a guard running as the
    fixed `study-guard` could be any stack's."""
    stack = rendered("gke-64-localssd")
    (cron,) = [m for m in stack.manifests if m["kind"] == "CronJob"]
    cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] = "study-guard"
    assert GUARD.check(stack) == [
        "CronJob study-harness/study-guard runs as 'study-guard', not the stack's own "
        "ServiceAccount study-harness/guard-gke-64-localssd: a name shared by stacks is trusted "
        "in every cluster of a GKE project"
    ]


def test_the_policy_pack_stops_an_up_without_the_guard():
    from policy.policies import real_cloud_rules

    args_ = stack_args("gke-64-localssd", drop_types=("kubernetes:batch/v1:CronJob",))
    assert violations(real_cloud_rules, args_) == [
        "rule guard: no CronJob study-harness/study-guard: nothing scales the nodes to zero at "
        "the deadline when the run's process dies or nobody runs one (keep "
        "study:guard.enabled true)"
    ]
