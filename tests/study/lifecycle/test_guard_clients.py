"""The guard's real clients against real protocols on loopback: its results store through
google-cloud-storage (gcp-storage-emulator) and boto3 (moto's S3 server), its EKS scaler through
boto3 (moto's EKS), and the in-cluster script itself through the real AWS CLI against moto.

A step's results count only when MANIFEST.json (uploaded last, `{"files": {name: {"sha256",
"bytes"}}}`) and every file it lists match: a missing object, a checksum mismatch or a truncated
upload leave the step "not in the bucket", so only the deadline can stop its cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from experiments import guard
from infra.node_scaler import EksNodeScaler, GkeNodeScaler
from study.lifecycle.guard_store import GcsStore, S3Store
from tests.study.lifecycle.object_stores import gcs_client, moto_endpoint  # noqa: F401

BUCKET = "study-results-test"
RUN = "eks-2-smoke/20261201T100000Z/"
FINISHED = "2026-12-01T10:30:00+00:00"


def step_files(step: str) -> dict[str, bytes]:
    return {"log.txt": b"pulled in 1.2s\n",
            "status.json": json.dumps({"step": step, "status": "succeeded",
                                       "finished_at": FINISHED}).encode()}


def upload(put, step: str, damage: str = "") -> None:
    """What a step's uploader leaves: its files, then the manifest; `damage` breaks one file."""
    files = step_files(step)
    manifest = {"files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d)}
                          for n, d in files.items()}}
    for name, data in files.items():
        if name == "log.txt" and damage == "missing":
            continue
        if name == "log.txt" and damage == "truncated":
            data = data[:5]
        if name == "log.txt" and damage == "mismatch":
            data = data.upper()
        put(f"{RUN}steps/{step}/{name}", data)
    put(f"{RUN}steps/{step}/MANIFEST.json", json.dumps(manifest).encode())


def s3(endpoint: str):
    return boto3.client("s3", region_name="us-east-2", endpoint_url=endpoint)


def check_store(store, put) -> None:
    upload(put, "good")
    for damage in ("missing", "truncated", "mismatch"):
        upload(put, damage, damage)
    put(f"{RUN}steps/no-manifest/log.txt", b"x")
    assert store.has_step_results("good") is True
    for step in ("missing", "truncated", "mismatch", "no-manifest", "never-ran"):
        assert store.has_step_results(step) is False, step
    assert store.step_finished_at("good") == datetime.fromisoformat(FINISHED).timestamp()
    assert store.step_finished_at("truncated") is None
    store.write_record("20261201T120000Z-scale-to-zero.json", {"action": "scale-to-zero"})
    assert store.record_names() == ["20261201T120000Z-scale-to-zero.json"]
    assert json.loads(store.read_object("guard/20261201T120000Z-scale-to-zero.json")) == {
        "action": "scale-to-zero"}


