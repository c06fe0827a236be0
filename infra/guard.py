"""The guard's resources: a CronJob in the study namespace, its service account, its scripts, and
a cloud identity that can scale this study's nodes and write the guard's records, nothing more.

Why in the stack: the guard must exist whenever the cluster does, however the cluster came up
(plain `pulumi up`, `study run`), so it is part of the program, not of the study. What it
decides and why is in `experiments/guard.py` and `experiments/guard_decision.py`.

Permissions:
- Kubernetes: none. The service account has no Role or RoleBinding; the guard never calls the
  Kubernetes API.
- GKE: a service account impersonable only by the stack's own Kubernetes service account
  `study-harness/guard-<stack>` (Workload Identity; infra.service_accounts says why the name
  carries the stack: the identity pool is the project's, shared by every cluster in it),
  with a custom role of the four permissions a node pool resize needs: `container.clusters.get`
  (creation time), `container.clusters.update` (the setSize call `gcloud container clusters
  resize` makes), `container.operations.get` (its operation) and
  `compute.instanceGroupManagers.get` (the pool's target size). GKE's IAM grants these per
  project (GKE resources do not take IAM conditions on their names), so the role is bound on
  the project; the custom role holds nothing else. Bucket access: read objects under
  `<stack>/`, list the bucket, create objects under `<stack>/` (objectCreator cannot overwrite
  or delete).
- EKS: a role assumed through EKS Pod Identity by the same service account, with
  eks:DescribeCluster on this cluster, eks:DescribeNodegroup and eks:UpdateNodegroupConfig on
  this node group (EKS supports resource-level permissions for both), s3:GetObject under
  `<bucket>/<stack>/`, s3:ListBucket for that prefix, s3:PutObject under `<stack>/*/guard/`.

Scaling back: the guard changes the pool's size outside Pulumi, and Pulumi does not refresh
before an update; `infra.node_size` holds the pool at its declared size, so a plain `pulumi up`
after a guard stop scales the nodes back and resumes the unfinished steps.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi import ResourceOptions

from core import layout, sdk
from core.versions import AWS_CLI, GCLOUD, PYTHON

# The CronJob and the scripts ConfigMap's prefix; the ServiceAccount is per stack
# (`GuardPlan.service_account`), since cloud identities trust it by name.
GUARD_NAME = "study-guard"
GUARD_SCRIPTS = "study-guard-scripts"
GUARD_MOUNT = "/guard"
# GKE: the Cloud SDK slim image has python3 (GoogleCloudPlatform/cloud-sdk-docker
# debian_slim/Dockerfile, d96a93f: debian:bookworm-slim with `python3-dev python3-crcmod
# python3-pip` installed beside google-cloud-cli). EKS: the AWS CLI image is amazonlinux:2 with
# the CLI under /usr/local/aws-cli, `less groff jq` added and no python3 (aws/aws-cli
# docker/Dockerfile); the CLI is copied (amazonlinux's coreutils `cp`) into an emptyDir that the
# guard container mounts where the image has it, so the installer's `v2/current` link resolves.
TOOLS_MOUNT = "/tools"
AWS_CLI_HOME = "/usr/local/aws-cli"
AWS_CLI_BIN = f"{AWS_CLI_HOME}/v2/current/bin"
GKE_PERMISSIONS = (
    "compute.instanceGroupManagers.get",
    "container.clusters.get",
    "container.clusters.update",
    "container.operations.get",
)
EKS_SCALE_ACTIONS = ("eks:DescribeNodegroup", "eks:UpdateNodegroupConfig")
POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"
POD_IDENTITY_ACTIONS = ["sts:AssumeRole", "sts:TagSession"]


def bucket_of(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[0]


@dataclass(frozen=True)
class GuardPlan:
    """What the guard will watch and when it acts: the one source for the program and the plan."""

    stack: str
    cloud: str
    cluster: str
    pool: str
    location: str
    project: str
    deadline_hours: float
    grace_seconds: int
    steps: tuple[str, ...]
    results_url: str  # with `$(RUN_ID)`: the kubelet expands it from the pod's RUN_ID
    identity: str  # the cloud identity the guard's pods run as
    permissions: tuple[str, ...]

    @property
    def bucket(self) -> str:
        return bucket_of(self.results_url)

    @property
    def service_account(self) -> str:
        """The Kubernetes service account the guard runs as and its cloud identity trusts."""
        from infra.service_accounts import guard_sa

        return guard_sa(self.stack)

    def summary(self) -> dict[str, Any]:
        """What `study plan` shows and the stack exports: when it acts, where it writes, as whom."""
        from infra.spec.guard import SCHEDULE

        return {
            "cronjob": f"{layout.NAMESPACE}/{GUARD_NAME}",
            "schedule": SCHEDULE,
            "pool": self.pool,
            "deadline_hours": round(self.deadline_hours, 4),
            "grace_seconds": self.grace_seconds,
            "bucket": self.bucket,
            "records": f"{self.results_url}guard/",
            "service_account": f"{layout.NAMESPACE}/{self.service_account}",
            "identity": self.identity,
            "binding": ("Workload Identity (roles/iam.workloadIdentityUser)" if self.cloud == "gke"
                        else "EKS Pod Identity association"),
            "permissions": list(self.permissions),
        }


def guard_plan(stack: str, spec, steps: list[str]) -> GuardPlan:
    from infra.clusters.shapes import hourly_price
    from infra.estimate import hours_within_budget

    c = spec.cluster
    hours = hours_within_budget(spec.budget, hourly_price(spec).total)
    from infra.results_bucket import RUN_ID_REF, results_url

    # After `wire`, the bucket the program resolved (on EKS it names the account).
    url = results_url(spec, RUN_ID_REF, stack)
    if c.cloud == "gke":
        from infra.clusters.gke import service_account_id

        email = f"{service_account_id('guard', stack)}@{c.project}.iam.gserviceaccount.com"
        return GuardPlan(stack, "gke", stack, f"{stack}-pool", c.zone, c.project, hours,
                         spec.guard.grace_seconds, tuple(steps), url, email, GKE_PERMISSIONS)
    return GuardPlan(stack, "eks", stack, f"{stack}-nodes", c.region, "", hours,
                     spec.guard.grace_seconds, tuple(steps), url, f"IAM role {stack}-guard-role-*",
                     ("eks:DescribeCluster", *EKS_SCALE_ACTIONS, "s3:GetObject",
                      "s3:ListBucket", "s3:PutObject"))


def guard_env(plan: GuardPlan) -> list[dict[str, Any]]:
    """The guard's configuration; RUN_ID comes from the cluster's run ConfigMap, RESULTS_URL
    expands it (Kubernetes dependent environment variables)."""
    plain = {
        "GUARD_CLOUD": plan.cloud,
        "GUARD_PROJECT": plan.project,
        "GUARD_LOCATION": plan.location,
        "GUARD_CLUSTER": plan.cluster,
        "GUARD_POOL": plan.pool,
        "GUARD_DEADLINE_HOURS": repr(plan.deadline_hours),
        "GUARD_GRACE_SECONDS": str(plan.grace_seconds),
        "GUARD_STEPS": json.dumps(list(plan.steps)),
    }
    from infra.results_bucket import RUN_CONFIGMAP, RUN_KEY

    run_id = {"name": "RUN_ID", "valueFrom": {"configMapKeyRef": {
        "name": RUN_CONFIGMAP, "key": RUN_KEY}}}
    return [run_id, {"name": "RESULTS_URL", "value": plan.results_url},
            *({"name": k, "value": v} for k, v in plain.items() if v)]




def guard_objects(plan: GuardPlan, labels: dict[str, Any],
                  sa_annotations: dict[str, str]) -> list[dict[str, Any]]:
    """ServiceAccount, scripts ConfigMap and the CronJob, as plain objects (validated by
    `study plan` against the Kubernetes schemas like every other object)."""
    here = Path(__file__).resolve().parent.parent / "experiments"
    ns = layout.NAMESPACE
    # The expires-at label is an Output stamped at creation (infra.expiry); Kubernetes objects
    # carry the labels known now, as the experiment's objects do.
    known = {k: v for k, v in labels.items() if isinstance(v, str)}
    meta = {"namespace": ns, "labels": {**known, layout.LABEL_ROLE: "guard"}}
    env = guard_env(plan)
    if plan.cloud == "gke":
        image, command = GCLOUD.ref, ["python3", f"{GUARD_MOUNT}/guard.py"]
        init: list[dict[str, Any]] = []
        volumes: list[dict[str, Any]] = []
        mounts: list[dict[str, Any]] = []
    else:
        image, command = PYTHON.ref, ["python", f"{GUARD_MOUNT}/guard.py"]
        init = [{"name": "aws-cli", "image": AWS_CLI.ref,
                 "command": ["cp", "-a", f"{AWS_CLI_HOME}/.", f"{TOOLS_MOUNT}/"],
                 "volumeMounts": [{"name": "tools", "mountPath": TOOLS_MOUNT}],
                 "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]
        volumes = [{"name": "tools", "emptyDir": {}}]
        mounts = [{"name": "tools", "mountPath": AWS_CLI_HOME, "readOnly": True}]
        env.append({"name": "PATH", "value": f"{AWS_CLI_BIN}:/usr/local/bin:/usr/bin:/bin"})
    pod = {
        "restartPolicy": "Never",
        "serviceAccountName": plan.service_account,
        "initContainers": init,
        "containers": [{
            "name": "guard",
            "image": image,
            "command": command,
            "env": env,
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
            "volumeMounts": [{"name": "scripts", "mountPath": GUARD_MOUNT}, *mounts],
        }],
        "volumes": [{"name": "scripts", "configMap": {"name": GUARD_SCRIPTS}}, *volumes],
    }
    if not init:
        del pod["initContainers"]
    from infra.spec.guard import SCHEDULE

    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": plan.service_account, **meta,
                      **({"annotations": sa_annotations} if sa_annotations else {})}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": GUARD_SCRIPTS, **meta},
         "data": {name: (here / name).read_text()
                  for name in ("guard.py", "guard_decision.py")}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": GUARD_NAME, **meta},
         "spec": {
             "schedule": SCHEDULE,
             "concurrencyPolicy": "Forbid",  # one guard at a time
             "startingDeadlineSeconds": 240,  # a missed run is skipped; the next one comes
             "successfulJobsHistoryLimit": 1,
             "failedJobsHistoryLimit": 3,
             "jobTemplate": {"metadata": {"labels": meta["labels"]}, "spec": {
                 "backoffLimit": 1,
                 "activeDeadlineSeconds": 240,
                 "template": {"metadata": {"labels": meta["labels"]}, "spec": pod},
             }},
         }},
    ]


# -- cloud identities ---------------------------------------------------------------------------
def gke_identity(plan: GuardPlan, cluster) -> tuple[dict[str, str], list[pulumi.Resource]]:
    """GSA + custom role (the resize permissions only) + Workload Identity + bucket grants.

    Wiring as Workload Identity Federation for GKE documents it ("Link Kubernetes
    ServiceAccounts to IAM"): `roles/iam.workloadIdentityUser` on the GSA for
    `serviceAccount:PROJECT.svc.id.goog[NS/KSA]`, the KSA annotated
    `iam.gke.io/gcp-service-account`. The custom role's id never changes for a stack: GCP keeps a
    deleted custom role for 37 days and the provider undeletes it on the next create
    (hashicorp/terraform-provider-google resource_google_project_iam_custom_role.go, Create).
    """
    projects = sdk.package("pulumi_gcp.projects", "iam_custom_role", "iam_member")
    storage = sdk.package("pulumi_gcp.storage", "bucket_iam_member")
    from infra.clusters.gke import impersonable_account, object_prefix, results_read_condition

    child = cluster.child()
    gsa, impersonate, _email = impersonable_account(
        f"{plan.stack}-guard", plan.identity.split("@", 1)[0], plan.project,
        f"study {plan.stack}: scales its nodes to zero", layout.NAMESPACE, plan.service_account,
        child)
    # The email is known from the account id: no unknown output in the grants (a plan shows
    # them whole, and a resumed up declares them identically); each grant waits for the GSA.
    member = f"serviceAccount:{plan.identity}"
    after_gsa = cluster.child(depends_on=[gsa])
    role = projects.IAMCustomRole(
        f"{plan.stack}-guard-role",
        project=plan.project,
        role_id="studyGuard_" + hashlib.sha256(plan.stack.encode()).hexdigest()[:12],
        title=f"study {plan.stack} guard: resize node pools",
        permissions=list(GKE_PERMISSIONS),
        opts=child,
    )
    prefix = object_prefix(plan.bucket, plan.stack)
    grants = [
        impersonate,
        projects.IAMMember(f"{plan.stack}-guard-resize", project=plan.project, role=role.name,
                           member=member, opts=after_gsa),
        storage.BucketIAMMember(
            f"{plan.stack}-guard-read", bucket=plan.bucket, role="roles/storage.objectViewer",
            member=member,
            # Listing is checked on the bucket itself; reading only under this stack's prefix.
            condition=results_read_condition(plan.bucket, plan.stack, "guard-read"),
            opts=after_gsa),
        storage.BucketIAMMember(
            f"{plan.stack}-guard-write", bucket=plan.bucket, role="roles/storage.objectCreator",
            member=member,
            condition={"title": "guard-write",
                       "expression": f'resource.name.startsWith("{prefix}")'},
            opts=after_gsa),
    ]
    return {"iam.gke.io/gcp-service-account": plan.identity}, grants


def eks_policy(plan: GuardPlan, cluster_arn: str, node_group_arn: str) -> str:
    """The guard role's only policy: this node group's scaling, this stack's objects."""
    bucket, stack = plan.bucket, plan.stack
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadCluster", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": cluster_arn},
        {"Sid": "ScaleThisNodeGroup", "Effect": "Allow", "Action": list(EKS_SCALE_ACTIONS),
         "Resource": node_group_arn},
        {"Sid": "ReadThisStacksResults", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/{stack}/*"},
        {"Sid": "ListThisStacksResults", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [f"{stack}/*"]}}},
        {"Sid": "WriteGuardRecords", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": f"arn:aws:s3:::{bucket}/{stack}/*/guard/*"},
    ]}, sort_keys=True)


def eks_identity(plan: GuardPlan, cluster) -> list[pulumi.Resource]:
    """A role for the guard's service account through EKS Pod Identity (trust policy and
    association as in the Amazon EKS user guide, "Assign an IAM role to a Kubernetes service
    account"; pulumi-aws `eks.PodIdentityAssociation`)."""
    iam = sdk.package("pulumi_aws.iam", "role", "role_policy")
    eks = sdk.package("pulumi_aws.eks", "pod_identity_association")
    child = ResourceOptions(parent=cluster, provider=cluster.aws_provider)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
        "Action": POD_IDENTITY_ACTIONS}]})
    tags = cluster._tags("guard")
    role = iam.Role(f"{plan.stack}-guard-role", iam.RoleArgs(assume_role_policy=trust, tags=tags),
                    opts=child)
    policy = iam.RolePolicy(
        f"{plan.stack}-guard-scale",
        iam.RolePolicyArgs(
            role=role.name,
            policy=pulumi.Output.all(cluster.cluster.arn, cluster.node_group.arn).apply(
                lambda arns: eks_policy(plan, arns[0], arns[1])),
        ),
        opts=child,
    )
    association = eks.PodIdentityAssociation(
        f"{plan.stack}-guard",
        eks.PodIdentityAssociationArgs(cluster_name=cluster.cluster.name,
                                       namespace=layout.NAMESPACE,
                                       service_account=plan.service_account,
                                       role_arn=role.arn,
                                       tags=tags),
        opts=ResourceOptions(parent=cluster, provider=cluster.aws_provider,
                             depends_on=[cluster.pod_identity_agent]),
    )
    return [policy, association]


def deploy_guard(stack: str, spec, cluster, provider, namespace,
                 labels: dict[str, Any], steps: list[str]) -> pulumi.Resource:
    """The guard and its identity (`study:guard.enabled: false` never gets here: the spec
    refuses it). Returns the node-size holder, which the steps wait for: after a guard stop a
    step created before its nodes are back would spend its deadline waiting for them."""
    from core.k8s import create

    plan = guard_plan(stack, spec, steps)
    annotations: dict[str, str] = {}
    if plan.cloud == "gke":
        annotations, _grants = gke_identity(plan, cluster)
    else:
        eks_identity(plan, cluster)
    from infra.node_size import hold_node_size

    pool = cluster.node_pool if plan.cloud == "gke" else cluster.node_group
    holder = hold_node_size(plan, spec.cluster.node_count, pool, cluster)
    # The objects wait for the namespace only, like every workload: a guard pod that starts
    # before its grants propagate fails and the next run, five minutes on, succeeds.
    opts = ResourceOptions(provider=provider, depends_on=[namespace])
    for obj in guard_objects(plan, labels, annotations):
        create(obj, opts)
    pulumi.export("guard", plan.summary())
    return holder


def guard_steps(spec) -> list[str]:
    """The steps this cluster will run (a resumed `study run` skips those already collected)."""
    from infra.estimate import experiment_steps
    from infra.workloads import completed_steps

    steps = experiment_steps(spec)
    done = completed_steps(steps)
    return [s.name for s in steps if s.name not in done]
