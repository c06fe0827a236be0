"""The pulumi-aws packages the EKS parts use, each loaded with only the resource modules they
register (`core.sdk`: importing all of pulumi_aws.ec2 costs seconds on every plan)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core import sdk

if TYPE_CHECKING:
    from pulumi_aws import ec2, eks, iam
else:
    ec2 = sdk.package(
        "pulumi_aws.ec2",
        *("vpc", "internet_gateway", "subnet", "route_table", "route_table_association"),
        *("eip", "nat_gateway", "placement_group", "security_group", "launch_template"),
    )
    eks = sdk.package("pulumi_aws.eks", "cluster", "addon", "node_group")
    iam = sdk.package("pulumi_aws.iam", "role", "role_policy_attachment")

__all__ = ["ec2", "eks", "iam"]
