"""A GKE study cluster: MTU-configured VPC, a cluster without its default pool, one study pool.

Deletion protection is off from the first `up` (destroy reads it from state), and every knob of
the spec reaches the node pool. Nodes must not change under a study, and a later `up` (the resume
path) must not touch them:
- The cluster is on a release channel ("No channel" is removed by GKE on 2027-06-14) with a
  maintenance exclusion of scope NO_MINOR_OR_NODE_UPGRADES that lasts until the expiry stamped
  at creation (infra.expiry).
  GKE refuses `auto_upgrade=false` on a channel's node pools, so auto-upgrade stays on and the
  exclusion is what blocks node upgrades; only control-plane patches can still happen.
- The pool's `version` is what the stack says ("1.35"); GKE resolves it to a full version and the
  provider stores that, so the pool ignores later changes to `version` (see NodePool below).
- The GCP APIs the cluster needs are enabled by the stack and never disabled by a destroy.
Children are parented to the component and use an explicit Google provider, which also applies
the study labels as default labels (as the EKS component's AWS provider applies default tags);
outputs are registered at the end.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
from pulumi import ComponentResource, Output, ResourceOptions

from core import sdk
from infra.clusters.kubeconfig import gke_kubeconfig
from infra.spec.gke import GkeClusterSpec, gke_versions

if TYPE_CHECKING:
    from pulumi_gcp import compute, container, projects
else:
    compute = sdk.package("pulumi_gcp.compute", "network", "subnetwork")
    container = sdk.package("pulumi_gcp.container", "cluster", "node_pool")
    projects = sdk.package("pulumi_gcp.projects", "service")

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SUBNET_CIDR = "10.128.0.0/16"  # room for 65k nodes; pods and services get secondary ranges
EXCLUSION_NAME = "study-lifetime"
# The provider's schema requires a window beside any exclusion (ExactlyOneOf daily/recurring). Under
# the exclusion only control-plane patches can run in it; 03:00 UTC is night in the US and Europe.
DAILY_WINDOW_START = "03:00"


class GkeCluster(ComponentResource):
    def __init__(
        self,
        name: str,
        spec: GkeClusterSpec,
        labels: dict[str, Any],
        opts: ResourceOptions | None = None,
        *,
        expires_at: pulumi.Input[str],
    ):
        super().__init__("study:infra:GkeCluster", name, None, opts)
        # The provider merges `default_labels` under a resource's own top-level labels
        # (`labels`, the cluster's `resource_labels`) into its terraform_labels and
        # effective_labels; nested label fields (the node pool's node_config) are not merged,
        # so the pool keeps its labels explicit, and the cluster's stay explicit too.
        self.gcp_provider = gcp.Provider(
            f"{name}-gcp",
            project=spec.project,
            default_labels=labels,
            opts=ResourceOptions(parent=self),
        )
        child = self.child()

        self.services = {
            api: projects.Service(
                f"{name}-{api.split('.', 1)[0]}-api",
                project=spec.project,
                service=api,
                # Other stacks and people in the project use these APIs too: a destroy leaves
                # them on, and never takes dependent services down with them.
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for api in required_apis(spec)
        }
        self.network = compute.Network(
            f"{name}-net",
            name=f"{name}-net",
            project=spec.project,
            auto_create_subnetworks=False,
            mtu=spec.network_mtu,
            opts=self.child(depends_on=[self.services["compute.googleapis.com"]]),
        )
        self.subnetwork = compute.Subnetwork(
            f"{name}-subnet",
            name=f"{name}-subnet",
            project=spec.project,
            region=spec.region,
            network=self.network.id,
            ip_cidr_range=SUBNET_CIDR,
            opts=child,
        )
        self.cluster = container.Cluster(
            f"{name}-cluster",
            name=name,
            project=spec.project,
            location=spec.zone,
            network=self.network.id,
            subnetwork=self.subnetwork.id,
            remove_default_node_pool=True,
            initial_node_count=1,
            deletion_protection=False,
            # A floor, not a pin: the provider never reads it back (master_version holds the
            # running version), so "1.35" does not diff on a later up; no ignore_changes needed.
            min_master_version=spec.kubernetes_version,
            release_channel=container.ClusterReleaseChannelArgs(channel=spec.release_channel),
            maintenance_policy=maintenance_policy(spec, expires_at),
            # The harness's StorageClass uses pd.csi.storage.gke.io; GKE turns the driver on by
            # default on new clusters, but the stack should not depend on that default.
            addons_config=container.ClusterAddonsConfigArgs(
                gce_persistent_disk_csi_driver_config=(
                    container.ClusterAddonsConfigGcePersistentDiskCsiDriverConfigArgs(enabled=True)
                )
            ),
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_ipv4_cidr_block="/14", services_ipv4_cidr_block="/20"
            ),
            resource_labels=labels,
            # Pods get cloud credentials only as a Kubernetes service account (the results
            # writer); no key exists anywhere.
            workload_identity_config=container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=workload_pool(spec)
            ),
            opts=self.child(depends_on=list(self.services.values())),
        )
        self.node_pool = container.NodePool(
            f"{name}-pool",
            name=f"{name}-pool",
            project=spec.project,
            location=spec.zone,
            cluster=self.cluster.name,
            node_count=spec.node_count,
            version=spec.kubernetes_version,
            placement_policy=(
                container.NodePoolPlacementPolicyArgs(type="COMPACT")
                if spec.compact_placement
                else None
            ),
            management=container.NodePoolManagementArgs(
                auto_repair=False,
                # GKE refuses auto_upgrade=false on a release channel; the cluster's maintenance
                # exclusion (NO_MINOR_OR_NODE_UPGRADES) is what keeps the nodes' version fixed.
                auto_upgrade=True,
            ),
            node_config=_node_config(spec, labels),
            opts=self.child(
                # Large compact pools take a while; the default 30 min is too tight at 256 nodes.
                custom_timeouts=pulumi.CustomTimeouts(create="90m", update="60m", delete="60m"),
                # GKE resolves "1.35" to a full version, which the provider reads back into
                # `version`; without this every later up would upgrade (recreate) the nodes.
                # A deliberate version change therefore means a new cluster (destroy, up).
                ignore_changes=["version"],
            ),
        )

        self.kubeconfig: Output[str] = Output.secret(
            Output.all(
                self.cluster.name,
                self.cluster.endpoint,
                self.cluster.master_auth.cluster_ca_certificate,
            ).apply(lambda a: gke_kubeconfig(a[0], a[1], a[2]))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            delete_unreachable=True,  # destroy proceeds when the cluster is already gone
            # An up killed after a create but before the state was written leaves objects the
            # state does not know; upsert adopts them (server-side apply) instead of failing
            # with "already exists". Upsert only works with server-side apply, so say both.
            upsert_existing_objects=True,
            enable_server_side_apply=True,
            opts=ResourceOptions(parent=self, depends_on=[self.node_pool]),
        )
        self.outputs = {
            "cluster_name": self.cluster.name,
            "zone": Output.from_input(spec.zone),
            "endpoint": self.cluster.endpoint,
            "kubeconfig": self.kubeconfig,
            "node_count": self.node_pool.node_count,
            "machine_type": Output.from_input(spec.machine_type),
        }
        self.register_outputs(self.outputs)

    def child(self, **options: Any) -> ResourceOptions:
        """Options for a Google resource of this cluster: parented here, on its provider."""
        return ResourceOptions(parent=self, provider=self.gcp_provider, **options)


def required_apis(spec: GkeClusterSpec) -> list[str]:
    """The GCP APIs this cluster uses: compute and container always, the others when used."""
    apis = ["compute.googleapis.com", "container.googleapis.com"]
    if spec.image_streaming:
        apis.append("containerfilesystem.googleapis.com")
    if spec.artifact_registry:
        apis.append("artifactregistry.googleapis.com")
    return apis


def maintenance_policy(
    spec: GkeClusterSpec, expires_at: pulumi.Input[str]
) -> container.ClusterMaintenancePolicyArgs:
    """No minor or node upgrades from the minor version's release until the study expires.

    Neither end comes from this run's clock, so the exclusion does not diff on a later up. The
    start is the minor's Regular-channel availability (past starts are accepted; the provider's
    own acceptance tests use 2019 dates); the end (RFC 3339) is the expiry stamped at creation
    (infra.expiry), which validation keeps within the minor's support on the channel, the
    longest GKE allows for this scope.
    """
    start = dt.datetime.combine(gke_versions()[spec.minor]["regular"], dt.time(), dt.UTC)
    return container.ClusterMaintenancePolicyArgs(
        daily_maintenance_window=container.ClusterMaintenancePolicyDailyMaintenanceWindowArgs(
            start_time=DAILY_WINDOW_START
        ),
        maintenance_exclusions=[
            container.ClusterMaintenancePolicyMaintenanceExclusionArgs(
                exclusion_name=EXCLUSION_NAME,
                start_time=_zulu(start),
                end_time=expires_at,
                exclusion_options=(
                    container.ClusterMaintenancePolicyMaintenanceExclusionExclusionOptionsArgs(
                        scope="NO_MINOR_OR_NODE_UPGRADES"
                    )
                ),
            )
        ],
    )


def _zulu(t: dt.datetime) -> str:
    """RFC 3339 in UTC with a Z, the form GKE returns: any other form diffs on every up."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_config(spec: GkeClusterSpec, labels: dict[str, Any]) -> container.NodePoolNodeConfigArgs:
    """Every node-level knob; absent knobs stay absent (None) rather than set to a default."""
    return container.NodePoolNodeConfigArgs(
        machine_type=spec.machine_type,
        image_type=spec.image_type,
        disk_type=spec.boot_disk_type,
        disk_size_gb=spec.boot_disk_size_gb,
        gcfs_config=container.NodePoolNodeConfigGcfsConfigArgs(enabled=True)
        if spec.image_streaming
        else None,
        gvnic=container.NodePoolNodeConfigGvnicArgs(enabled=True) if spec.gvnic else None,
        # Container storage (images, emptyDir) on local SSD, as `--ephemeral-storage-local-ssd`.
        ephemeral_storage_local_ssd_config=(
            container.NodePoolNodeConfigEphemeralStorageLocalSsdConfigArgs(
                local_ssd_count=spec.local_ssd_count
            )
            if spec.local_ssd_count
            else None
        ),
        advanced_machine_features=(
            container.NodePoolNodeConfigAdvancedMachineFeaturesArgs(
                threads_per_core=spec.threads_per_core
            )
            if spec.threads_per_core
            else None
        ),
        labels=labels,
        resource_labels=labels,
        oauth_scopes=[CLOUD_PLATFORM_SCOPE],
        # The GKE metadata server answers pods with their Workload Identity, never the node's.
        workload_metadata_config=container.NodePoolNodeConfigWorkloadMetadataConfigArgs(
            mode="GKE_METADATA"
        ),
    )


