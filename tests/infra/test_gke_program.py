"""The real program under the SDK's mock engine: every GKE knob reaches the resource inputs, and
knobs a stack does not set stay absent (GKE defaults apply, not ours)."""

from __future__ import annotations

import base64

import pytest
import yaml

from harness.mock_engine import run_program
from tests.conftest import ROOT, sections, to_config

GKE_STACKS = [
    "gke-64-ghcr",
    "gke-64-artifact-registry",
    "gke-64-localssd",
    "gke-64-streaming",
    "gke-6-topology",
    "gke-30-topology",
    "gke-64-osu",
    "gke-4-nightly",
]


def render(stack: str, sec: dict | None = None):
    run = run_program(stack, to_config(sec or sections(stack)), ROOT / "__main__.py")
    assert run.error is None, run.error
    by_type: dict[str, list] = {}
    for r in run.resources:
        by_type.setdefault(r.type, []).append(r)
    return run, by_type


def one(by_type, token):
    found = by_type.get(token, [])
    assert len(found) == 1, f"expected one {token}, got {len(found)}"
    return found[0].inputs


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_every_knob_reaches_the_resources(stack):
    c = sections(stack)["cluster"]
    run, by_type = render(stack)

    net = one(by_type, "gcp:compute/network:Network")
    assert net["mtu"] == c.get("network_mtu", 1460)
    assert net["autoCreateSubnetworks"] is False

    cluster = one(by_type, "gcp:container/cluster:Cluster")
    assert cluster["name"] == stack
    assert cluster["location"] == c["zone"]
    assert cluster["project"] == c["project"]
    assert cluster["removeDefaultNodePool"] is True
    assert cluster["deletionProtection"] is False
    assert cluster["releaseChannel"] == {"channel": "UNSPECIFIED"}
    assert cluster["minMasterVersion"] == c["kubernetes_version"]

    pool = one(by_type, "gcp:container/nodePool:NodePool")
    assert pool["nodeCount"] == c["node_count"]
    assert pool["location"] == c["zone"]
    assert pool["version"] == c["kubernetes_version"]
    assert pool["management"] == {"autoRepair": False, "autoUpgrade": False}
    node = pool["nodeConfig"]
    assert node["machineType"] == c["machine_type"]
    assert node["imageType"] == c.get("image_type", "COS_CONTAINERD")
    assert node["diskType"] == c.get("boot_disk_type", "pd-balanced")
    assert node["diskSizeGb"] == c.get("boot_disk_size_gb", 100)

    # Optional knobs: present exactly when the stack sets them.
    assert ("placementPolicy" in pool) == bool(c.get("compact_placement"))
    if c.get("compact_placement"):
        assert pool["placementPolicy"] == {"type": "COMPACT"}
    assert ("gcfsConfig" in node) == bool(c.get("image_streaming"))
    if c.get("image_streaming"):
        assert node["gcfsConfig"] == {"enabled": True}
    assert ("gvnic" in node) == bool(c.get("gvnic"))
    if c.get("gvnic"):
        assert node["gvnic"] == {"enabled": True}
    assert ("ephemeralStorageLocalSsdConfig" in node) == bool(c.get("local_ssd_count"))
    if c.get("local_ssd_count"):
        assert node["ephemeralStorageLocalSsdConfig"] == {"localSsdCount": c["local_ssd_count"]}
    assert ("advancedMachineFeatures" in node) == bool(c.get("threads_per_core"))
    if c.get("threads_per_core"):
        assert node["advancedMachineFeatures"] == {"threadsPerCore": c["threads_per_core"]}

    # Labels on every resource that supports them.
    sec = sections(stack)
    for labels in (cluster["resourceLabels"], node["resourceLabels"], node["labels"]):
        assert labels["study"] == sec["study"]
        assert labels["stack"] == stack
        assert labels["owner"] == sec["owner"]
        assert labels["expires-at"] == "20271231t000000z"


