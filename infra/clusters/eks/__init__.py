"""An EKS study cluster from raw pulumi-aws resources: VPC, IAM, control plane, one node group.

No pulumi-eks: under the mock engine it registers as one opaque resource, so a plan could not show
(and tests could not check) what it creates. Layout: one public /24 and one private /18 subnet per
zone (the VPC CNI gives every pod a subnet IP, so 256 nodes need thousands), one NAT gateway in the
node zone, nodes in private subnets. A placement group or EFA pins the node group to `zone`.

Every knob of the spec reaches the launch template or the node group; knobs left out of the spec
stay out of the resource inputs. Children are parented to the component and use an explicit AWS
provider for the spec's region, which also applies the study labels as default tags.
"""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi import Output, ResourceOptions

from infra.clusters.eks.aws_sdk import ec2, eks
from infra.clusters.eks.efa import Efa
from infra.clusters.eks.iam import Iam, results_write_policy, results_writer
from infra.clusters.eks.network import Network
from infra.clusters.eks.node_group import NodeGroup
from infra.clusters.kubeconfig import eks_kubeconfig
from infra.spec.eks import EksClusterSpec

__all__ = ["EksCluster", "results_write_policy", "results_writer"]


class EksCluster(Network, Iam, NodeGroup, Efa):
    """The component: its parts (network, IAM, nodes, EFA) are mixins, one module each."""

    def __init__(
        self,
        name: str,
        spec: EksClusterSpec,
        labels: dict[str, Any],
        opts: ResourceOptions | None = None,
    ):
        super().__init__("study:infra:EksCluster", name, None, opts)
        self.aws_provider = aws.Provider(
            f"{name}-aws",
            region=spec.region,
            default_tags=aws.ProviderDefaultTagsArgs(tags=labels),
            opts=ResourceOptions(parent=self),
        )
        self._child = ResourceOptions(parent=self, provider=self.aws_provider)
        self._name = name
        self._labels = labels

        self._network(spec)
        self._iam()
        self.cluster = eks.Cluster(
            f"{name}-cluster",
            eks.ClusterArgs(
                name=name,
                role_arn=self.cluster_role.arn,
                version=spec.kubernetes_version,
                vpc_config=eks.ClusterVpcConfigArgs(
                    subnet_ids=[s.id for s in self.private_subnets + self.public_subnets],
                ),
                access_config=eks.ClusterAccessConfigArgs(
                    authentication_mode="API",
                    bootstrap_cluster_creator_admin_permissions=True,
                ),
                tags=self._tags("cluster"),
            ),
            opts=ResourceOptions(
                parent=self, provider=self.aws_provider, depends_on=self.cluster_attachments
            ),
        )
        self.cni_addon = self._cni_addon(spec)
        self.placement_group = (
            ec2.PlacementGroup(
                f"{name}-pg",
                ec2.PlacementGroupArgs(
                    name=f"{name}-pg",
                    strategy=spec.placement_group.strategy,
                    partition_count=spec.placement_group.partition_count,
                    tags=self._tags("pg"),
                ),
                opts=self._child,
            )
            if spec.placement_group
            else None
        )
        self.efa_security_group = self._efa_security_group() if spec.efa else None
        self.launch_template = self._launch_template(spec)
        self.node_group = self._node_group(spec)
        self.pod_identity_agent, self.storage_driver = self._storage_addons()

        self.kubeconfig: Output[str] = Output.secret(
            Output.all(
                name=self.cluster.name,
                endpoint=self.cluster.endpoint,
                ca=self.cluster.certificate_authority.data,
            ).apply(lambda a: eks_kubeconfig(a["name"], a["endpoint"], a["ca"], spec.region))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            delete_unreachable=True,  # destroy proceeds when the cluster is already gone
            # An up killed after a create reached the API server but before it reached the state
            # re-creates the object on resume; without this the provider fails it "already
            # exists" (pulumi-kubernetes provider/pkg/await/await.go, Creation).
            upsert_existing_objects=True,
            opts=ResourceOptions(parent=self, depends_on=[self.node_group]),
        )
        self.efa_plugin = self._efa_device_plugin(spec) if spec.efa else None
        self.outputs = {
            "cluster_name": self.cluster.name,
            "zone": Output.from_input(",".join(spec.node_zones)),
            "endpoint": self.cluster.endpoint,
            "kubeconfig": self.kubeconfig,
            "node_count": self.node_group.scaling_config.apply(lambda s: int(s.desired_size)),
            "machine_type": Output.from_input(spec.machine_type),
        }
        self.register_outputs(self.outputs)