def workload_pool(spec: GkeClusterSpec) -> str:
    """The project's Workload Identity pool: pods authenticate as Kubernetes service accounts."""
    return f"{spec.project}.svc.id.goog"


def ksa_member(project: str, namespace: str, ksa: str) -> str:
    """The IAM member the Kubernetes service account `namespace/ksa` authenticates as in
    `project`'s Workload Identity pool (the pool is the project's, not the cluster's)."""
    return f"serviceAccount:{project}.svc.id.goog[{namespace}/{ksa}]"


def impersonable_account(name: str, account_id: str, project: str, display_name: str,
                         namespace: str, ksa: str, opts: ResourceOptions):
    """A Google service account that only the Kubernetes service account `namespace/ksa` may
    impersonate (`roles/iam.workloadIdentityUser`, no key): (account, binding, email)."""
    serviceaccount = sdk.package("pulumi_gcp.serviceaccount", "account", "iam_member")
    gsa = serviceaccount.Account(name, account_id=account_id, project=project,
                                 display_name=display_name, opts=opts)
    binding = serviceaccount.IAMMember(
        f"{name}-wi",
        service_account_id=gsa.name,
        role="roles/iam.workloadIdentityUser",
        member=ksa_member(project, namespace, ksa),
        opts=opts,
    )
    return gsa, binding, f"{account_id}@{project}.iam.gserviceaccount.com"


