"""Each policy's validate function, called directly with pulumi_policy's own argument objects."""

from __future__ import annotations

import copy

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from policy.policies import (
    POLICIES,
    compact_placement_supported,
    deletion_protection_off,
    labels_mandatory,
    node_count_within_quota,
)

LABELS = {"study": "nightly", "stack": "gke-4-nightly", "owner": "me",
          "expires-at": "20271231t000000z", "budget-usd": "5_00", "managed-by": "study-harness"}
POOL = {
    "location": "us-central1-a",
    "nodeCount": 4.0,  # numbers arrive as floats
    "nodeConfig": {"machineType": "n1-standard-4", "resourceLabels": dict(LABELS),
                   "labels": dict(LABELS)},
}
CLUSTER = {"deletionProtection": False, "resourceLabels": dict(LABELS)}


def args(type_: str, props: dict, protect: bool = False, config: dict | None = None):
    opts = PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(type_, props, f"urn:pulumi:s::p::{type_}::x", "x", opts, None,
                                  config)


def violations(fn, a) -> list[str]:
    out: list[str] = []
    fn(a, lambda msg, urn=None: out.append(msg))
    return out


class TestLabels:
    """Budget and expiry (and ownership) labels are mandatory on taggable resources."""

    def test_complete_labels_pass(self):
        assert violations(labels_mandatory, args("gcp:container/cluster:Cluster", CLUSTER)) == []
        assert violations(labels_mandatory, args("gcp:container/nodePool:NodePool", POOL)) == []

    def test_missing_budget_and_expiry(self):
        props = copy.deepcopy(CLUSTER)
        del props["resourceLabels"]["budget-usd"], props["resourceLabels"]["expires-at"]
        (msg,) = violations(labels_mandatory, args("gcp:container/cluster:Cluster", props))
        assert "missing label(s) expires-at, budget-usd in resourceLabels" in msg

    def test_unparseable_expiry(self):
        props = copy.deepcopy(CLUSTER)
        props["resourceLabels"]["expires-at"] = "next-week"
        (msg,) = violations(labels_mandatory, args("gcp:container/cluster:Cluster", props))
        assert "expires-at 'next-week' is not YYYYMMDDtHHMMSSz" in msg

    def test_aws_tags_checked_untaggable_ignored(self):
        assert violations(labels_mandatory, args("aws:eks/cluster:Cluster", {"tags": {}}))
        assert violations(labels_mandatory, args("kubernetes:core/v1:Namespace", {})) == []

    def test_labels_from_the_program_pass(self):
        from infra.labels import study_labels
        from infra.spec import load_spec
        from tests.conftest import sections, to_config

        spec = load_spec(to_config(sections("gke-4-nightly")))
        props = {"deletionProtection": False,
                 "resourceLabels": study_labels(spec, "gke-4-nightly")}
        assert violations(labels_mandatory, args("gcp:container/cluster:Cluster", props)) == []


class TestDeletionProtection:
    """Clusters must be destroyable: GKE's default (true) is a violation, so is `protect`."""

    def test_off_passes(self):
        assert violations(deletion_protection_off,
                          args("gcp:container/cluster:Cluster", CLUSTER)) == []

    @pytest.mark.parametrize("props", [{}, {"deletionProtection": True}])
    def test_default_or_on_fails(self, props):
        (msg,) = violations(deletion_protection_off, args("gcp:container/cluster:Cluster", props))
        assert "deletion_protection=False" in msg

    def test_protect_option_fails(self):
        (msg,) = violations(deletion_protection_off,
                            args("aws:eks/cluster:Cluster", {}, protect=True))
        assert "protect resource option" in msg


