"""The EKS program under the mock engine: every spec knob reaches the resource inputs.

Each shipped EKS stack (and an EFA variant built from one) is rendered by the real `__main__.py`;
the assertions read the inputs the engine recorded (camelCased, numbers as floats). Knobs a stack
leaves out must stay out of the inputs, so AWS defaults apply rather than harness guesses.
"""

from __future__ import annotations

import json

import pytest
import yaml

from infra.spec import load_spec
from study.mock_engine import run_program
from tests.conftest import ROOT, sections, to_config

EKS_STACKS = ["eks-6-topology", "eks-30-topology", "eks-256-topology", "eks-16-pulling"]
STUDY_LABELS = {"study", "stack", "owner", "expires-at", "budget-usd", "managed-by"}
# Types that carry no tags of their own (associations, attachments, providers).
UNTAGGED = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    # An inline role policy takes no tags (terraform-provider-aws aws_iam_role_policy has no
    # `tags` argument); its role carries them.
    "aws:iam/rolePolicy:RolePolicy",
    "aws:ec2/routeTableAssociation:RouteTableAssociation",
}


def render(stack: str, sec: dict | None = None):
    sec = sec if sec is not None else sections(stack)
    run = run_program(stack, to_config(sec), ROOT / "__main__.py")
    assert run.error is None, run.error
    return run, load_spec(to_config(sec)).cluster


def of_type(run, suffix: str) -> list:
    return [r for r in run.resources if r.type.endswith(suffix)]


def one(run, suffix: str):
    found = of_type(run, suffix)
    assert len(found) == 1, (suffix, [r.name for r in found])
    return found[0]


@pytest.fixture(scope="module", params=EKS_STACKS)
def rendered(request):
    return request.param, *render(request.param)


