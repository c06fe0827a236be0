"""Invalid EKS stacks: every problem is one line naming key, value and what is allowed.

Each case mutates a shipped EKS stack, so the rest of the config is known-good; a few go through
`study plan` itself to pin the exit code and the stderr line a user sees.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from core.errors import SpecError
from infra.spec import load_spec
from infra.validate import validate_stack
from tests.conftest import NOW, ROOT, sections, to_config

BASE = "eks-6-topology"  # 6 x c5a.4xlarge, zone us-east-2b, cluster placement group, gp2 150 GB


def problems_of(sec: dict, stack: str = BASE) -> list[str]:
    try:
        spec = load_spec(to_config(sec))
    except SpecError as exc:
        return exc.problems
    return [str(p) for p in validate_stack(spec, stack, NOW).errors]


def warnings_of(sec: dict, stack: str = BASE) -> list[str]:
    spec = load_spec(to_config(sec))
    return [str(p) for p in validate_stack(spec, stack, NOW).warnings]


def with_cluster(stack: str = BASE, **changes) -> dict:
    sec = sections(stack)
    sec["cluster"].update(changes)
    return sec


def without(key: str) -> dict:
    sec = sections(BASE)
    del sec["cluster"][key]
    return sec


C = "study:cluster"
CASES = [
    # (id, sections, the exact line expected among the problems)
    ("cloud-missing", without("cloud"),
     f"{C}.cloud: required key is missing; allowed: 'gke', 'eks'"),
    ("version-missing", without("kubernetes_version"),
     f"{C}.kubernetes_version: required key is missing"),
    ("version-unknown", with_cluster(kubernetes_version="1.99"),
     f"{C}.kubernetes_version: '1.99' is not allowed; not an EKS version this harness knows; "
     "known: 1.27, 1.28, 1.29, 1.30, 1.31, 1.32, 1.33, 1.34, 1.35"),
    ("version-format", with_cluster(kubernetes_version="v1.27"),
     f"{C}.kubernetes_version: 'v1.27' is not allowed; string should match pattern "
     "'^1\\.\\d{2}$'"),
    ("instance-unknown", with_cluster(machine_type="c5a.5xlarge"),
     f"{C}.machine_type: 'c5a.5xlarge' is not allowed; unknown EC2 instance type; known: "
     "c5.4xlarge, c5a.4xlarge, c5n.18xlarge, c5n.9xlarge, hpc6a.48xlarge, m5.large, m5.xlarge"),
    ("disk-type", with_cluster(boot_disk_type="st1"),
     f"{C}.boot_disk_type: 'st1' is not allowed; input should be 'gp2', 'gp3' or 'io1'"),
    ("disk-size", with_cluster(boot_disk_size_gb=10),
     f"{C}.boot_disk_size_gb: 10 is not allowed; input should be greater than or equal to 20"),
    ("region-format", with_cluster(region="us-east"),
     f"{C}.region: 'us-east' is not allowed; string should match pattern "
     "'^[a-z]{2}(-gov)?-[a-z]+-\\d$'"),
    ("zones-one", with_cluster(zones=["us-east-2b"]),
     f"{C}.zones: ['us-east-2b'] is not allowed; list should have at least 2 items after "
     "validation, not 1"),
    ("zones-name", with_cluster(zones=["us-east-2b", "east"]),
     f"{C}.zones: ['us-east-2b', 'east'] is not allowed; 'east' is not an availability zone "
     "name, e.g. us-east-2a"),
    ("zones-duplicate", with_cluster(zones=["us-east-2b", "us-east-2b"]),
     f"{C}.zones: ['us-east-2b', 'us-east-2b'] is not allowed; zones must be distinct"),
    ("zones-region", with_cluster(zones=["us-west-2a", "us-east-2b"]),
     f"{C}.zones[0]: 'us-west-2a' is not in region 'us-east-2'"),
    ("zone-region", with_cluster(zone="us-west-2b"),
     f"{C}.zone: 'us-west-2b' is not in region 'us-east-2'"),
    ("zone-not-a-cluster-zone", with_cluster(zone="us-east-2a"),
     f"{C}.zone: 'us-east-2a' is not one of zones ['us-east-2b', 'us-east-2c']; the node "
     "group's subnet must be one of the cluster's zones"),
    ("efa-on-c5a", with_cluster(efa=True),
     f"{C}.efa: true is not allowed for c5a.4xlarge (no EFA support); EFA instance types: "
     "c5n.18xlarge, c5n.9xlarge, hpc6a.48xlarge"),
    ("efa-without-placement", with_cluster(machine_type="c5n.9xlarge", efa=True,
                                           placement_group=None),
     f"{C}.placement_group: null is not allowed with efa: true; EFA needs {{strategy: cluster}}"),
    ("efa-spread", with_cluster(machine_type="c5n.9xlarge", efa=True,
                                placement_group={"strategy": "spread"}),
     f"{C}.placement_group: strategy 'spread' is not allowed with efa: true; EFA needs "
     "{strategy: cluster}"),
    ("efa-without-zone", with_cluster(machine_type="c5n.9xlarge", efa=True, zone=None),
     f"{C}.zone: required with efa: true: the node group must be in one AZ of zones"),
    ("placement-without-zone", with_cluster(zone=None),
     f"{C}.zone: required with a placement group: the node group must be in one AZ of zones"),
    ("placement-strategy", with_cluster(placement_group={"strategy": "compact"}),
     f"{C}.placement_group.strategy: 'compact' is not allowed; input should be 'cluster', "
     "'partition' or 'spread'"),
    ("placement-unknown-key", with_cluster(placement_group={"strategy": "cluster", "name": "x"}),
     f"{C}.placement_group.name: unknown key; allowed: strategy, partition_count"),
    ("partition-count-on-cluster",
     with_cluster(placement_group={"strategy": "cluster", "partition_count": 2}),
     f"{C}.placement_group.partition_count: 2 is not allowed with strategy 'cluster'; only with "
     "strategy 'partition'"),
    ("partition-count-high",
     with_cluster(placement_group={"strategy": "partition", "partition_count": 9}),
     f"{C}.placement_group.partition_count: 9 is not allowed; input should be less than or "
     "equal to 7"),
    ("spread-too-many", with_cluster(placement_group={"strategy": "spread"}, node_count=8),
     f"{C}.placement_group.strategy: 'spread' holds at most 7 instances per AZ, not 8 in 1 "
     "AZ(s); use 'cluster' or 'partition'"),
    ("io1-without-iops", with_cluster(boot_disk_type="io1"),
     f"{C}.boot_disk_iops: required with boot_disk_type 'io1' (provisioned IOPS volume)"),
    ("gp2-with-iops", with_cluster(boot_disk_iops=3000),
     f"{C}.boot_disk_iops: 3000 is not allowed with boot_disk_type 'gp2'; only with gp3 or io1"),
    ("gp3-iops-low", with_cluster(boot_disk_type="gp3", boot_disk_iops=2000),
     f"{C}.boot_disk_iops: 2000 is not allowed for gp3; allowed: 3000-16000"),
    ("io1-iops-per-gb", with_cluster(boot_disk_type="io1", boot_disk_iops=10000),
     f"{C}.boot_disk_iops: 10000 is not allowed for a 150 GB io1 volume; at most 50 IOPS per GB "
     "(7500)"),
    ("mtu-high", with_cluster(network_mtu=9500),
     f"{C}.network_mtu: 9500 is not allowed; input should be less than or equal to 9001"),
    ("key-typo", with_cluster(placement={"strategy": "cluster"}),
     f"{C}.placement: unknown key; did you mean 'placement_group'?"),
    ("gke-key-on-eks", with_cluster(compact_placement=True),
     f"{C}.compact_placement: unknown key; allowed: cloud, region, zones, zone, "
     "kubernetes_version, node_count, machine_type, boot_disk_type, boot_disk_size_gb, "
     "boot_disk_iops, placement_group, efa, network_mtu, image_registry, labels"),
    ("quota-cpus", with_cluster(node_count=10),
     "study:quota.cpus: the stack needs 160 but the declared quota is 128; request more quota or "
     "use fewer or smaller nodes"),
    ("quota-cpus-hpc", with_cluster(machine_type="hpc6a.48xlarge", node_count=2),
     "study:quota.cpus: the stack needs 192 but the declared quota is 128; request more quota or "
     "use fewer or smaller nodes"),
]


@pytest.mark.parametrize(("sec", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_eks_config_gives_one_clear_line(sec, expected):
    problems = problems_of(sec)
    assert all("\n" not in p and "Traceback" not in p for p in problems)
    assert expected in problems, problems


def test_each_case_reports_only_its_own_problem():
    """A case must not pass because an unrelated problem happens to be reported alongside."""
    for case_id, sec, expected in CASES:
        extra = [p for p in problems_of(sec) if p != expected]
        if case_id in ("efa-without-placement", "efa-spread", "efa-without-zone"):
            # c5n.9xlarge has 36 vCPUs: 6 of them exceed the stack's declared 128.
            extra = [p for p in extra if not p.startswith("study:quota.cpus")]
        if case_id == "efa-without-zone":
            # the zone is what is missing, the placement group is not
            extra = [p for p in extra if "required with a placement group" not in p]
        assert extra == [], (case_id, extra)


def test_efa_setup_that_follows_the_rules_is_valid():
    sec = with_cluster(machine_type="c5n.18xlarge", efa=True)
    sec["quota"] = {"cpus": 432}
    sec["budget"] = {"usd": 100, "max_hours": 6}
    assert problems_of(sec) == []


class TestWarnings:
    """Risky but legal choices warn instead of failing the plan."""

    def test_cluster_group_at_256_nodes(self):
        sec = with_cluster("eks-256-topology", zone="us-east-2a",
                           placement_group={"strategy": "cluster"})
        assert problems_of(sec, "eks-256-topology") == []
        assert (
            f"{C}.placement_group: a cluster placement group for 256 nodes may not get capacity "
            "(the seed 256-node EKS study had to drop it); consider null or 'partition'"
        ) in warnings_of(sec, "eks-256-topology")

    def test_shipped_256_stack_has_no_placement_warning(self):
        assert not any("placement_group" in w for w in warnings_of(sections("eks-256-topology"),
                                                                   "eks-256-topology"))

    def test_version_out_of_extended_support_before_expiry(self):
        sec = with_cluster(kubernetes_version="1.27")
        del sec["ttl"]
        sec["expires_at"] = "2026-12-20T00:00:00Z"  # within a month of NOW (2026-11-22)
        assert (
            f"{C}.kubernetes_version: '1.27' leaves EKS extended support on 2025-07-24, before "
            "study:expires_at 2026-12-20; after that EKS creates no 1.27 clusters and "
            "auto-upgrades existing ones; versions supported until the expiry: 1.32, 1.33, "
            "1.34, 1.35"
        ) in warnings_of(sec)

    def test_version_out_of_support_within_the_ttl(self):
        """A lifetime ends `ttl` after creation: the plan checks a cluster created NOW."""
        assert (
            f"{C}.kubernetes_version: '1.27' leaves EKS extended support on 2025-07-24, before "
            "study:ttl '24h' ends on 2026-11-23; after that EKS creates no 1.27 clusters and "
            "auto-upgrades existing ones; versions supported until the expiry: 1.31, 1.32, "
            "1.33, 1.34, 1.35"
        ) in warnings_of(with_cluster(kubernetes_version="1.27"))

    def test_supported_version_has_no_version_warning(self):
        sec = with_cluster(kubernetes_version="1.35")
        assert not any("kubernetes_version" in w for w in warnings_of(sec))

    def test_gcp_only_quota_key(self):
        sec = sections(BASE)
        sec["quota"] = {"cpus": 128, "in_use_addresses": 10}
        assert "study:quota.in_use_addresses: is a GCP quota; EKS stacks ignore it, remove it" in (
            warnings_of(sec)
        )

    def test_undeclared_cpu_quota_names_the_service_quota(self):
        sec = sections(BASE)
        del sec["quota"]
        assert (
            "study:quota.cpus: not declared; the plan cannot check 96 vCPUs for 6 x c5a.4xlarge "
            "(Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances)"
        ) in warnings_of(sec)


def test_shipped_eks_stacks_are_valid_and_within_budget():
    for stack in ("eks-6-topology", "eks-30-topology", "eks-256-topology", "eks-16-pulling"):
        spec = load_spec(to_config(sections(stack)))
        report = validate_stack(spec, stack, NOW)
        assert report.errors == [], stack
        assert report.estimate.usd < spec.budget.usd, stack


class TestThroughTheCli:
    """`study plan` prints each problem as one line and exits 1 for invalid input, whether the
    schema or a cloud rule finds it (3 is for budget and quota checks)."""

    def plan(self, project, stack: str, sec: dict):
        project(stack, sec)
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "study"), "plan", stack, "--json"],
            capture_output=True, text=True, env={**os.environ}, timeout=120, check=False,
        )

    def refused(self, project, stack: str, sec: dict):
        """`study plan` of an invalid stack: exit 1 and no traceback, whatever found it."""
        out = self.plan(project, stack, sec)
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr
        return out

    def test_structural_error_exits_1_with_one_line(self, project):
        out = self.refused(project, "eks-bad-disk", with_cluster(boot_disk_type="st1"))
        assert out.stderr.strip().splitlines() == [
            f"error: {C}.boot_disk_type: 'st1' is not allowed; input should be 'gp2', 'gp3' or "
            "'io1'"
        ]

    def test_rule_error_is_invalid_input_and_lands_in_the_json(self, project):
        import json

        out = self.refused(project, "eks-bad-efa", with_cluster(efa=True))
        doc = json.loads(out.stdout)
        assert doc["violations"] == [
            f"{C}.efa: true is not allowed for c5a.4xlarge (no EFA support); EFA instance types: "
            "c5n.18xlarge, c5n.9xlarge, hpc6a.48xlarge"
        ]

    def test_missing_zone_for_placement_exits_1(self, project):
        out = self.refused(project, "eks-bad-zone", with_cluster(zone=None))
        assert (f"{C}.zone: required with a placement group: the node group must be in one AZ "
                "of zones") in out.stdout