def object_prefix(bucket: str, stack: str) -> str:
    """How Cloud Storage IAM Conditions name the objects under `<stack>/` of `bucket`."""
    return f"projects/_/buckets/{bucket}/objects/{stack}/"


def service_account_id(prefix: str, stack: str, limit: int = 30) -> str:
    """`<prefix>-<stack>` within `limit` characters (GCP service account ids: 6-30), shortened
    with a hash of the stack so two long stack names never collide. One rule for every GSA a
    stack creates (the results writer, the guard) and for the Kubernetes service accounts they
    trust (infra.service_accounts)."""
    from infra.service_accounts import bounded_name

    return bounded_name(prefix, stack, limit)


def results_account_id(stack: str) -> str:
    """The writer GSA's id: `results-<stack>`, shortened with a hash."""
    return service_account_id("results", stack)


def results_prefix_condition(bucket: str, stack: str) -> dict[str, str]:
    """IAM condition: objects under `<stack>/` only (Cloud Storage IAM Conditions name objects
    `projects/_/buckets/BUCKET/objects/NAME`)."""
    return {
        "title": f"only-{stack}"[:100],
        "description": "writes under this stack's prefix only",
        "expression": f'resource.name.startsWith("{object_prefix(bucket, stack)}")',
    }


def results_read_condition(bucket: str, stack: str, title: str) -> dict[str, str]:
    """IAM condition for reading: objects under `<stack>/`, and the bucket itself, where Cloud
    Storage checks `storage.objects.list` (a list names the bucket, not an object)."""
    prefix = object_prefix(bucket, stack)
    return {"title": title, "expression": (f'resource.name == "projects/_/buckets/{bucket}" || '
                                           f'resource.name.startsWith("{prefix}")')}


