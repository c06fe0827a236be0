"""The real program under the SDK's mock engine: every GKE knob reaches the resource inputs, and
knobs a stack does not set stay absent (GKE defaults apply, not ours)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from study.mock_engine import run_program
from tests.conftest import ROOT, sections, to_config


def stamped(stack: str) -> datetime:
    """The expiry a shipped (study:ttl) stack's cluster gets when created at CREATED."""
    from infra.spec import load_spec

    return load_spec(to_config(sections(stack))).expiry(CREATED)

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


# When the mock engine "creates" the stack: the time the expiry stamp counts from (infra.expiry).
CREATED = datetime.now(UTC).replace(microsecond=0)


def render(stack: str, sec: dict | None = None):
    run = run_program(stack, to_config(sec or sections(stack)), ROOT / "__main__.py",
                      now=CREATED)
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
    assert cluster["releaseChannel"] == {"channel": c["release_channel"]}
    assert cluster["minMasterVersion"] == c["kubernetes_version"]

    pool = one(by_type, "gcp:container/nodePool:NodePool")
    assert pool["nodeCount"] == c["node_count"]
    assert pool["location"] == c["zone"]
    assert pool["version"] == c["kubernetes_version"]
    assert pool["management"] == {"autoRepair": False, "autoUpgrade": True}
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
        assert labels["expires-at"] == stamped(stack).strftime("%Y%m%dt%H%M%Sz")


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

    from infra.clusters.gke import GkeCluster
    from infra.spec import load_spec
    from study.mock_engine import RecordingMocks

    spec = load_spec(to_config(sections("gke-4-nightly")))
    mocks = RecordingMocks()
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project="t", stack="gke-4-nightly", preview=False)
    seen = {}

    def program():
        cluster = GkeCluster(
            "gke-4-nightly", spec.cluster, {"study": "nightly"}, expires_at="2027-01-01T00:00:00Z"
        )

        async def secretness():
            seen["secret"] = await cluster.kubeconfig.is_secret()

        return pulumi.Output.from_input(secretness())

    pm.test(program)()
    assert seen["secret"] is True
    provider = next(r for r in mocks.resources if r.type == "pulumi:providers:kubernetes")
    assert provider.inputs["deleteUnreachable"] == "true"


def test_plan_does_not_grow_with_node_count():
    """1000 nodes (GKE's most per node pool and zone) declare the same resources as 4:
    nothing is rendered per node."""
    small = sections("gke-4-nightly")
    big = sections("gke-4-nightly")
    big["cluster"]["node_count"] = 1000
    big["quota"] = {"cpus": 4096, "in_use_addresses": 1000}
    big["budget"] = {"usd": 100000, "max_hours": 100}
    _, a = render("gke-4-nightly", small)
    _, b = render("gke-4-nightly", big)
    assert {k: len(v) for k, v in a.items()} == {k: len(v) for k, v in b.items()}
    assert one(b, "gcp:container/nodePool:NodePool")["nodeCount"] == 1000


def test_invalid_stack_fails_inside_the_program_before_any_resource():
    sec = sections("gke-4-nightly")
    sec["cluster"]["compact_placement"] = True  # n1 does not support it
    run = run_program("gke-4-nightly", to_config(sec), ROOT / "__main__.py")
    from core.errors import SpecError

    assert isinstance(run.error, SpecError)
    assert run.resources == []
    assert any("compact_placement" in p for p in run.error.problems)