@pytest.mark.parametrize("stack", ["gke-64-localssd", "gke-6-topology"])
def test_exports_and_kubeconfig(stack):
    run, _ = render(stack)
    c = sections(stack)["cluster"]
    assert {"cluster_name", "zone", "endpoint", "kubeconfig", "node_count", "machine_type"} <= set(
        run.exports
    )
    assert run.exports["cluster_name"] == stack
    assert run.exports["zone"] == c["zone"]
    assert run.exports["node_count"] == c["node_count"]
    assert run.exports["machine_type"] == c["machine_type"]
    kc = yaml.safe_load(run.exports["kubeconfig"])
    user = kc["users"][0]["user"]
    assert "auth-provider" not in user
    assert user["exec"]["command"] == "gke-gcloud-auth-plugin"
    assert user["exec"]["provideClusterInfo"] is True
    assert kc["clusters"][0]["cluster"]["server"] == "https://203.0.113.10"
    assert base64.b64decode(kc["clusters"][0]["cluster"]["certificate-authority-data"])


def test_kubeconfig_is_a_secret_output_and_provider_survives_a_deleted_cluster():
    import pulumi
    from pulumi.runtime import mocks as pm

    from harness.mock_engine import RecordingMocks
    from infra.clusters.gke import GkeCluster
    from infra.spec import load_spec

    spec = load_spec(to_config(sections("gke-4-nightly")))
    mocks = RecordingMocks()
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="t", stack="gke-4-nightly", preview=False)
    seen = {}

    def program():
        cluster = GkeCluster("gke-4-nightly", spec.cluster, {"study": "nightly"})

        async def secretness():
            seen["secret"] = await cluster.kubeconfig.is_secret()

        return pulumi.Output.from_input(secretness())

    pm.test(program)()
    assert seen["secret"] is True
    provider = next(r for r in mocks.resources if r.type == "pulumi:providers:kubernetes")
    assert provider.inputs["deleteUnreachable"] == "true"


def test_release_channel_turns_node_auto_upgrade_on_because_gke_requires_it():
    sec = sections("gke-4-nightly")
    sec["cluster"]["release_channel"] = "STABLE"
    sec["cluster"].pop("kubernetes_version")
    _, by_type = render("gke-4-nightly", sec)
    pool = one(by_type, "gcp:container/nodePool:NodePool")
    assert pool["management"] == {"autoRepair": False, "autoUpgrade": True}
    assert "version" not in pool
    assert "minMasterVersion" not in one(by_type, "gcp:container/cluster:Cluster")


def test_plan_does_not_grow_with_node_count():
    """1024 nodes declare the same resources as 4: nothing is rendered per node."""
    small = sections("gke-4-nightly")
    big = sections("gke-4-nightly")
    big["cluster"]["node_count"] = 1024
    big["quota"] = {"cpus": 4096, "in_use_addresses": 1024}
    big["budget"] = {"usd": 100000, "max_hours": 100}
    _, a = render("gke-4-nightly", small)
    _, b = render("gke-4-nightly", big)
    assert {k: len(v) for k, v in a.items()} == {k: len(v) for k, v in b.items()}
    assert one(b, "gcp:container/nodePool:NodePool")["nodeCount"] == 1024


def test_invalid_stack_fails_inside_the_program_before_any_resource():
    sec = sections("gke-4-nightly")
    sec["cluster"]["compact_placement"] = True  # n1 does not support it
    run = run_program("gke-4-nightly", to_config(sec), ROOT / "__main__.py")
    from harness.errors import SpecError

    assert isinstance(run.error, SpecError)
    assert run.resources == []
    assert any("compact_placement" in p for p in run.error.problems)


def test_a_gke_plan_imports_no_aws_sdk(tmp_path):
    """Plans import only the cloud SDK a stack needs (the AWS SDK alone costs ~0.7 s)."""
    import subprocess
    import sys

    code = (
        "import sys; from harness.plan import make_plan; "
        f"p = make_plan('gke-4-nightly', __import__('pathlib').Path({str(tmp_path)!r})); "
        "assert p.resources; print(sorted(m for m in sys.modules if m.startswith('pulumi_')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert "pulumi_gcp" in out
    assert "pulumi_aws" not in out
