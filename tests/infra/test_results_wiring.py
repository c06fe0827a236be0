"""What the program registers so each step's results reach the bucket (mock engine): the run's
identity, the uploader's service account and its cloud grants, one upload Job per step."""

from __future__ import annotations

import json

import pytest

from study.mock_engine import MOCK_CREATION_TIMESTAMP, run_program
from tests.conftest import ROOT, config_of, stack_yaml


@pytest.fixture(scope="module")
def programs():
    cache = {}

    def run(stack: str):
        if stack not in cache:
            out = run_program(stack, config_of(stack_yaml(stack)), ROOT / "__main__.py")
            assert out.error is None, out.error
            cache[stack] = out
        return cache[stack]

    return run


def one(out, type_: str, name: str | None = None):
    (r,) = [r for r in out.resources if r.type == type_ and (name is None or r.name == name)]
    return r


def test_run_id_is_the_namespace_creation_time_kept_forever(programs, monkeypatch):
    out = programs("gke-64-localssd")
    cm = one(out, "kubernetes:core/v1:ConfigMap", "study-run")
    assert cm.inputs["data"] == {"run_id": "20000101T000000Z"}  # MOCK_CREATION_TIMESTAMP
    assert MOCK_CREATION_TIMESTAMP == "2000-01-01T00:00:00Z"
    assert cm.options["ignoreChanges"] == ["data"]
    assert out.exports["run_id"] == "20000101T000000Z"
    assert out.exports["results_url"] == (
        "gs://study-results-study-harness-sandbox/gke-64-localssd/20000101T000000Z/")


def test_study_runs_id_wins(monkeypatch):
    monkeypatch.setenv("STUDY_RUN_ID", "20261201T181231Z")
    out = run_program("gke-4-nightly", config_of(stack_yaml("gke-4-nightly")),
                      ROOT / "__main__.py")
    assert out.error is None, out.error
    assert one(out, "kubernetes:core/v1:ConfigMap", "study-run").inputs["data"] == {
        "run_id": "20261201T181231Z"}


def test_gke_writer_is_workload_identity_to_the_stack_prefix(programs):
    out = programs("gke-64-localssd")
    cluster = one(out, "gcp:container/cluster:Cluster")
    assert cluster.inputs["workloadIdentityConfig"] == {
        "workloadPool": "study-harness-sandbox.svc.id.goog"}
    pool = one(out, "gcp:container/nodePool:NodePool")
    assert pool.inputs["nodeConfig"]["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    gsa = one(out, "gcp:serviceaccount/account:Account", "gke-64-localssd-results-writer")
    email = f"{gsa.inputs['accountId']}@study-harness-sandbox.iam.gserviceaccount.com"
    wi = one(out, "gcp:serviceaccount/iAMMember:IAMMember", "gke-64-localssd-results-writer-wi")
    assert (wi.inputs["role"], wi.inputs["member"]) == (
        "roles/iam.workloadIdentityUser",
        "serviceAccount:study-harness-sandbox.svc.id.goog[study-harness/results-gke-64-localssd]")
    grant = one(out, "gcp:storage/bucketIAMMember:BucketIAMMember",
                "gke-64-localssd-results-write")
    assert grant.inputs["member"] == f"serviceAccount:{email}"
    assert grant.inputs["role"] == "roles/storage.objectCreator"
    assert grant.inputs["condition"]["expression"] == (
        'resource.name.startsWith("projects/_/buckets/study-results-study-harness-sandbox/'
        'objects/gke-64-localssd/")')
    read = one(out, "gcp:storage/bucketIAMMember:BucketIAMMember",
               "gke-64-localssd-results-read")
    assert (read.inputs["member"], read.inputs["role"], read.inputs["condition"]) == (
        f"serviceAccount:{email}", "roles/storage.objectViewer",
        {"title": "read-gke-64-localssd", "expression":
         'resource.name == "projects/_/buckets/study-results-study-harness-sandbox" || '
         'resource.name.startsWith("projects/_/buckets/study-results-study-harness-sandbox/'
         'objects/gke-64-localssd/")'})
    sa = [r for r in out.resources if r.type == "kubernetes:core/v1:ServiceAccount"
          and r.inputs["metadata"]["name"] == "results-gke-64-localssd"]
    assert [s.inputs["metadata"]["annotations"] for s in sa] == [
        {"iam.gke.io/gcp-service-account": email}]
    assert not [r for r in out.resources if r.type.startswith("gcp:storage/bucket:")]


def test_eks_writer_is_pod_identity_with_put_only(programs):
    out = programs("eks-16-pulling")
    assoc = one(out, "aws:eks/podIdentityAssociation:PodIdentityAssociation",
                "eks-16-pulling-results-writer")
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == (
        "study-harness", "results-eks-16-pulling")
    role = one(out, "aws:iam/role:Role", "eks-16-pulling-results-writer")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert trust["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    (policy,) = role.inputs["inlinePolicies"]
    assert json.loads(policy["policy"])["Statement"] == [{
        "Sid": "WriteThisStacksResults", "Effect": "Allow", "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::study-results-123456789012-us-east-2/eks-16-pulling/*"}]
    assert not [r for r in out.resources if r.type.startswith("aws:s3/")]


def test_every_step_uploads_after_its_recorder(programs):
    out = programs("eks-16-pulling")
    jobs = {r.inputs["metadata"]["name"]: r for r in out.resources
            if r.type == "kubernetes:batch/v1:Job"}
    steps = out.exports["steps"]
    assert sorted(n for n in jobs if n.startswith("upload-")) == sorted(
        f"upload-{s}" for s in steps)
    pod = jobs[f"upload-{steps[0]}"].inputs["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"].startswith("public.ecr.aws/aws-cli/aws-cli:")
    assert c["command"] == ["sh", "/recorder/upload.sh"]
    env = {e["name"]: e for e in c["env"]}
    assert env["RESULTS_URL"]["value"] == (
        "s3://study-results-123456789012-us-east-2/eks-16-pulling/$(RUN_ID)/")
    assert [e["name"] for e in c["env"]][:2] == ["RUN_ID", "RESULTS_URL"]  # defined before use
    assert env["STEP"]["value"] == steps[0] and env["AWS_REGION"]["value"] == "us-east-2"
    assert pod["serviceAccountName"] == "results-eks-16-pulling"
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["results"]["readOnly"] is True
    for step in steps:  # after its recorder, its run identity and its cloud grants
        deps = {d.rsplit("::", 1)[1] for d in jobs[f"upload-{step}"].options["dependencies"]}
        assert {f"job-rec-{step}", "study-run", "eks-16-pulling-results-writer"} <= deps, step


def test_results_url_in_the_program_names_the_resolved_bucket(programs):
    """The one function every in-cluster component's RESULTS_URL comes from: on EKS the bucket
    carries the account the program resolved (the mock engine's is AWS's example account)."""
    from infra.results_bucket import RUN_ID_REF, results_url
    from infra.spec import load_spec

    programs("eks-16-pulling")
    spec = load_spec(config_of(stack_yaml("eks-16-pulling")))
    assert results_url(spec, RUN_ID_REF, "eks-16-pulling") == (
        "s3://study-results-123456789012-us-east-2/eks-16-pulling/$(RUN_ID)/")
