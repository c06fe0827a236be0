"""The real-cloud rules, each on the smallest objects that break it and on ones that satisfy it.

Each rule's behaviour comes from an upstream source named in `policy.cloud_rules.RULES`; the
tests below name the same source where the rule encodes a controller's behaviour.
"""

from __future__ import annotations

import pytest

from core.layout import LABEL_STEP
from policy.cloud_rules import RULES, RenderedStack, check, registry_host
from study.mock_engine import Recorded

RULE = {r.name: r for r in RULES}


def run(name: str, manifests=(), resources=(), studied=(), spec=None) -> list[str]:
    return RULE[name].check(RenderedStack(spec, list(manifests), list(resources), frozenset(studied)))


def job(name: str, containers: list[dict], step: str | None = "s1") -> dict:
    labels = {LABEL_STEP: step} if step else {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "ns", "labels": labels},
        "spec": {"template": {"spec": {"containers": containers}}},
    }


def test_every_rule_names_its_upstream_source_and_requirement():
    assert [r.name for r in RULES] == [
        "pvc-storage-class", "image-pinned", "distinct-step-services", "helper-image-registry",
        "quoted-scripts", "step-timeouts", "durable-results", "resume-upsert", "guard",
    ]
    for r in RULES:
        assert len(r.source) > 20 and len(r.doc) > 20, r.name


PVC = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "results"},
       "spec": {"accessModes": ["ReadWriteOnce"]}}
SC = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "study"},
      "provisioner": "ebs.csi.aws.com"}


def test_claim_without_class_is_refused():
    """EKS >= 1.30 has no default StorageClass (Amazon EKS user guide, 'Storage classes'); the
    DefaultStorageClass admission plugin (kubernetes/kubernetes plugin/pkg/admission/storage/
    storageclass/setdefault/admission.go) then leaves the claim's class unset: it never binds."""
    assert run("pvc-storage-class", [SC, PVC]) == [
        "PersistentVolumeClaim/results names no storageClassName; the stack installs ['study']"
    ]


def test_claim_naming_a_class_the_stack_does_not_install_is_refused():
    pvc = {**PVC, "spec": {"storageClassName": "gp2"}}
    assert run("pvc-storage-class", [pvc]) == [
        "PersistentVolumeClaim/results names storageClassName 'gp2', which the stack does not "
        "install (installed: none)"
    ]


def test_claim_naming_the_installed_class_passes():
    assert run("pvc-storage-class", [SC, {**PVC, "spec": {"storageClassName": "study"}}]) == []


def metricset(name: str, service: str | None = None) -> dict:
    spec = {"serviceName": service} if service else {}
    return {"apiVersion": "flux-framework.org/v1alpha2", "kind": "MetricSet",
            "metadata": {"name": name, "namespace": "ns"}, "spec": spec}


def test_metricsets_on_the_default_service_collide():
    """metrics-operator @8f15755 controllers/metric/service.go creates Service `serviceName`
    (CRD default `ms`) only when it is missing, selecting the first MetricSet's pods."""
    problems = run("distinct-step-services", [metricset("a"), metricset("b")])
    assert problems == [
        "MetricSet/b and MetricSet/a share the Service 'ms' in namespace 'ns'; the operator "
        "creates it only when missing, selecting the first one's pods: give each step its own "
        "Service name"
    ]


def test_metricsets_with_their_own_service_pass():
    assert run("distinct-step-services", [metricset("a", "svc-a"), metricset("b", "svc-b")]) == []


def test_miniclusters_on_the_default_headless_service_collide():
    """flux-framework/flux-operator @1f686fea: an unset `network.headlessName` becomes
    `flux-service` (api/v1alpha2/minicluster_types.go), and controllers/flux/service.go
    exposeServices creates that Service only when missing, selecting `job-name: <first>`."""
    mc = lambda n, h=None: {"kind": "MiniCluster", "metadata": {"name": n, "namespace": "ns"},  # noqa: E731
                            "spec": {"network": {"headlessName": h}} if h else {}}
    assert len(run("distinct-step-services", [mc("a"), mc("b")])) == 1
    assert len(run("distinct-step-services", [mc("a", "x"), mc("b", "x")])) == 1
    assert run("distinct-step-services", [mc("a", "a"), mc("b", "b")]) == []