class TestEveryEksStack:
    """Each shipped EKS stack renders and its spec reaches the AWS resources unchanged."""

    def test_region_reaches_the_provider(self, rendered):
        stack, run, c = rendered
        provider = one(run, "pulumi:providers:aws")
        assert provider.inputs["region"] == c.region
        tags = yaml.safe_load(provider.inputs["defaultTags"])["tags"]
        assert set(tags) == STUDY_LABELS and tags["stack"] == stack
        aws = [r for r in run.resources if r.type.startswith("aws:")]
        assert aws and all(r.provider and "eks-" in r.provider for r in aws)

    def test_cluster_version_and_access(self, rendered):
        stack, run, c = rendered
        cluster = one(run, "eks/cluster:Cluster")
        assert cluster.inputs["name"] == stack
        assert cluster.inputs["version"] == c.kubernetes_version
        assert cluster.inputs["accessConfig"] == {
            "authenticationMode": "API",
            "bootstrapClusterCreatorAdminPermissions": True,
        }
        # control plane ENIs go in every zone's private and public subnet
        assert len(cluster.inputs["vpcConfig"]["subnetIds"]) == 2 * len(c.zones)

    def test_subnets_one_public_and_one_private_per_zone(self, rendered):
        _, run, c = rendered
        subnets = of_type(run, "ec2/subnet:Subnet")
        assert sorted(s.inputs["availabilityZone"] for s in subnets) == sorted(c.zones * 2)
        public = [s for s in subnets if s.inputs.get("mapPublicIpOnLaunch")]
        assert len(public) == len(c.zones)
        assert all(s.inputs["tags"].get("kubernetes.io/role/elb") == "1" for s in public)
        cidrs = [s.inputs["cidrBlock"] for s in subnets]
        assert len(set(cidrs)) == len(cidrs)
        one(run, "ec2/internetGateway:InternetGateway")
        one(run, "ec2/natGateway:NatGateway")
        assert len(of_type(run, "routeTableAssociation:RouteTableAssociation")) == 2 * len(c.zones)

    def test_node_group_fixed_size_in_the_asked_zones(self, rendered):
        stack, run, c = rendered
        ng = one(run, "eks/nodeGroup:NodeGroup")
        n = float(c.node_count)
        assert ng.inputs["scalingConfig"] == {"minSize": n, "maxSize": n, "desiredSize": n}
        assert ng.inputs["version"] == c.kubernetes_version
        assert ng.inputs["subnetIds"] == [f"{stack}-private-{z}-id" for z in c.node_zones]
        assert ng.inputs["launchTemplate"] == {"id": f"{stack}-lt-id", "version": "1"}
        assert STUDY_LABELS <= set(ng.inputs["labels"])
        # the launch template carries the instance type; setting it twice is an EKS error
        assert "instanceTypes" not in ng.inputs and "diskSize" not in ng.inputs

    def test_launch_template_carries_instance_and_disk(self, rendered):
        _, run, c = rendered
        lt = one(run, "ec2/launchTemplate:LaunchTemplate")
        assert lt.inputs["instanceType"] == c.machine_type
        (bdm,) = lt.inputs["blockDeviceMappings"]
        assert bdm["deviceName"] == "/dev/xvda"
        assert bdm["ebs"]["volumeType"] == c.boot_disk_type
        assert bdm["ebs"]["volumeSize"] == float(c.boot_disk_size_gb)
        assert "iops" not in bdm["ebs"]  # no stack asks for provisioned IOPS
        assert "networkInterfaces" not in lt.inputs  # no EFA in the shipped stacks
        kinds = {t["resourceType"] for t in lt.inputs["tagSpecifications"]}
        assert kinds == {"instance", "volume", "network-interface"}

    def test_placement_group_only_when_asked(self, rendered):
        _, run, c = rendered
        groups = of_type(run, "ec2/placementGroup:PlacementGroup")
        lt = one(run, "ec2/launchTemplate:LaunchTemplate")
        if c.placement_group is None:
            assert groups == [] and "placement" not in lt.inputs
        else:
            (pg,) = groups
            assert pg.inputs["strategy"] == c.placement_group.strategy
            assert "partitionCount" not in pg.inputs
            assert lt.inputs["placement"] == {"groupName": pg.inputs["name"]}

    def test_absent_knobs_stay_absent(self, rendered):
        _, run, _ = rendered
        # no network_mtu in any shipped stack: no vpc-cni add-on, only the storage ones
        assert sorted(a.inputs["addonName"] for a in of_type(run, "eks/addon:Addon")) == [
            "aws-ebs-csi-driver", "eks-pod-identity-agent",
        ]
        assert of_type(run, "ec2/securityGroup:SecurityGroup") == []
        # experiments may add DaemonSets of their own; the EFA plugin is the cluster's
        assert [d for d in of_type(run, "apps/v1:DaemonSet") if "efa" in d.name] == []

    def test_iam_roles_have_the_eks_policies(self, rendered):
        _, run, _ = rendered
        roles = {r.name.rsplit("-", 2)[1]: r for r in of_type(run, "iam/role:Role")}
        assert "eks.amazonaws.com" in roles["cluster"].inputs["assumeRolePolicy"]
        assert "ec2.amazonaws.com" in roles["node"].inputs["assumeRolePolicy"]
        arns = sorted(a.inputs["policyArn"].rsplit("/", 1)[1] for a in
                      of_type(run, "iam/rolePolicyAttachment:RolePolicyAttachment"))
        assert arns == sorted([
            "AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly", "AmazonEBSCSIDriverPolicy",
        ])

    def test_every_taggable_resource_has_the_study_labels(self, rendered):
        stack, run, _ = rendered
        for r in run.resources:
            if r.type.startswith("aws:") and r.type not in UNTAGGED:
                tags = r.inputs.get("tags") or {}
                assert STUDY_LABELS <= set(tags), r.name
                assert tags["stack"] == stack, r.name

    def test_outputs_match_the_gke_keys(self, rendered):
        stack, run, c = rendered
        assert run.exports["cluster_name"] == stack
        assert run.exports["node_count"] == c.node_count
        assert run.exports["machine_type"] == c.machine_type
        assert run.exports["zone"] == ",".join(c.node_zones)
        kube = yaml.safe_load(run.exports["kubeconfig"])
        assert kube["clusters"][0]["cluster"]["server"] == "https://203.0.113.20"
        assert kube["users"][0]["user"]["exec"]["args"] == [
            "eks", "get-token", "--cluster-name", stack, "--region", c.region,
        ]

    def test_kubernetes_provider_is_secret_and_forgiving(self, rendered):
        _, run, _ = rendered
        provider = one(run, "pulumi:providers:kubernetes")
        assert provider.inputs["deleteUnreachable"] == "true"
        kubeconfig = provider.inputs["kubeconfig"]
        # the engine's secret envelope: a signature key plus the value
        assert isinstance(kubeconfig, dict) and "value" in kubeconfig

    def test_kubernetes_provider_upserts_on_resume(self, rendered):
        """pulumi-kubernetes provider/pkg/await/await.go (Creation; read at v4.32.0, the same
        option documented in the installed 4.34 SDK's provider.py): without
        upsertExistingObjects a create of an object that exists but is not in the state (an
        up killed mid-create) fails "already exists"; with it the create is a server-side
        apply."""
        _, run, _ = rendered
        provider = one(run, "pulumi:providers:kubernetes")
        assert provider.inputs["upsertExistingObjects"] == "true"


