"""The EKS study's nodes: one fixed-size managed node group from a launch template, the VPC CNI
add-on when the pod MTU is set, and the storage add-ons that run on the nodes."""

from __future__ import annotations

import json

import pulumi
from pulumi import ResourceOptions

from infra.clusters.eks.aws_sdk import ec2, eks, iam
from infra.clusters.eks.base import EksParts
from infra.clusters.eks.iam import (
    EBS_CSI_POLICY_ARN,
    EBS_CSI_SERVICE_ACCOUNT,
    POD_IDENTITY_ACTIONS,
    POD_IDENTITY_PRINCIPAL,
    _assume,
)
from infra.spec.eks import EksClusterSpec

ROOT_DEVICE = "/dev/xvda"  # root device of the EKS-optimised Amazon Linux AMIs


class NodeGroup(EksParts):
    def _cni_addon(self, spec: EksClusterSpec) -> eks.Addon | None:
        """The VPC CNI as a managed add-on, only to set the pod network MTU when asked."""
        if spec.network_mtu is None:
            return None
        return eks.Addon(
            f"{self._name}-vpc-cni",
            eks.AddonArgs(
                cluster_name=self.cluster.name,
                addon_name="vpc-cni",
                configuration_values=json.dumps(
                    {"env": {"AWS_VPC_ENI_MTU": str(spec.network_mtu)}}
                ),
                # The self-managed CNI EKS bootstraps already exists; take it over.
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=self._tags("vpc-cni"),
            ),
            opts=self._child,
        )

    def _storage_addons(self) -> tuple[eks.Addon, eks.Addon]:
        """The EKS Pod Identity agent and the EBS CSI driver, whose controller assumes its role
        through it. Both run pods, so both wait for the node group: the provider waits for the
        add-on to be ACTIVE, and one without nodes stays DEGRADED until the 20 min timeout
        (hashicorp/terraform-provider-aws internal/service/eks/addon.go, which pulumi-aws wraps;
        terraform-aws-modules/terraform-aws-eks #1838). The driver also waits for the agent and
        its policy."""
        name, tags = self._name, self._tags
        after_nodes = ResourceOptions(
            parent=self, provider=self.aws_provider, depends_on=[self.node_group]
        )
        agent = eks.Addon(
            f"{name}-pod-identity-agent",
            eks.AddonArgs(
                cluster_name=self.cluster.name,
                addon_name="eks-pod-identity-agent",
                tags=tags("pod-identity-agent"),
            ),
            opts=after_nodes,
        )
        role = iam.Role(
            f"{name}-ebs-csi-role",
            iam.RoleArgs(
                assume_role_policy=_assume(POD_IDENTITY_PRINCIPAL, POD_IDENTITY_ACTIONS),
                tags=tags("ebs-csi-role"),
            ),
            opts=self._child,
        )
        policy = iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy",
            iam.RolePolicyAttachmentArgs(role=role.name, policy_arn=EBS_CSI_POLICY_ARN),
            opts=self._child,
        )
        driver = eks.Addon(
            f"{name}-ebs-csi-driver",
            eks.AddonArgs(
                cluster_name=self.cluster.name,
                addon_name="aws-ebs-csi-driver",
                pod_identity_associations=[
                    eks.AddonPodIdentityAssociationArgs(
                        role_arn=role.arn, service_account=EBS_CSI_SERVICE_ACCOUNT
                    )
                ],
                tags=tags("ebs-csi-driver"),
            ),
            opts=ResourceOptions(
                parent=self,
                provider=self.aws_provider,
                depends_on=[self.node_group, agent, policy],
            ),
        )
        return agent, driver

    def _launch_template(self, spec: EksClusterSpec) -> ec2.LaunchTemplate:
        network_interfaces = None
        if self.efa_security_group is not None:
            # With explicit interfaces EKS no longer adds the cluster security group: add it here.
            network_interfaces = [
                ec2.LaunchTemplateNetworkInterfaceArgs(
                    device_index=0,
                    network_card_index=0,
                    interface_type="efa",
                    delete_on_termination="true",
                    security_groups=[
                        self.efa_security_group.id,
                        self.cluster.vpc_config.cluster_security_group_id,
                    ],
                )
            ]
        return ec2.LaunchTemplate(
            f"{self._name}-lt",
            ec2.LaunchTemplateArgs(
                name=f"{self._name}-lt",
                instance_type=spec.machine_type,
                block_device_mappings=[
                    ec2.LaunchTemplateBlockDeviceMappingArgs(
                        device_name=ROOT_DEVICE,
                        ebs=ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                            volume_type=spec.boot_disk_type,
                            volume_size=spec.boot_disk_size_gb,
                            iops=spec.boot_disk_iops,
                            delete_on_termination="true",
                            encrypted="true",
                        ),
                    )
                ],
                placement=(
                    ec2.LaunchTemplatePlacementArgs(group_name=self.placement_group.name)
                    if self.placement_group is not None
                    else None
                ),
                network_interfaces=network_interfaces,
                tag_specifications=[
                    ec2.LaunchTemplateTagSpecificationArgs(
                        resource_type=kind, tags=self._tags(f"node-{kind}")
                    )
                    for kind in ("instance", "volume", "network-interface")
                ],
                tags=self._tags("lt"),
            ),
            opts=self._child,
        )

    def _node_group(self, spec: EksClusterSpec) -> eks.NodeGroup:
        by_zone = dict(zip(spec.zones, self.private_subnets, strict=True))
        depends = [*self.node_attachments, *self.route_associations]
        if self.cni_addon is not None:
            depends.append(self.cni_addon)  # nodes come up with the asked-for MTU
        return eks.NodeGroup(
            f"{self._name}-nodes",
            eks.NodeGroupArgs(
                cluster_name=self.cluster.name,
                node_group_name=f"{self._name}-nodes",
                node_role_arn=self.node_role.arn,
                version=spec.kubernetes_version,
                subnet_ids=[by_zone[z].id for z in spec.node_zones],
                # Fixed size: a study measures a known number of nodes, never an autoscaler.
                scaling_config=eks.NodeGroupScalingConfigArgs(
                    min_size=spec.node_count,
                    max_size=spec.node_count,
                    desired_size=spec.node_count,
                ),
                launch_template=eks.NodeGroupLaunchTemplateArgs(
                    id=self.launch_template.id,
                    version=self.launch_template.latest_version.apply(str),
                ),
                labels=self._labels,
                tags=self._tags("nodes"),
            ),
            opts=ResourceOptions(
                parent=self,
                provider=self.aws_provider,
                depends_on=depends,
                # 256 nodes take a while; the default 60 min create timeout is too tight.
                custom_timeouts=pulumi.CustomTimeouts(create="90m", update="60m", delete="60m"),
            ),
        )