class TestStores:
    """The manifest rule through each client library, against an object store on loopback."""

    def test_s3(self, moto_endpoint):  # noqa: F811
        client = s3(moto_endpoint)
        client.create_bucket(Bucket=BUCKET,
                             CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
        store = S3Store(f"s3://{BUCKET}/{RUN}", client)
        check_store(store, lambda k, d: client.put_object(Bucket=BUCKET, Key=k, Body=d))

    def test_gcs(self, gcs_client):  # noqa: F811
        bucket = gcs_client.create_bucket(BUCKET)
        store = GcsStore(f"gs://{BUCKET}/{RUN}", gcs_client)
        check_store(store, lambda k, d: bucket.blob(k).upload_from_string(d))

    def test_bad_url_is_refused(self):
        with pytest.raises(ValueError, match="expected s3://BUCKET/STACK/RUN_ID/"):
            S3Store("s3://bucket-without-prefix", client=object())


def eks_cluster(endpoint: str, nodes: int = 2):
    eks = boto3.client("eks", region_name="us-east-2", endpoint_url=endpoint)
    eks.create_cluster(name="eks-2-smoke", roleArn="arn:aws:iam::123456789012:role/c",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName="eks-2-smoke", nodegroupName="eks-2-smoke-nodes",
                         nodeRole="arn:aws:iam::123456789012:role/n", subnets=["subnet-1"],
                         scalingConfig={"minSize": nodes, "maxSize": nodes,
                                        "desiredSize": nodes})
    return eks


def scaling(eks) -> dict:
    return eks.describe_nodegroup(clusterName="eks-2-smoke",
                                  nodegroupName="eks-2-smoke-nodes")["nodegroup"]["scalingConfig"]


class TestEksScaler:
    """boto3 against moto's EKS: the group's desired size, and a scale-down that keeps max >= 1
    (EKS UpdateNodegroupConfig refuses maxSize < 1; moto models the same API)."""

    def test_reads_and_scales_to_zero(self, moto_endpoint):  # noqa: F811
        eks = eks_cluster(moto_endpoint)
        scaler = EksNodeScaler("us-east-2", "eks-2-smoke", "eks-2-smoke-nodes", eks)
        nodes, created = scaler.pool()
        created_at = eks.describe_cluster(name="eks-2-smoke")["cluster"]["createdAt"]
        assert (nodes, created) == (2, created_at.timestamp())
        scaler.scale_to_zero()
        assert scaling(eks) == {"minSize": 0, "maxSize": 2, "desiredSize": 0}

    def test_missing_group_is_named(self, moto_endpoint):  # noqa: F811
        eks_cluster(moto_endpoint)
        scaler = EksNodeScaler("us-east-2", "eks-2-smoke", "other-nodes")
        with pytest.raises(Exception, match="EKS node group eks-2-smoke/other-nodes not found"):
            scaler.pool()


class FakeContainer:
    """Stands in for google-cloud-container's ClusterManagerClient (no GKE emulator exists):
    GetCluster's `create_time`, GetNodePool's `instance_group_urls`, SetNodePoolSize's request
    (googleapis/google-cloud-python packages/google-cloud-container, container_v1 types)."""

    def __init__(self):
        self.size_requests: list[dict] = []

    def get_cluster(self, name):
        assert name == "projects/p-1/locations/us-central1-a/clusters/gke-2-smoke"
        return type("C", (), {"create_time": "2026-12-01T10:00:00+00:00"})

    def get_node_pool(self, name):
        assert name.endswith("/clusters/gke-2-smoke/nodePools/gke-2-smoke-pool")
        base = "https://www.googleapis.com/compute/v1/projects/p-1/zones/us-central1-a"
        return type("P", (), {"instance_group_urls": [
            f"{base}/instanceGroupManagers/gke-a-grp", f"{base}/instanceGroupManagers/gke-b-grp"]})

    def set_node_pool_size(self, request):
        self.size_requests.append(request)


class FakeInstanceGroups:
    def get(self, project, zone, instance_group_manager):
        assert (project, zone) == ("p-1", "us-central1-a")
        return type("M", (), {"target_size": {"gke-a-grp": 3, "gke-b-grp": 1}[
            instance_group_manager]})


def test_gke_scaler_sums_the_pools_instance_groups_and_sets_size_zero():
    container = FakeContainer()
    scaler = GkeNodeScaler("p-1", "us-central1-a", "gke-2-smoke", "gke-2-smoke-pool",
                           container, FakeInstanceGroups())
    assert scaler.pool() == (4, datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp())
    scaler.scale_to_zero()
    assert container.size_requests == [{
        "name": "projects/p-1/locations/us-central1-a/clusters/gke-2-smoke/nodePools/"
                "gke-2-smoke-pool", "node_count": 0}]


def test_gke_scale_back_waits_for_the_resize_operation(monkeypatch):
    """SetNodePoolSize returns a long-running Operation that GKE reports PENDING, RUNNING, then
    DONE (google-cloud-container container_v1 types `Operation.Status`); the node-size holder's
    update must return only once it is DONE, or the steps waiting for it start on no nodes."""
    from google.cloud import container_v1

    import infra.node_scaler as node_scaler

    status = container_v1.Operation.Status
    polls: list[str] = []

    class Resizing(FakeContainer):
        def set_node_pool_size(self, request):
            super().set_node_pool_size(request)
            return container_v1.Operation(name="operation-1", status=status.PENDING)

        def get_operation(self, name):
            polls.append(name)
            return container_v1.Operation(
                name="operation-1", status=status.RUNNING if len(polls) < 2 else status.DONE)

    monkeypatch.setattr(node_scaler.time, "sleep", lambda _s: None)
    container = Resizing()
    GkeNodeScaler("p-1", "us-central1-a", "gke-2-smoke", "gke-2-smoke-pool", container,
                  FakeInstanceGroups()).scale_to(4)
    assert [r["node_count"] for r in container.size_requests] == [4]
    assert polls == ["projects/p-1/locations/us-central1-a/operations/operation-1"] * 2


AWS_CLI = shutil.which("aws", path=str(Path(sys.executable).parent))


class TestGuardScriptWithTheAwsCli:
    """`python /guard/guard.py` as the EKS CronJob runs it, with the real `aws` CLI (v1 from
    PyPI; the image has v2, whose `eks` and `s3` commands and JSON shapes are the same) against
    moto on loopback: the node group goes to zero at the deadline, the record lands in S3."""

    def run(self, tmp_path, endpoint, hours: str):
        assert AWS_CLI is not None, "the dev group installs the AWS CLI into .venv (bin/bootstrap)"
        mount = tmp_path / "guard"
        mount.mkdir(parents=True)
        for name in ("guard.py", "guard_decision.py"):
            shutil.copy(Path(guard.__file__).parent / name, mount / name)
        env = {**{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
               "PATH": f"{Path(AWS_CLI).parent}:/usr/bin:/bin",
               "RESULTS_URL": f"s3://{BUCKET}/{RUN}", "RUN_ID": "20261201T100000Z",
               "GUARD_CLOUD": "eks", "GUARD_LOCATION": "us-east-2",
               "GUARD_CLUSTER": "eks-2-smoke", "GUARD_POOL": "eks-2-smoke-nodes",
               "GUARD_DEADLINE_HOURS": hours, "GUARD_GRACE_SECONDS": "900",
               "GUARD_STEPS": json.dumps(["good", "later"])}
        return subprocess.run([sys.executable, str(mount / "guard.py")], env=env,
                              capture_output=True, text=True, timeout=120)

    def test_deadline_scales_the_node_group_to_zero(self, tmp_path, moto_endpoint):  # noqa: F811
        eks = eks_cluster(moto_endpoint, nodes=3)
        client = s3(moto_endpoint)
        client.create_bucket(Bucket=BUCKET,
                             CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
        upload(lambda k, d: client.put_object(Bucket=BUCKET, Key=k, Body=d), "good")
        waiting = self.run(tmp_path / "a", moto_endpoint, hours="2")
        assert waiting.returncode == 0, waiting.stderr
        assert waiting.stdout.startswith("guard: wait: 1 of 2 steps have results in the bucket")
        assert scaling(eks)["desiredSize"] == 3
        done = self.run(tmp_path / "b", moto_endpoint, hours="0")  # the deadline is now
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("guard: scale-to-zero: the deadline")
        assert scaling(eks) == {"minSize": 0, "maxSize": 3, "desiredSize": 0}
        keys = [o["Key"] for o in client.list_objects_v2(
            Bucket=BUCKET, Prefix=f"{RUN}guard/")["Contents"]]
        assert len(keys) == 1 and keys[0].endswith("-scale-to-zero.json")
        record = json.loads(client.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
        assert (record["steps_in_bucket"], record["steps_missing"]) == (["good"], ["later"])


def test_eks_scale_back_restores_the_fixed_size(moto_endpoint):  # noqa: F811
    """What the node-size holder does on `pulumi up` after a guard stop (min = max = desired,
    then the nodegroup_active waiter, which moto's EKS satisfies)."""
    eks = eks_cluster(moto_endpoint, nodes=3)
    scaler = EksNodeScaler("us-east-2", "eks-2-smoke", "eks-2-smoke-nodes", eks)
    scaler.scale_to_zero()
    scaler.scale_to(3)
    assert scaling(eks) == {"minSize": 3, "maxSize": 3, "desiredSize": 3}