def _deps(resource) -> set[str]:
    return {u.rsplit("::", 1)[-1] for u in resource.options["dependencies"]}


class TestEbsCsiDriver:
    """The EBS CSI driver add-on with an EKS Pod Identity role, after the nodes it runs on.

    kubernetes-sigs/aws-ebs-csi-driver v1.64.0: docs/install.md ("EKS Pod Identity": a role
    for `kube-system/ebs-csi-controller-sa`, the Pod Identity agent installed); the managed
    policy `service-role/AmazonEBSCSIDriverPolicy` (Amazon EKS user guide, "Create the Amazon
    EBS CSI driver IAM role"; ec2:CreateTags when ec2:CreateAction is CreateVolume: tags are
    applied at creation; CreateVolume needs the request tag ebs.csi.aws.com/cluster=true, which
    pkg/driver/controller.go always adds). pulumi-aws 7.51 `eks.Addon` has
    `pod_identity_associations` {role_arn, service_account} (the installed SDK's addon.py).
    """

    def test_pod_identity_agent_after_the_nodes(self, rendered):
        stack, run, _ = rendered
        (agent,) = [a for a in of_type(run, "eks/addon:Addon")
                    if a.inputs["addonName"] == "eks-pod-identity-agent"]
        assert agent.inputs["clusterName"] == stack
        assert f"{stack}-nodes" in _deps(agent)

    def test_driver_role_is_trusted_by_pod_identity(self, rendered):
        stack, run, _ = rendered
        (role,) = [r for r in of_type(run, "iam/role:Role") if r.name == f"{stack}-ebs-csi-role"]
        assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [{
            "Effect": "Allow",
            "Principal": {"Service": "pods.eks.amazonaws.com"},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }]
        (policy,) = [a for a in of_type(run, "rolePolicyAttachment:RolePolicyAttachment")
                     if a.name == f"{stack}-ebs-csi-policy"]
        assert policy.inputs["policyArn"] == (
            "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
        )

    def test_driver_addon_associates_the_controller_service_account(self, rendered):
        stack, run, _ = rendered
        (driver,) = [a for a in of_type(run, "eks/addon:Addon")
                     if a.inputs["addonName"] == "aws-ebs-csi-driver"]
        (assoc,) = driver.inputs["podIdentityAssociations"]
        assert assoc["serviceAccount"] == "ebs-csi-controller-sa"
        assert assoc["roleArn"].startswith("arn:aws:iam::")
        assert {f"{stack}-nodes", f"{stack}-pod-identity-agent", f"{stack}-ebs-csi-role",
                f"{stack}-ebs-csi-policy"} <= _deps(driver)


def test_topology_stacks_follow_the_seed_clusters():
    """6 and 30 nodes in one AZ with a cluster group; 256 spread over three AZs without one."""
    for stack, zone_count, strategy in [
        ("eks-6-topology", 1, "cluster"),
        ("eks-30-topology", 1, "cluster"),
        ("eks-256-topology", 3, None),
    ]:
        c = load_spec(to_config(sections(stack))).cluster
        assert (c.machine_type, c.kubernetes_version, c.boot_disk_size_gb) == (
            "c5a.4xlarge", "1.35", 150  # the seed's 1.27 is no longer created by EKS
        )
        assert len(c.node_zones) == zone_count, stack
        assert (c.placement_group.strategy if c.placement_group else None) == strategy, stack


