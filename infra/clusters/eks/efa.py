"""EFA on EKS: the security group EFA traffic needs and the device plugin that advertises
`vpc.amazonaws.com/efa` to the scheduler."""

from __future__ import annotations

from typing import TypedDict

import pulumi_kubernetes as k8s
from pulumi import ResourceOptions

from core import sdk
from infra.clusters.eks.aws_sdk import ec2
from infra.clusters.eks.base import EksParts
from infra.clusters.eks.network import ALL
from infra.spec.eks import EksClusterSpec

# eks-charts aws-efa-k8s-device-plugin chart default (image.repository / image.tag).
EFA_PLUGIN_IMAGE = (
    "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.8"
)

class _PortRange(TypedDict):
    """The port/protocol part of a security group rule (typed so it can be spread as **kwargs)."""

    from_port: int
    to_port: int
    protocol: str


class Efa(EksParts):
    def _efa_security_group(self) -> ec2.SecurityGroup:
        """EFA traffic must be allowed to and from the group itself, all protocols."""
        everything: _PortRange = {"from_port": 0, "to_port": 0, "protocol": "-1"}
        return ec2.SecurityGroup(
            f"{self._name}-efa-sg",
            ec2.SecurityGroupArgs(
                vpc_id=self.vpc.id,
                description="EFA: all traffic within the group",
                ingress=[ec2.SecurityGroupIngressArgs(**everything, self=True)],
                egress=[
                    ec2.SecurityGroupEgressArgs(**everything, self=True),
                    ec2.SecurityGroupEgressArgs(**everything, cidr_blocks=[ALL]),
                ],
                tags=self._tags("efa-sg"),
            ),
            opts=self._child,
        )

    def _efa_device_plugin(self, spec: EksClusterSpec) -> k8s.apps.v1.DaemonSet:
        """The EFA device plugin, which advertises `vpc.amazonaws.com/efa` to the scheduler."""
        app = {"name": "aws-efa-k8s-device-plugin"}
        apps = sdk.package("pulumi_kubernetes.apps.v1", "DaemonSet")
        core, meta = sdk.package("pulumi_kubernetes.core.v1"), k8s.meta.v1
        return apps.DaemonSet(
            f"{self._name}-efa-device-plugin",
            metadata=meta.ObjectMetaArgs(
                name="aws-efa-k8s-device-plugin", namespace="kube-system", labels=app
            ),
            spec=apps.DaemonSetSpecArgs(
                selector=meta.LabelSelectorArgs(match_labels=app),
                update_strategy=apps.DaemonSetUpdateStrategyArgs(type="RollingUpdate"),
                template=core.PodTemplateSpecArgs(
                    metadata=meta.ObjectMetaArgs(labels=app),
                    spec=core.PodSpecArgs(
                        host_network=True,
                        priority_class_name="system-node-critical",
                        node_selector={"node.kubernetes.io/instance-type": spec.machine_type},
                        tolerations=[
                            core.TolerationArgs(key="CriticalAddonsOnly", operator="Exists"),
                            core.TolerationArgs(
                                key="aws.amazon.com/efa", operator="Exists", effect="NoSchedule"
                            ),
                        ],
                        containers=[
                            core.ContainerArgs(
                                name="aws-efa-k8s-device-plugin",
                                image=EFA_PLUGIN_IMAGE,
                                security_context=core.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    capabilities=core.CapabilitiesArgs(drop=["ALL"]),
                                ),
                                resources=core.ResourceRequirementsArgs(
                                    requests={"cpu": "10m", "memory": "20Mi"}
                                ),
                                volume_mounts=[
                                    core.VolumeMountArgs(
                                        name="device-plugin",
                                        mount_path="/var/lib/kubelet/device-plugins",
                                    )
                                ],
                            )
                        ],
                        volumes=[
                            core.VolumeArgs(
                                name="device-plugin",
                                host_path=core.HostPathVolumeSourceArgs(
                                    path="/var/lib/kubelet/device-plugins"
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=ResourceOptions(parent=self, provider=self.provider),
        )
