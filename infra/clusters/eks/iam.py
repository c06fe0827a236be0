"""The EKS study's IAM: the control plane's and the nodes' roles, the Pod Identity trust the EBS
CSI driver and the results writer assume, and the results writer's role itself."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pulumi
from pulumi import ResourceOptions

from core import sdk
from infra.clusters.eks.aws_sdk import iam
from infra.clusters.eks.base import EksParts

if TYPE_CHECKING:
    from infra.clusters.eks import EksCluster

CLUSTER_POLICIES = ["AmazonEKSClusterPolicy"]
NODE_POLICIES = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
]
# The EBS CSI driver's controller identity (kubernetes-sigs/aws-ebs-csi-driver v1.64.0,
# docs/install.md "EKS Pod Identity"). The managed policy is the long-standing
# `service-role/AmazonEBSCSIDriverPolicy` (Amazon EKS user guide, "Create the Amazon EBS CSI
# driver IAM role"): it allows ec2:CreateVolume with the driver's `ebs.csi.aws.com/cluster`
# request tag, which the driver adds to every volume, and ec2:CreateTags when ec2:CreateAction
# is CreateVolume, so StorageClass tags land at creation. Not V2: its ARN is given with and
# without the `service-role/` path in different sources, and the wrong one fails the attachment
# with NoSuchEntity; dynamic provisioning needs nothing V2 adds.
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"  # in kube-system, the add-on's namespace
EBS_CSI_POLICY_ARN = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
POD_IDENTITY_ACTIONS = ["sts:AssumeRole", "sts:TagSession"]


def _assume(service: str, action: str | list[str] = "sts:AssumeRole") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": action}],
        }
    )


class Iam(EksParts):
    def _role(self, role: str, service: str, policies: list[str]):
        r = iam.Role(
            f"{self._name}-{role}-role",
            iam.RoleArgs(assume_role_policy=_assume(service), tags=self._tags(f"{role}-role")),
            opts=self._child,
        )
        attachments = [
            iam.RolePolicyAttachment(
                f"{self._name}-{role}-{policy}",
                iam.RolePolicyAttachmentArgs(
                    role=r.name, policy_arn=f"arn:aws:iam::aws:policy/{policy}"
                ),
                opts=self._child,
            )
            for policy in policies
        ]
        return r, attachments

    def _iam(self) -> None:
        self.cluster_role, self.cluster_attachments = self._role(
            "cluster", "eks.amazonaws.com", CLUSTER_POLICIES
        )
        self.node_role, self.node_attachments = self._role(
            "node", "ec2.amazonaws.com", NODE_POLICIES
        )


def results_write_policy(bucket: str, stack: str) -> str:
    """PutObject under `arn:aws:s3:::BUCKET/STACK/*` and nothing else (multipart uploads, which
    `aws s3 cp` uses for large files, are authorised by s3:PutObject too: Amazon S3 user guide,
    "Multipart upload API and permissions")."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WriteThisStacksResults",
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{bucket}/{stack}/*",
                }
            ],
        }
    )


def results_writer(stack: str, bucket: str, namespace: str, ksa: str,
                   cluster: EksCluster, after: pulumi.Resource) -> list[pulumi.Resource]:
    """A role that may only PutObject under `<bucket>/<stack>/`, assumed by the pods of the
    Kubernetes service account `namespace/ksa` through EKS Pod Identity (no key in the cluster).

    Trust policy and association as in the Amazon EKS user guide ("Assign an IAM role to a
    Kubernetes service account", Pod Identity: principal pods.eks.amazonaws.com, actions
    sts:AssumeRole and sts:TagSession) and hashicorp/terraform-provider-aws
    website/docs/r/eks_pod_identity_association.html.markdown (pulumi-aws 7.51
    pulumi_aws/eks/pod_identity_association.py: cluster, namespace, service account, role);
    the Pod Identity agent add-on is the cluster's already.
    """
    iam_ = sdk.package("pulumi_aws.iam", "role")
    eks_ = sdk.package("pulumi_aws.eks", "pod_identity_association")
    tags = cluster._tags("results-writer")
    child = ResourceOptions(parent=cluster, provider=cluster.aws_provider, depends_on=[after])
    # The policy is inline in the role: it exists only with it and grants nothing elsewhere.
    role = iam_.Role(
        f"{stack}-results-writer",
        iam_.RoleArgs(
            assume_role_policy=_assume(POD_IDENTITY_PRINCIPAL, POD_IDENTITY_ACTIONS),
            inline_policies=[iam_.RoleInlinePolicyArgs(
                name="write-results", policy=results_write_policy(bucket, stack))],
            tags=tags,
        ),
        opts=child,
    )
    association = eks_.PodIdentityAssociation(
        f"{stack}-results-writer",
        eks_.PodIdentityAssociationArgs(
            cluster_name=cluster.cluster.name,
            namespace=namespace,
            service_account=ksa,
            role_arn=role.arn,
            tags=tags,
        ),
        opts=ResourceOptions(parent=cluster, provider=cluster.aws_provider,
                             depends_on=[after, cluster.pod_identity_agent]),
    )
    return [role, association]
