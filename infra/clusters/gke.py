"""A GKE study cluster: MTU-configured VPC, a cluster without its default pool, one study pool.

Deletion protection is off from the first `up` (destroy reads it from state), auto-upgrade and
auto-repair are off so nodes do not change under a study, and every knob of the spec reaches the
node pool. Children are parented to the component; outputs are registered at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s
from pulumi import ComponentResource, Output, ResourceOptions

from infra import sdk
from infra.clusters.kubeconfig import gke_kubeconfig
from infra.spec.gke import GkeClusterSpec

if TYPE_CHECKING:
    from pulumi_gcp import compute, container
else:
    compute = sdk.package("pulumi_gcp.compute", "network", "subnetwork")
    container = sdk.package("pulumi_gcp.container", "cluster", "node_pool")

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SUBNET_CIDR = "10.128.0.0/16"  # room for 65k nodes; pods and services get secondary ranges


class GkeCluster(ComponentResource):
    def __init__(
        self,
        name: str,
        spec: GkeClusterSpec,
        labels: dict[str, str],
        opts: ResourceOptions | None = None,
    ):
        super().__init__("study:infra:GkeCluster", name, None, opts)
        child = ResourceOptions(parent=self)

        self.network = compute.Network(
            f"{name}-net",
            name=f"{name}-net",
            project=spec.project,
            auto_create_subnetworks=False,
            mtu=spec.network_mtu,
            opts=child,
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
            min_master_version=spec.kubernetes_version,
            release_channel=container.ClusterReleaseChannelArgs(channel=spec.release_channel),
            ip_allocation_policy=container.ClusterIpAllocationPolicyArgs(
                cluster_ipv4_cidr_block="/14", services_ipv4_cidr_block="/20"
            ),
            resource_labels=labels,
            opts=child,
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
                # GKE refuses auto_upgrade=false on a release channel; validation warns about it.
                auto_upgrade=spec.release_channel != "UNSPECIFIED",
            ),
            node_config=_node_config(spec, labels),
            opts=ResourceOptions(
                parent=self,
                # Large compact pools take a while; the default 30 min is too tight at 256 nodes.
                custom_timeouts=pulumi.CustomTimeouts(create="90m", update="60m", delete="60m"),
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


def _node_config(spec: GkeClusterSpec, labels: dict[str, str]) -> container.NodePoolNodeConfigArgs:
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
    )
