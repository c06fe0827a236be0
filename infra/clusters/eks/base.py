"""What every part of the EKS component shares: its name, labels, provider options and the
resources one part creates and another reads (declared here so each part type-checks alone)."""

from __future__ import annotations

from typing import Any

import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi import ComponentResource, ResourceOptions

from infra.clusters.eks.aws_sdk import ec2, eks, iam


class EksParts(ComponentResource):
    _name: str
    _labels: dict[str, Any]
    _child: ResourceOptions
    aws_provider: aws.Provider
    provider: k8s.Provider
    vpc: ec2.Vpc
    igw: ec2.InternetGateway
    nat: ec2.NatGateway
    public_subnets: list[ec2.Subnet]
    private_subnets: list[ec2.Subnet]
    route_associations: list[ec2.RouteTableAssociation]
    cluster_role: iam.Role
    cluster_attachments: list[iam.RolePolicyAttachment]
    node_role: iam.Role
    node_attachments: list[iam.RolePolicyAttachment]
    cluster: eks.Cluster
    cni_addon: eks.Addon | None
    placement_group: ec2.PlacementGroup | None
    efa_security_group: ec2.SecurityGroup | None
    launch_template: ec2.LaunchTemplate
    node_group: eks.NodeGroup

    def _tags(self, role: str, **extra: str) -> dict[str, str]:
        return {**self._labels, "Name": f"{self._name}-{role}", **extra}