def results_writer(stack: str, spec: GkeClusterSpec, bucket: str, namespace: str, ksa: str,
                   cluster: GkeCluster, after: pulumi.Resource
                   ) -> tuple[dict[str, str], list[pulumi.Resource]]:
    """A GSA that may only create objects under `<bucket>/<stack>/`, impersonable only by the
    Kubernetes service account `namespace/ksa` (no key ever exists).

    Wiring as documented for Workload Identity Federation for GKE ("Link Kubernetes
    ServiceAccounts to IAM", GSA variant): `roles/iam.workloadIdentityUser` on the GSA for
    `serviceAccount:PROJECT.svc.id.goog[NS/KSA]`, and the KSA annotated with
    `iam.gke.io/gcp-service-account`. The bucket grant is a non-authoritative member
    (hashicorp/terraform-provider-google website/docs/r/storage_bucket_iam.html.markdown:
    `google_storage_bucket_iam_member` keeps the bucket's other members) with an IAM condition
    (pulumi-gcp 10.2 pulumi_gcp/storage/bucket_iam_member.py, `condition`), which needs uniform
    bucket-level access, on by `study bucket create`. `objectCreator` cannot
    overwrite or delete, so a result once uploaded stays as it was. A retried upload skips what
    exists (`gcloud storage cp --no-clobber`), and that check reads the destination's metadata
    first (google-cloud-sdk lib/googlecloudsdk/command_lib/storage/tasks/cp/copy_util.py,
    `check_for_cloud_clobber`: `get_object_metadata`, only NotFound means "absent"), so the
    writer also reads, under the same prefix (`objectViewer`; listing is checked on the bucket).
    Returns the KSA annotations and the grants the writer must wait for.
    """
    storage = sdk.package("pulumi_gcp.storage", "bucket_iam_member")
    # The pool `PROJECT.svc.id.goog` exists once a cluster with Workload Identity does; a
    # binding naming it before then fails, so the writer comes `after` (the study namespace).
    gsa, impersonate, email = impersonable_account(
        f"{stack}-results-writer", results_account_id(stack), spec.project,
        f"study {stack}: writes its results", namespace, ksa,
        cluster.child(depends_on=[after]))
    grant = storage.BucketIAMMember(
        f"{stack}-results-write",
        bucket=bucket,
        role="roles/storage.objectCreator",
        member=f"serviceAccount:{email}",
        condition=results_prefix_condition(bucket, stack),
        opts=cluster.child(depends_on=[gsa]),
    )
    read = storage.BucketIAMMember(
        f"{stack}-results-read",
        bucket=bucket,
        role="roles/storage.objectViewer",
        member=f"serviceAccount:{email}",
        condition=results_read_condition(bucket, stack, f"read-{stack}"[:100]),
        opts=cluster.child(depends_on=[gsa]),
    )
    return {"iam.gke.io/gcp-service-account": email}, [impersonate, grant, read]