def test_a_gke_plan_imports_no_aws_sdk(tmp_path):
    """Plans import only the cloud SDK a stack needs (the AWS SDK alone costs ~0.7 s)."""
    import subprocess
    import sys

    code = (
        "import sys; from study.plan import make_plan; "
        f"p = make_plan('gke-4-nightly', __import__('pathlib').Path({str(tmp_path)!r})); "
        "assert p.resources; print(sorted(m for m in sys.modules if m.startswith('pulumi_')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert "pulumi_gcp" in out
    assert "pulumi_aws" not in out


def resource(run, token):
    found = [r for r in run.resources if r.type == token]
    assert len(found) == 1, f"expected one {token}, got {len(found)}"
    return found[0]


def test_a_later_up_leaves_the_node_version_alone():
    """The pool's "1.35" must not upgrade (recreate) the nodes on the next `pulumi up`.

    hashicorp/terraform-provider-google at e03b762 (the 8.0.0 release merge, 2026-08-21; the
    nearest stored version to what pulumi-gcp 10.2.0 bridges),
    google/services/container/resource_container_node_pool.go: `version` is Optional+Computed
    with no diff suppression ("Terraform will see spurious diffs when fuzzy versions are used"),
    flattenNodePool stores the API's full `np.Version`, and nodePoolUpdate sends an
    UpdateNodePoolRequest{NodeVersion} whenever it differs: so the pool ignores `version`.
    resource_container_cluster.go: `min_master_version` is Optional only, read never sets it
    (`master_version` carries the running version) and the update path only ever raises the
    master; `node_version` applies to the removed default pool only. So the cluster needs no
    ignore_changes, and ignoring `minMasterVersion` would only hide a deliberate change.
    """
    run, _ = render("gke-4-nightly")
    pool = resource(run, "gcp:container/nodePool:NodePool")
    assert pool.inputs["version"] == "1.35"
    assert pool.options["ignoreChanges"] == ["version"]
    cluster = resource(run, "gcp:container/cluster:Cluster")
    assert cluster.inputs["minMasterVersion"] == "1.35"
    assert cluster.options["ignoreChanges"] == []


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_a_channel_and_an_exclusion_keep_versions_fixed_until_expiry(stack):
    """A release channel plus a NO_MINOR_OR_NODE_UPGRADES exclusion from the minor's Regular
    availability (2026-02-11 for 1.35, infra/data/gke_versions.yaml) to the expiry stamped at
    creation (study:ttl after the stamp's base; infra.expiry).

    terraform-provider-google e03b762, resource_container_cluster.go: `maintenance_policy` needs
    exactly one of daily_maintenance_window / recurring_window / recurring_maintenance_window
    beside any `maintenance_exclusion`; flattenMaintenancePolicy reads start_time and end_time
    back as GKE returns them (RFC 3339 UTC with Z: website/docs/r/container_cluster.html.markdown
    warns other forms diff forever); the acceptance tests create exclusions starting in 2019, so
    a past start is accepted. GKE refuses auto_upgrade=false on a channel's pools (GKE docs,
    release channels): auto-upgrade stays on and the exclusion blocks node upgrades.
    """
    run, by_type = render(stack)
    c = sections(stack)["cluster"]
    cluster = one(by_type, "gcp:container/cluster:Cluster")
    assert cluster["releaseChannel"] == {"channel": "EXTENDED"} == {"channel": c["release_channel"]}
    assert cluster["maintenancePolicy"] == {
        "dailyMaintenanceWindow": {"startTime": "03:00"},
        "maintenanceExclusions": [
            {
                "exclusionName": "study-lifetime",
                "startTime": "2026-02-11T00:00:00Z",
                "endTime": stamped(stack).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "exclusionOptions": {"scope": "NO_MINOR_OR_NODE_UPGRADES"},
            }
        ],
    }
    pool = one(by_type, "gcp:container/nodePool:NodePool")
    assert pool["management"] == {"autoRepair": False, "autoUpgrade": True}


def test_the_exclusion_does_not_depend_on_when_the_program_runs(monkeypatch):
    """The exclusion is derived from the spec and the creation stamp only: a later up renders
    the same times, so the provider (which diffs maintenance_exclusion as a set) sees no change."""
    import datetime as dt

    from infra.clusters import gke
    from infra.expiry import zulu
    from infra.spec import load_spec

    spec = load_spec(to_config(sections("gke-64-localssd")))
    first = gke.maintenance_policy(spec.cluster, "2027-01-01T12:00:00Z")

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2027, 9, 1, tzinfo=dt.UTC)

    monkeypatch.setattr(gke.dt, "datetime", Later)
    assert gke.maintenance_policy(spec.cluster, "2027-01-01T12:00:00Z") == first
    # An absolute expiry in another zone is written as GKE returns it: UTC with Z.
    tokyo = dt.datetime(2027, 1, 1, 21, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert zulu(tokyo) == "2027-01-01T12:00:00Z"


def test_a_ttl_is_stamped_once_by_the_time_provider():
    """study:ttl becomes one pulumiverse-time Offset with no base: hashicorp/terraform-provider-
    time internal/provider/resource_time_offset.go (HEAD, 2026-12) takes the base from
    time.Now() in Create only, and recomputes in ModifyPlan only when an offset changes, from the
    base in state; so every later up keeps the label and the exclusion's end."""
    run, by_type = render("gke-4-nightly")
    offset = one(by_type, "time:index/offset:Offset")
    assert offset == {"offsetMinutes": 12 * 60}  # no baseRfc3339, no triggers
    cluster = one(by_type, "gcp:container/cluster:Cluster")
    end = cluster["maintenancePolicy"]["maintenanceExclusions"][0]["endTime"]
    assert end == (CREATED + timedelta(hours=12)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("stack", "apis"),
    [
        ("gke-4-nightly", ["compute", "container"]),
        ("gke-64-streaming", ["compute", "container", "containerfilesystem", "artifactregistry"]),
        ("gke-64-artifact-registry", ["compute", "container", "artifactregistry"]),
    ],
)
def test_the_apis_the_stack_uses_are_enabled_and_kept_on_destroy(stack, apis):
    """gcp.projects.Service per API the stack needs, never disabled by a destroy, and the network
    and cluster wait for them (GKE: "Kubernetes Engine API has not been used in project ...").

    terraform-provider-google e03b762,
    google/services/resourcemanager/resource_google_project_service.go: Delete disables the API
    (for every other user of the project too) only when `disable_on_destroy` is true, and
    `disable_dependent_services` would take dependants with it. Both are Optional without a
    default there; they are set false explicitly so no provider default decides it.
    """
    run, _ = render(stack)
    services = [r for r in run.resources if r.type == "gcp:projects/service:Service"]
    assert [s.inputs["service"] for s in services] == [f"{a}.googleapis.com" for a in apis]
    project = sections(stack)["cluster"]["project"]
    for s in services:
        assert s.inputs["project"] == project
        assert s.inputs["disableOnDestroy"] is False
        assert s.inputs["disableDependentServices"] is False
    urn = {s.inputs["service"].split(".")[0]: f"::{s.name}" for s in services}
    net = resource(run, "gcp:compute/network:Network")
    assert [d for d in net.options["dependencies"] if d.endswith(urn["compute"])]
    cluster = resource(run, "gcp:container/cluster:Cluster")
    for api in apis:
        assert [d for d in cluster.options["dependencies"] if d.endswith(urn[api])], api


def test_the_pd_csi_driver_is_enabled_explicitly():
    """The harness's StorageClass provisions through pd.csi.storage.gke.io.

    terraform-provider-google e03b762, resource_container_cluster.go:
    `gce_persistent_disk_csi_driver_config` is Optional+Computed ("enabled by default on newly
    created clusters" from 1.18.10); create forces it on and only turns it off afterwards when
    the config says so. The stack states it rather than lean on that default.
    """
    _, by_type = render("gke-4-nightly")
    cluster = one(by_type, "gcp:container/cluster:Cluster")
    assert cluster["addonsConfig"] == {"gcePersistentDiskCsiDriverConfig": {"enabled": True}}


def test_the_kubernetes_provider_adopts_objects_left_by_a_killed_up():
    """A Job created by an up that was killed before the state was written is adopted, not
    refused with "already exists".

    pulumi/pulumi-kubernetes at 9497796 (main, 2026-07-01; the nearest stored version to the
    pinned 4.34.2), provider/pkg/provider/provider.go: `upsertExistingObjects` defaults to false,
    server-side apply to true; provider/pkg/await/await.go Creation: only with server-side apply
    AND upsert does a create become an apply PATCH; otherwise an existing object fails with
    "The resource already exists in the cluster ... set upsertExistingObjects". Both are set.
    """
    run, _ = render("gke-4-nightly")
    provider = resource(run, "pulumi:providers:kubernetes")
    assert provider.inputs["upsertExistingObjects"] == "true"
    assert provider.inputs["enableServerSideApply"] == "true"


@pytest.mark.parametrize("stack", GKE_STACKS)
def test_one_google_provider_applies_the_study_labels_as_default_labels(stack):
    """The GKE component's resources use one explicit provider whose `default_labels` are the
    study labels, as the EKS component's AWS provider carries them as default tags.

    hashicorp/terraform-provider-google (the upstream pulumi-gcp 10.2.0 wraps, as pinned in
    requirements.lock) google/tpgresource/labels.go `setLabelsFields`: the provider's
    DefaultLabels are merged under a resource's own top-level labels field into
    `terraform_labels`/`effective_labels`, a resource's own value winning a shared key; the
    cluster registers it for `resource_labels` (resource_container_cluster.go CustomizeDiff,
    `SetDiffForLabelsWithCustomizedName("resource_labels")`), while nested label fields such as
    a node pool's `node_config.labels`/`resource_labels` get no such merge. So the labels stay
    explicit where they were and every resource ends up labelled as before."""
    run, by_type = render(stack)
    (provider,) = by_type["pulumi:providers:gcp"]
    assert provider.name == f"{stack}-gcp"
    default_labels = yaml.safe_load(provider.inputs["defaultLabels"])
    cluster = one(by_type, "gcp:container/cluster:Cluster")
    pool = one(by_type, "gcp:container/nodePool:NodePool")
    assert default_labels == cluster["resourceLabels"]
    assert default_labels["stack"] == stack
    assert pool["nodeConfig"]["resourceLabels"] == default_labels
    assert pool["nodeConfig"]["labels"] == default_labels
    off_provider = sorted(r.type for r in run.resources
                          if r.type.startswith("gcp:") and f"::{stack}-gcp::" not in r.provider)
    # The image repository is shared beyond one cluster and retained: not the cluster's.
    shared = (["gcp:artifactregistry/repository:Repository"]
              if stack in ("gke-64-artifact-registry", "gke-64-streaming") else [])
    assert off_provider == shared