@pytest.fixture(scope="module")
def efa():
    sec = sections("eks-6-topology")
    sec["cluster"].update(
        machine_type="c5n.18xlarge", efa=True, network_mtu=8500, boot_disk_type="io1",
        boot_disk_iops=4000,
    )
    sec["quota"] = {"cpus": 432}
    sec["budget"] = {"usd": 200, "max_hours": 6}
    return render("eks-efa", sec)


class TestEfaVariant:
    """EFA, MTU, io1 IOPS and partition knobs, which no shipped stack uses, reach the resources."""

    def test_efa_interface_with_self_referencing_group(self, efa):
        run, _ = efa
        sg = one(run, "ec2/securityGroup:SecurityGroup")
        everything = {"fromPort": 0.0, "toPort": 0.0, "protocol": "-1"}
        assert sg.inputs["ingress"] == [{**everything, "self": True}]
        assert {**everything, "self": True} in sg.inputs["egress"]
        lt = one(run, "ec2/launchTemplate:LaunchTemplate")
        (nic,) = lt.inputs["networkInterfaces"]
        assert nic["interfaceType"] == "efa"
        assert (nic["deviceIndex"], nic["networkCardIndex"]) == (0.0, 0.0)
        # the EFA group plus the cluster security group EKS would otherwise attach
        assert nic["securityGroups"] == ["eks-efa-efa-sg-id", "sg-mock"]

    def test_efa_device_plugin_runs_on_the_efa_nodes(self, efa):
        run, _ = efa
        (ds,) = [d for d in of_type(run, "apps/v1:DaemonSet") if "efa" in d.name]
        assert ds.provider and "providers:kubernetes" in ds.provider
        pod = ds.inputs["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "c5n.18xlarge"}
        assert "aws-efa-k8s-device-plugin" in pod["containers"][0]["image"]

    def test_mtu_reaches_the_vpc_cni(self, efa):
        run, _ = efa
        (addon,) = [a for a in of_type(run, "eks/addon:Addon")
                    if a.inputs["addonName"] == "vpc-cni"]
        assert yaml.safe_load(addon.inputs["configurationValues"]) == {
            "env": {"AWS_VPC_ENI_MTU": "8500"}
        }

    def test_io1_iops_reach_the_root_volume(self, efa):
        run, _ = efa
        (bdm,) = one(run, "ec2/launchTemplate:LaunchTemplate").inputs["blockDeviceMappings"]
        assert (bdm["ebs"]["volumeType"], bdm["ebs"]["iops"]) == ("io1", 4000.0)

    def test_partition_group_gets_its_count(self):
        sec = sections("eks-6-topology")
        sec["cluster"]["placement_group"] = {"strategy": "partition", "partition_count": 3}
        run, _ = render("eks-partition", sec)
        pg = one(run, "ec2/placementGroup:PlacementGroup")
        assert (pg.inputs["strategy"], pg.inputs["partitionCount"]) == ("partition", 3.0)


def test_efa_plan_validates_the_device_plugin_manifest(cli, project, tmp_path, locked_images):
    """The plugin DaemonSet passes the strict Kubernetes schema of the stack's version."""
    import json

    sec = sections("eks-6-topology")
    sec["cluster"].update(machine_type="c5n.18xlarge", efa=True)
    sec["quota"] = {"cpus": 432}
    sec["budget"] = {"usd": 200, "max_hours": 6}
    project("eks-efa", sec)
    out_dir = tmp_path / "manifests"  # tmp_path is the project: Pulumi.yaml lives there
    code, out, err = cli("plan", "eks-efa", "--json", "--manifests", str(out_dir))
    assert code == 0, out
    doc = json.loads(out)
    assert doc["violations"] == []
    kinds = sorted(p.name.split("-", 2)[1] for p in out_dir.glob("*.yaml"))
    assert "daemonset" in kinds
