"""Each stack's uploader and guard run as Kubernetes service accounts no other stack has.

On GKE a Workload Identity principal is `serviceAccount:PROJECT_ID.svc.id.goog[NAMESPACE/KSA]`:
the pool is the project's, and every cluster of the project whose pods run as that namespace and
name is that principal (Google Cloud, "Workload Identity Federation for GKE",
https://cloud.google.com/kubernetes-engine/docs/concepts/workload-identity, section "Identity
sameness": all clusters in a project that use the same namespace and KSA name share an
identity). Every study cluster has the namespace `study-harness`, so the KSA name is what keeps
one stack's pods from acting as another stack's writer or guard.
"""

from __future__ import annotations

import copy
import re

import pytest

from infra.service_accounts import DNS_LABEL_MAX, bounded_name, guard_sa, uploader_sa
from tests.conftest import sections
from tests.infra.test_gke_program import render

# Kubernetes object names validated as DNS-1123 labels (k8s.io/apimachinery
# pkg/util/validation/validation.go, dns1123LabelFmt and DNS1123LabelMaxLength = 63).
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
PROJECT = "one-shared-project"
STACKS = ("gke-64-localssd", "gke-4-nightly")


class TestNames:
    """A name is `<prefix>-<stack>` when that is a valid label; otherwise a valid label that
    still tells two stacks apart."""

    def test_a_valid_stack_keeps_its_name(self):
        assert (uploader_sa("gke-2-smoke"), guard_sa("gke-2-smoke")) == (
            "results-gke-2-smoke", "guard-gke-2-smoke")

    @pytest.mark.parametrize("stacks", [
        ("a" * 70 + "-one", "a" * 70 + "-two"),  # too long: only the hash differs
        ("My_Stack.v1", "my-stack-v1"),  # characters a name may not hold
        ("___", "..."),  # nothing usable left but the hash
    ])
    def test_odd_stacks_give_valid_distinct_labels(self, stacks):
        for name_of in (uploader_sa, guard_sa):
            names = [name_of(s) for s in stacks]
            assert [bool(DNS1123_LABEL.fullmatch(n)) and len(n) <= DNS_LABEL_MAX
                    for n in names] == [True, True]
            assert names[0] != names[1]

    def test_a_shortened_name_keeps_the_prefix_and_the_start_of_the_stack(self):
        name = bounded_name("results", "gke-" + "x" * 80, DNS_LABEL_MAX)
        assert len(name) == DNS_LABEL_MAX
        assert name.startswith("results-gke-xxx")


def principals(stack: str) -> dict[str, object]:
    """What the stack's cluster runs its uploads and guard as, and whom its GSAs trust."""
    sec = copy.deepcopy(sections(stack))
    sec["cluster"]["project"] = PROJECT
    run, by_type = render(stack, sec)
    wi = {r.name: r.inputs["member"] for r in by_type["gcp:serviceaccount/iAMMember:IAMMember"]}
    uploads = {r.inputs["spec"]["template"]["spec"]["serviceAccountName"]
               for r in by_type["kubernetes:batch/v1:Job"]
               if r.inputs["metadata"]["name"].startswith("upload-")}
    (cron,) = by_type["kubernetes:batch/v1:CronJob"]
    return {
        "writer trusts": wi[f"{stack}-results-writer-wi"],
        "guard trusts": wi[f"{stack}-guard-wi"],
        "uploads run as": uploads,
        "guard runs as": cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"][
            "serviceAccountName"],
        "service accounts": {r.inputs["metadata"]["name"]
                             for r in by_type["kubernetes:core/v1:ServiceAccount"]},
    }


def test_two_stacks_in_one_project_have_distinct_identities_for_both_roles():
    """Two GKE stacks in one project: each GSA trusts only its own stack's KSA, and no pod of
    the other stack's cluster runs as that KSA (the pool `PROJECT.svc.id.goog` is shared)."""
    a, b = (principals(s) for s in STACKS)
    pool = f"serviceAccount:{PROJECT}.svc.id.goog"
    assert {k: a[k] for k in ("writer trusts", "guard trusts", "uploads run as",
                              "guard runs as")} == {
        "writer trusts": f"{pool}[study-harness/results-gke-64-localssd]",
        "guard trusts": f"{pool}[study-harness/guard-gke-64-localssd]",
        "uploads run as": {"results-gke-64-localssd"},
        "guard runs as": "guard-gke-64-localssd",
    }
    assert {k: b[k] for k in ("writer trusts", "guard trusts", "uploads run as",
                              "guard runs as")} == {
        "writer trusts": f"{pool}[study-harness/results-gke-4-nightly]",
        "guard trusts": f"{pool}[study-harness/guard-gke-4-nightly]",
        "uploads run as": {"results-gke-4-nightly"},
        "guard runs as": "guard-gke-4-nightly",
    }
    for mine, other in ((a, b), (b, a)):
        trusted = {str(mine[k]).rsplit("/", 1)[1].rstrip("]")
                   for k in ("writer trusts", "guard trusts")}
        assert trusted & other["service accounts"] == set()