class TestQuota:
    """Node pools fit the declared quota (policy config, else the stack file by `stack` label)."""

    def test_within_the_stack_files_quota(self):
        assert violations(node_count_within_quota,
                          args("gcp:container/nodePool:NodePool", POOL)) == []

    def test_over_the_stack_files_quota(self):
        props = copy.deepcopy(POOL)
        props["nodeCount"] = 5.0  # 20 vCPUs, declared 16
        (msg,) = violations(node_count_within_quota, args("gcp:container/nodePool:NodePool", props))
        assert "5 nodes need 20 cpus but the declared quota is 16" in msg

    def test_policy_config_wins(self):
        a = args("gcp:container/nodePool:NodePool", POOL, config={"quota_instances": 2})
        (msg,) = violations(node_count_within_quota, a)
        assert "need 4 instances but the declared quota is 2" in msg

    def test_eks_group(self):
        props = {"scalingConfig": {"desiredSize": 16.0, "maxSize": 16.0},
                 "instanceTypes": ["c5a.4xlarge"], "tags": dict(LABELS)}
        a = args("aws:eks/nodeGroup:NodeGroup", props, config={"quota_cpus": 128})
        (msg,) = violations(node_count_within_quota, a)
        assert "16 nodes need 256 cpus but the declared quota is 128" in msg


class TestCompactPlacement:
    """COMPACT only on supporting families (infra.machines), in one zone."""

    def _pool(self, machine: str, location: str = "us-central1-a") -> dict:
        props = copy.deepcopy(POOL)
        props["placementPolicy"] = {"type": "COMPACT"}
        props["nodeConfig"]["machineType"] = machine
        props["location"] = location
        return props

    def test_supported_family(self):
        assert violations(compact_placement_supported,
                          args("gcp:container/nodePool:NodePool", self._pool("c2-standard-60"))) == []

    def test_unsupported_family(self):
        (msg,) = violations(compact_placement_supported,
                            args("gcp:container/nodePool:NodePool", self._pool("n1-standard-4")))
        assert "not supported on n1-standard-4 (family n1)" in msg

    def test_regional_pool(self):
        (msg,) = violations(compact_placement_supported, args(
            "gcp:container/nodePool:NodePool", self._pool("c2-standard-60", "us-central1")))
        assert "single zone" in msg

    def test_no_placement_policy_is_fine(self):
        assert violations(compact_placement_supported,
                          args("gcp:container/nodePool:NodePool", POOL)) == []


def test_pack_lists_every_policy_once():
    names = [n for n, _, _ in POLICIES]
    assert len(names) == len(set(names)) == 4


def _seconds(duration: str | None) -> float:
    """'20m' / '1421s' / '1h30m' as the engine hands timeouts to a policy pack (seconds)."""
    import re

    unit = {"h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * unit[u] for n, u in re.findall(r"(\d+)([hms])", duration or "")))


def stack_args(stack: str, drop_types: tuple[str, ...] = ()):
    """The stack's resources as `pulumi up --policy-pack` hands them to a stack policy: props
    (inputs, camelCased) and options, custom timeouts in seconds (pulumi_policy
    PolicyCustomTimeouts). Registered by the real program under the SDK's mocks."""
    from pulumi_policy import PolicyResource, StackValidationArgs

    from core.stacks import project_dir, read_stack_config
    from study.mock_engine import run_program

    run = run_program(stack, read_stack_config(stack), project_dir() / "__main__.py")
    assert run.error is None
    resources = []
    for r in run.resources:
        if r.type in drop_types:
            continue
        t = r.options.get("customTimeouts") or {}
        opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(
            _seconds(t.get("create")), _seconds(t.get("update")), _seconds(t.get("delete"))), [])
        resources.append(PolicyResource(r.type, r.inputs, f"urn:pulumi:{stack}::p::{r.type}::"
                                        f"{r.name}", r.name, opts, None, None, [], {}))
    return StackValidationArgs(resources)


def test_real_cloud_rules_pass_on_a_shipped_stack_as_pulumi_up_sees_it():
    from policy.policies import STACK_POLICIES, real_cloud_rules

    assert [name for name, _, _ in STACK_POLICIES] == ["real-cloud-rules"]
    assert violations(real_cloud_rules, stack_args("gke-64-localssd")) == []


def test_real_cloud_rules_stop_an_up_whose_claim_has_no_storage_class():
    """The same rule as the plan's (policy.cloud_rules pvc-storage-class), at `pulumi up`."""
    from policy.policies import real_cloud_rules

    args_ = stack_args("gke-64-localssd", drop_types=("kubernetes:storage.k8s.io/v1:StorageClass",))
    assert violations(real_cloud_rules, args_) == [
        "rule pvc-storage-class: PersistentVolumeClaim/study-results names storageClassName "
        "'study-results', which the stack does not install (installed: none)"
    ]
