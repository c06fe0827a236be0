"""The guard as the real program declares it, under the mock engine: every study stack gets the
CronJob, its scripts and a cloud identity that can resize this study's nodes and nothing more.

The GKE wiring follows Workload Identity Federation for GKE ("Link Kubernetes ServiceAccounts to
IAM": roles/iam.workloadIdentityUser for PROJECT.svc.id.goog[NS/KSA], KSA annotation
iam.gke.io/gcp-service-account); the EKS wiring follows EKS Pod Identity (trust principal
pods.eks.amazonaws.com, sts:AssumeRole + sts:TagSession; pulumi-aws eks.PodIdentityAssociation).
"""

from __future__ import annotations

import json

import pytest

from experiments.guard import load_config
from infra.guard import GKE_PERMISSIONS, eks_policy, guard_plan
from infra.spec import StackSpec
from tests.conftest import sections
from tests.infra.test_gke_program import one, render


def env_of(cronjob: dict) -> dict[str, object]:
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


class TestGkeGuard:
    """GKE: the custom role holds exactly the resize permissions; WI binds only the guard's KSA."""

    def test_resources_and_bindings(self):
        run, by_type = render("gke-64-localssd")
        role = one(by_type, "gcp:projects/iAMCustomRole:IAMCustomRole")
        assert sorted(role["permissions"]) == sorted(GKE_PERMISSIONS)
        (wi,) = [r.inputs for r in by_type["gcp:serviceaccount/iAMMember:IAMMember"]
                 if r.name == "gke-64-localssd-guard-wi"]
        project = sections("gke-64-localssd")["cluster"]["project"]
        assert wi["role"] == "roles/iam.workloadIdentityUser"
        assert wi["member"] == (
            f"serviceAccount:{project}.svc.id.goog[study-harness/guard-gke-64-localssd]")
        cluster = one(by_type, "gcp:container/cluster:Cluster")
        assert cluster["workloadIdentityConfig"] == {"workloadPool": f"{project}.svc.id.goog"}
        pool = one(by_type, "gcp:container/nodePool:NodePool")
        assert pool["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
        grants = {r.name: r.inputs for r in by_type["gcp:storage/bucketIAMMember:BucketIAMMember"]
                  if "guard" in r.name}
        assert grants["gke-64-localssd-guard-write"]["role"] == "roles/storage.objectCreator"
        assert grants["gke-64-localssd-guard-write"]["condition"]["expression"] == (
            f'resource.name.startsWith("projects/_/buckets/study-results-{project}/objects/'
            'gke-64-localssd/")')
        sa = next(
            r.inputs for r in by_type["kubernetes:core/v1:ServiceAccount"]
            if r.inputs["metadata"]["name"] == "guard-gke-64-localssd")
        assert sa["metadata"]["annotations"] == {
            "iam.gke.io/gcp-service-account":
                f"guard-gke-64-localssd@{project}.iam.gserviceaccount.com"}
        assert "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding" not in {
            r.type for r in run.resources if "guard" in r.name}

    def test_cronjob_configures_the_script_it_mounts(self):
        run, by_type = render("gke-64-localssd")
        cron = one(by_type, "kubernetes:batch/v1:CronJob")
        assert cron["spec"]["schedule"] == "*/5 * * * *"
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        env = env_of(cron)
        assert env["RUN_ID"] == {"configMapKeyRef": {"name": "study-run", "key": "run_id"}}
        spec = StackSpec.model_validate(sections("gke-64-localssd"))
        # The script's own validation accepts what the program renders (RUN_ID expanded).
        rendered = {k: v for k, v in env.items() if isinstance(v, str)}
        rendered["RUN_ID"] = "20261201T100000Z"
        rendered["RESULTS_URL"] = str(env["RESULTS_URL"]).replace("$(RUN_ID)", "20261201T100000Z")
        cfg = load_config(rendered)
        assert cfg.cluster == "gke-64-localssd" and cfg.pool == "gke-64-localssd-pool"
        assert cfg.grace_seconds == 900
        assert cfg.steps == tuple(run.exports["steps"])
        from infra.clusters.shapes import hourly_price
        from infra.estimate import hours_within_budget

        assert cfg.deadline_hours == hours_within_budget(spec.budget, hourly_price(spec).total)


class TestEksGuard:
    """EKS: the role may scale this node group only and write only the guard's records."""

    def test_policy_is_scoped_to_the_node_group_and_prefix(self):
        spec = StackSpec.model_validate(sections("eks-2-smoke"))
        plan = guard_plan("eks-2-smoke", spec, ["a"])
        doc = json.loads(eks_policy(plan, "arn:aws:eks:us-east-2:1:cluster/eks-2-smoke",
                                    "arn:aws:eks:us-east-2:1:nodegroup/eks-2-smoke/n/x"))
        by_sid = {s["Sid"]: s for s in doc["Statement"]}
        assert by_sid["ScaleThisNodeGroup"]["Resource"] == (
            "arn:aws:eks:us-east-2:1:nodegroup/eks-2-smoke/n/x")
        assert by_sid["ScaleThisNodeGroup"]["Action"] == [
            "eks:DescribeNodegroup", "eks:UpdateNodegroupConfig"]
        assert by_sid["WriteGuardRecords"]["Resource"] == (
            f"arn:aws:s3:::{plan.bucket}/eks-2-smoke/*/guard/*")
        assert {a for s in doc["Statement"] for a in
                ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])} == {
            "eks:DescribeCluster", "eks:DescribeNodegroup", "eks:UpdateNodegroupConfig",
            "s3:GetObject", "s3:ListBucket", "s3:PutObject"}

    def test_resources(self):
        run, by_type = render("eks-2-smoke")
        assoc = [r.inputs for r in by_type["aws:eks/podIdentityAssociation:PodIdentityAssociation"]
                 if r.inputs["serviceAccount"] == "guard-eks-2-smoke"]
        assert len(assoc) == 1 and assoc[0]["namespace"] == "study-harness"
        cron = one(by_type, "kubernetes:batch/v1:CronJob")
        pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "guard-eks-2-smoke"
        assert pod["initContainers"][0]["image"].startswith("public.ecr.aws/aws-cli/aws-cli:")
        assert pod["initContainers"][0]["command"] == ["cp", "-a", "/usr/local/aws-cli/.",
                                                       "/tools/"]
        # Mounted where the image has it: the installer's v2/current link may be absolute.
        assert pod["containers"][0]["volumeMounts"][1] == {
            "name": "tools", "mountPath": "/usr/local/aws-cli", "readOnly": True}
        assert env_of(cron)["PATH"].startswith("/usr/local/aws-cli/v2/current/bin:")


@pytest.mark.parametrize("stack", ["gke-2-smoke", "eks-2-smoke"])
def test_guard_is_exported_for_the_plan(stack):
    run, _ = render(stack)
    guard = run.exports["guard"]
    assert guard["grace_seconds"] == 900
    assert guard["records"].endswith(f"/{stack}/$(RUN_ID)/guard/")
