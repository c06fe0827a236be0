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

import json
from typing import TYPE_CHECKING, Any, TypedDict

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from pulumi import ComponentResource, Output, ResourceOptions

from core import sdk
from infra.clusters.kubeconfig import eks_kubeconfig
from infra.spec.eks import EksClusterSpec

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

VPC_CIDR = "10.0.0.0/16"
ALL = "0.0.0.0/0"
CLUSTER_POLICIES = ["AmazonEKSClusterPolicy"]
NODE_POLICIES = [
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
]
# eks-charts aws-efa-k8s-device-plugin chart default (image.repository / image.tag).
EFA_PLUGIN_IMAGE = (
    "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.8"
)
ROOT_DEVICE = "/dev/xvda"  # root device of the EKS-optimised Amazon Linux AMIs
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


class _PortRange(TypedDict):
    """The port/protocol part of a security group rule (typed so it can be spread as **kwargs)."""

    from_port: int
    to_port: int
    protocol: str


def private_cidr(i: int) -> str:
    return f"10.0.{64 * i}.0/18"


def public_cidr(i: int) -> str:
    return f"10.0.{192 + i}.0/24"


def _assume(service: str, action: str | list[str] = "sts:AssumeRole") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": action}],
        }
    )


class EksCluster(ComponentResource):
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

    def _tags(self, role: str, **extra: str) -> dict[str, str]:
        return {**self._labels, "Name": f"{self._name}-{role}", **extra}

    # -- network -----------------------------------------------------------------------------

    def _network(self, spec: EksClusterSpec) -> None:
        name, child = self._name, self._child
        self.vpc = ec2.Vpc(
            f"{name}-vpc",
            ec2.VpcArgs(
                cidr_block=VPC_CIDR,
                enable_dns_hostnames=True,  # nodes register with the control plane by DNS name
                enable_dns_support=True,
                tags=self._tags("vpc"),
            ),
            opts=child,
        )
        self.igw = ec2.InternetGateway(
            f"{name}-igw",
            ec2.InternetGatewayArgs(vpc_id=self.vpc.id, tags=self._tags("igw")),
            opts=child,
        )
        self.public_subnets: list[ec2.Subnet] = []
        self.private_subnets: list[ec2.Subnet] = []
        for i, zone in enumerate(spec.zones):
            self.public_subnets.append(
                self._subnet("public", zone, public_cidr(i), "kubernetes.io/role/elb", public=True)
            )
            self.private_subnets.append(
                self._subnet("private", zone, private_cidr(i), "kubernetes.io/role/internal-elb")
            )
        public_rt = self._route_table(
            "public", ec2.RouteTableRouteArgs(cidr_block=ALL, gateway_id=self.igw.id)
        )
        # One NAT gateway, in the node zone: cross-AZ NAT traffic is billed, a second NAT is not
        # worth it for a cluster that lives a few hours.
        nat_index = spec.zones.index(spec.zone) if spec.zone in spec.zones else 0
        eip = ec2.Eip(
            f"{name}-nat-ip", ec2.EipArgs(domain="vpc", tags=self._tags("nat-ip")), opts=child
        )
        self.nat = ec2.NatGateway(
            f"{name}-nat",
            ec2.NatGatewayArgs(
                allocation_id=eip.id,
                subnet_id=self.public_subnets[nat_index].id,
                tags=self._tags("nat"),
            ),
            opts=ResourceOptions(parent=self, provider=self.aws_provider, depends_on=[self.igw]),
        )
        private_rt = self._route_table(
            "private", ec2.RouteTableRouteArgs(cidr_block=ALL, nat_gateway_id=self.nat.id)
        )
        self.route_associations = []
        for zone, pub, priv in zip(
            spec.zones, self.public_subnets, self.private_subnets, strict=True
        ):
            for kind, subnet, rt in (("public", pub, public_rt), ("private", priv, private_rt)):
                self.route_associations.append(
                    ec2.RouteTableAssociation(
                        f"{name}-{kind}-rta-{zone}",
                        ec2.RouteTableAssociationArgs(subnet_id=subnet.id, route_table_id=rt.id),
                        opts=child,
                    )
                )

    def _subnet(
        self, kind: str, zone: str, cidr: str, elb_role_tag: str, public: bool = False
    ) -> ec2.Subnet:
        """One `kind` (public/private) subnet in `zone`, tagged for the cluster and for the load
        balancers of that kind; only public subnets give instances a public IP."""
        owned = {f"kubernetes.io/cluster/{self._name}": "shared"}
        return ec2.Subnet(
            f"{self._name}-{kind}-{zone}",
            ec2.SubnetArgs(
                vpc_id=self.vpc.id,
                availability_zone=zone,
                cidr_block=cidr,
                map_public_ip_on_launch=True if public else None,  # None: left out
                tags=self._tags(f"{kind}-{zone}", **owned, **{elb_role_tag: "1"}),
            ),
            opts=self._child,
        )

    def _route_table(self, kind: str, default: ec2.RouteTableRouteArgs) -> ec2.RouteTable:
        """The route table of the `kind` subnets: one default route (internet gateway or NAT)."""
        return ec2.RouteTable(
            f"{self._name}-{kind}-rt",
            ec2.RouteTableArgs(vpc_id=self.vpc.id, routes=[default], tags=self._tags(f"{kind}-rt")),
            opts=self._child,
        )

    # -- IAM ---------------------------------------------------------------------------------

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

    # -- nodes -------------------------------------------------------------------------------

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