def test_default_service_names_are_the_pinned_crds_defaults():
    """The rule's defaults are read from the same CRDs the plan validates against."""
    from infra.operators.manifests import install_objects
    from policy.cloud_rules import METRICSET_DEFAULT_SERVICE, MINICLUSTER_DEFAULT_SERVICE

    def crd_props(operator: str, kind: str) -> dict:
        for o in install_objects(operator):
            if o["kind"] == "CustomResourceDefinition" and o["spec"]["names"]["kind"] == kind:
                schema = o["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                return schema["properties"]["spec"]["properties"]
        raise AssertionError(kind)

    mc = crd_props("flux-operator", "MiniCluster")
    assert mc["network"]["properties"]["headlessName"]["default"] == MINICLUSTER_DEFAULT_SERVICE
    ms = crd_props("metrics-operator", "MetricSet")
    assert ms["serviceName"]["default"] == METRICSET_DEFAULT_SERVICE


def test_a_step_service_must_select_its_own_step():
    svc = {"kind": "Service", "metadata": {"name": "srv", "namespace": "ns",
                                           "labels": {LABEL_STEP: "s1"}},
           "spec": {"selector": {"app": "srv"}}}
    assert run("distinct-step-services", [svc]) == [
        f"Service/srv belongs to step 's1' but its selector {{'app': 'srv'}} does not select "
        f"{LABEL_STEP}=s1: it would also select other steps' pods"
    ]


@pytest.mark.parametrize(
    ("ref", "host"),
    [
        ("busybox:1.36.1", "docker.io"),
        ("library/python:3.12", "docker.io"),
        ("bitnami/kubectl:1.30", "docker.io"),
        ("docker.io/library/debian:12", "docker.io"),
        ("localhost/img:1", "localhost"),
        ("localhost:5000/img:1", "localhost:5000"),
        ("mirror.gcr.io/library/busybox:1.36.1", "mirror.gcr.io"),
        ("public.ecr.aws/docker/library/python:3.12", "public.ecr.aws"),
    ],
)
def test_registry_host_normalises_like_the_runtime(ref, host):
    """distribution/distribution reference/normalize.go splitDockerDomain."""
    assert registry_host(ref) == host


def test_helper_image_from_docker_hub_is_refused_but_a_studied_image_is_not():
    manifests = [job("j", [{"name": "a", "image": "busybox:1.36.1"},
                           {"name": "b", "image": "ubuntu:24.04"}])]
    problems = run("helper-image-registry", manifests, studied=["ubuntu:24.04"])
    assert len(problems) == 1
    assert problems[0].startswith("Job/j pulls 'busybox:1.36.1' from Docker Hub")


def test_helper_image_from_a_limit_free_registry_passes():
    manifests = [job("j", [{"name": "a", "image": "mirror.gcr.io/library/busybox:1.36.1"}])]
    assert run("helper-image-registry", manifests) == []


def test_operator_injected_images_are_seen():
    mc = {"kind": "MiniCluster", "metadata": {"name": "m"},
          "spec": {"containers": [{"image": "ghcr.io/x/app:1"}],
                   "flux": {"container": {"image": "fluxrm/flux-view:1"}}}}
    assert [p.split(" from ")[0] for p in run("helper-image-registry", [mc])] == [
        "MiniCluster/m pulls 'fluxrm/flux-view:1'"
    ]


class Spec:
    class experiment:  # noqa: N801 - mimics the spec's attribute
        params = {"images": ["ghcr.io/x/y:1"], "command": ["echo", "a b; rm -rf /"]}


def test_unquoted_interpolation_is_refused():
    script = "crictl rmi a b; rm -rf / && echo done"
    manifests = [job("j", [{"name": "c", "image": "ghcr.io/x/y:1",
                            "command": ["nsenter", "-t", "1", "--", "sh", "-c", script]}])]
    assert run("quoted-scripts", manifests, spec=Spec) == [
        "Job/j container c: the value 'a b; rm -rf /' is interpolated without shell quoting "
        "(shlex.quote)"
    ]


def test_quoted_interpolation_passes_and_runs_as_one_word():
    import shlex
    import subprocess

    value = "a b; rm -rf /"
    script = f"printf '%s\\n' {shlex.quote(value)}"
    manifests = [job("j", [{"name": "c", "image": "ghcr.io/x/y:1",
                            "command": ["sh", "-c", script]}])]
    assert run("quoted-scripts", manifests, spec=Spec) == []
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout == value + "\n"


def test_script_broken_by_a_quote_is_refused():
    manifests = [job("j", [{"name": "c", "image": "ghcr.io/x/y:1",
                            "command": ["sh", "-c", "crictl rmi 'it's'"]}])]
    problems = run("quoted-scripts", manifests)
    assert len(problems) == 1
    assert problems[0].startswith("Job/j container c: the script does not parse as shell words")


def recorded(name: str, timeouts: dict, step: bool = True, type_: str = "kubernetes:batch/v1:Job"):
    labels = {LABEL_STEP: "s1"} if step else {}
    return Recorded(type_, name, {"metadata": {"labels": labels}}, True,
                    options={"customTimeouts": timeouts})


def test_step_resources_need_equal_create_and_update_timeouts():
    """pulumi-kubernetes v4.34 provider/pkg/await/await.go: creates and updates are awaited with
    the resource's customTimeouts (10 minutes by default)."""
    problems = run("step-timeouts", resources=[
        recorded("a", {"create": "20m"}),
        recorded("b", {"create": "20m", "update": "10m"}),
        recorded("c", {"create": "20m", "update": "20m"}),
        recorded("d", {}, step=False),
    ])
    assert problems == [
        "Job 'a' has custom timeouts {'create': '20m'}; a step resource needs both create and update",
        "Job 'b' has update timeout 10m but create timeout 20m: a resumed up awaits an update as "
        "long as the create it replaces",
    ]


def test_kubernetes_providers_must_upsert():
    """pulumi-kubernetes v4.34 provider.go: without upsertExistingObjects a create of an object
    that exists in the cluster but not in the state fails with 'already exists'."""
    good = Recorded("pulumi:providers:kubernetes", "good", {"upsertExistingObjects": True}, True)
    bad = Recorded("pulumi:providers:kubernetes", "bad", {}, True)
    assert run("resume-upsert", resources=[good, bad]) == [
        "Kubernetes provider 'bad' does not set upsert_existing_objects: a resumed up fails with "
        "'already exists' on objects created before a kill"
    ]


def test_check_prefixes_each_problem_with_its_rule():
    stack = RenderedStack(None, [PVC])
    assert check(stack, [RULE["pvc-storage-class"]]) == [
        "rule pvc-storage-class: PersistentVolumeClaim/results names no storageClassName; the "
        "stack installs no StorageClass"
    ]


def test_study_rules_lists_every_rule_with_its_source(cli):
    import json

    code, out, _ = cli("rules", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == [r.name for r in RULES]
    assert all(r["source"] == RULE[r["name"]].source for r in rows)


def test_a_users_own_script_is_not_judged_and_comments_may_hold_quotes():
    """A pulling stack's `command: [sh, -c, "echo hello world"]` is the user's script, not an
    interpolation; a generated script may say "don't" in a comment (shlex comments=True)."""
    class UserSpec:
        class experiment:  # noqa: N801
            params = {"command": ["sh", "-c", "echo hello world"]}

    own = job("own", [{"name": "c", "image": "ghcr.io/x/y:1",
                       "command": ["sh", "-c", "echo hello world"]}])
    commented = job("gen", [{"name": "c", "image": "ghcr.io/x/y:1",
                             "command": ["sh", "-c", "# don't glob\nset -f\necho ok"]}])
    assert run("quoted-scripts", [own, commented], spec=UserSpec) == []


class TestDurableResults:
    """Each step's results leave the cluster: an upload Job per recorded step, to one
    `<bucket>/<stack>/$(RUN_ID)/`, as a service account whose cloud identity may write that
    prefix only, in a bucket the stack does not own. Wiring as in the GKE Workload Identity
    Federation docs (GSA variant, `roles/iam.workloadIdentityUser` for
    `PROJECT.svc.id.goog[NS/KSA]`), hashicorp/terraform-provider-google
    website/docs/r/storage_bucket_iam.html.markdown (member with a `condition`), and the Amazon
    EKS user guide's Pod Identity (association of namespace/service account with a role)."""

    @staticmethod
    def rendered(stack: str):
        import copy

        from policy.manifests import manifests_of
        from study.mock_engine import run_program
        from tests.conftest import ROOT, config_of, stack_yaml

        out = run_program(stack, config_of(stack_yaml(stack)), ROOT / "__main__.py")
        assert out.error is None, out.error
        manifests = [m for r in out.resources for m in manifests_of(r.type, r.inputs)]
        return copy.deepcopy(manifests), out.resources

    @pytest.mark.parametrize("stack", ["gke-64-localssd", "eks-16-pulling"])
    def test_shipped_stacks_pass(self, stack):
        manifests, resources = self.rendered(stack)
        assert run("durable-results", manifests, resources) == []

    def test_a_step_without_upload_is_refused(self):
        manifests, resources = self.rendered("gke-64-localssd")
        kept = [m for m in manifests if m["metadata"].get("name") != "upload-prepull"]
        assert run("durable-results", kept, resources) == [
            "step prepull: no upload Job, so its results live only on the cluster's volume"]

    @pytest.mark.parametrize("stack", ["gke-64-localssd", "eks-16-pulling"])
    def test_an_upload_running_as_a_shared_name_is_refused(self, stack):
        """GKE's identity pool is per project ("Workload Identity Federation for GKE",
        "Identity sameness"): the uploader runs as `results-<stack>`, never a name every
        stack's cluster has; EKS renders the same names."""
        manifests, resources = self.rendered(stack)
        up = next(m for m in manifests if m["metadata"].get("name") == "upload-prepull")
        up["spec"]["template"]["spec"]["serviceAccountName"] = "study-results-uploader"
        assert run("durable-results", manifests, resources) == [
            f"Job/upload-prepull: runs as 'study-results-uploader', not results-{stack}, the "
            "stack's own account and the only one the bucket grant is bound to"]

    def test_a_grant_wider_than_the_prefix_is_refused(self):
        manifests, resources = self.rendered("gke-64-localssd")
        (grant,) = [r for r in resources if r.type.endswith("BucketIAMMember")
                    and r.name.endswith("-results-write")]
        grant.inputs = {**grant.inputs, "condition": None}
        bucket = grant.inputs["bucket"]
        assert run("durable-results", manifests, resources) == [
            f"{grant.name}: grants roles/storage.objectCreator where None; only "
            f"roles/storage.objectCreator where resource.name.startsWith(\"projects/_/buckets/"
            f"{bucket}/objects/gke-64-localssd/\") is allowed"]

    def test_a_read_grant_beyond_the_stack_is_refused(self):
        """The uploader reads under its prefix because `gcloud storage cp --no-clobber` reads
        the destination's metadata before it writes (google-cloud-sdk
        lib/googlecloudsdk/command_lib/storage/tasks/cp/copy_util.py,
        `check_for_cloud_clobber`); reading anything else is refused."""
        manifests, resources = self.rendered("gke-64-localssd")
        (grant,) = [r for r in resources if r.type.endswith("BucketIAMMember")
                    and r.name.endswith("-results-read")]
        bucket = grant.inputs["bucket"]
        grant.inputs = {**grant.inputs, "condition": None}
        assert run("durable-results", manifests, resources) == [
            f"{grant.name}: grants roles/storage.objectViewer where None; only "
            f"roles/storage.objectViewer where resource.name == \"projects/_/buckets/{bucket}\" "
            f"|| resource.name.startsWith(\"projects/_/buckets/{bucket}/objects/"
            f"gke-64-localssd/\") is allowed"]

    def test_a_role_that_may_do_more_than_put_is_refused(self):
        import json

        manifests, resources = self.rendered("eks-16-pulling")
        (role,) = [r for r in resources if r.name == "eks-16-pulling-results-writer"
                   and r.type == "aws:iam/role:Role"]
        policy = json.loads(role.inputs["inlinePolicies"][0]["policy"])
        arn = policy["Statement"][0]["Resource"]
        policy["Statement"][0]["Action"] = "s3:*"
        role.inputs = {**role.inputs, "inlinePolicies": [
            {"name": "write-results", "policy": json.dumps(policy)}]}
        assert run("durable-results", manifests, resources) == [
            f"{role.name}: allows s3:* on {arn}; only s3:PutObject on {arn} is allowed"]

    def test_a_stack_owning_the_bucket_is_refused(self):
        manifests, resources = self.rendered("gke-64-localssd")
        (grant,) = [r for r in resources if r.type.endswith("BucketIAMMember")
                    and r.name.endswith("-results-write")]
        bucket = grant.inputs["bucket"]
        owned = Recorded("gcp:storage/bucket:Bucket", "results", {"name": bucket}, True)
        assert run("durable-results", manifests, [*resources, owned]) == [
            f"the stack owns the results bucket {bucket} (results): a destroy would delete "
            "every run's results"]

    def test_an_upload_outside_the_run_prefix_is_refused(self):
        manifests, resources = self.rendered("eks-16-pulling")
        up = next(m for m in manifests if m["metadata"].get("name") == "upload-prepull")
        env = up["spec"]["template"]["spec"]["containers"][0]["env"]
        url = next(e for e in env if e["name"] == "RESULTS_URL")
        url["value"] = url["value"].replace("$(RUN_ID)/", "")
        problems = run("durable-results", manifests, resources)
        assert problems == [f"Job/upload-prepull: RESULTS_URL {url['value']!r} is not "
                            "gs://|s3://BUCKET/STACK/$(RUN_ID)/"]
