"""The uploader and the guard agree on what "results are in the bucket" means, end to end.

The real upload script (`experiments/upload.sh`) copies each finished step with the real AWS CLI
(`awscli` from PyPI; the cluster runs v2 from public.ecr.aws/aws-cli/aws-cli 2.22.0, whose
`aws s3 cp`, `aws s3api list-objects-v2`, `aws eks describe-cluster`, `describe-nodegroup` and
`update-nodegroup-config` take the same arguments: aws/aws-cli awscli/customizations/s3/
subcommands.py and the EKS service model) into moto's S3 on 127.0.0.1; then the real guard
script (`experiments/guard.py`, run as the CronJob runs it: `python guard.py` beside
`guard_decision.py`, with the environment `infra.guard.guard_env` declares, `$(RUN_ID)`
expanded from the run ConfigMap's value as the kubelet does) reads the same objects, decides, and
scales moto's EKS node group. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from experiments import guard, recorder
from infra.guard import GuardPlan, guard_env
from infra.results_bucket import RUN_ID_REF
from tests.object_stores import bucket_name, cli_env, moto_endpoint, s3  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
UPLOAD = ROOT / "experiments" / "upload.sh"
STACK = "eks-2-smoke"
RUN = "20261201T181231Z"
STEPS = ("pull-a-r1", "osu-b-r1")
REGION = "us-east-2"


def iso_ago(seconds: float) -> str:
    """A finish time relative to the real clock (both scripts read the wall clock)."""
    return datetime.fromtimestamp(time.time() - seconds, UTC).isoformat(timespec="seconds")


def record_step(results: Path, step: str, finished_ago: float) -> None:
    """What the step recorder leaves for one step: its four files, then the manifest, written
    by the recorder's own functions."""
    out = results / "steps" / step
    out.mkdir(parents=True)
    events = results / "events" / "events.jsonl"
    events.parent.mkdir(exist_ok=True)
    events.write_text('{"metadata": {"uid": "e1"}, "reason": "Pulled"}\n')
    (out / "log.txt").write_text(f"===== pod {step}-0 node n1\nok\n")
    (out / "status.json").write_text(json.dumps({
        "step": step, "status": "succeeded", "started_at": iso_ago(finished_ago + 60),
        "finished_at": iso_ago(finished_ago)}))
    (out / "checks.json").write_text("[]")
    recorder.snapshot_events(str(events), str(out / "events.jsonl"))
    recorder.write_manifest(str(out))


def aws_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION}


def pod_env(plan: GuardPlan, run_id: str) -> dict[str, str]:
    """The guard container's environment as the kubelet builds it from `guard_env`: RUN_ID from
    the run ConfigMap, then `$(RUN_ID)` expanded in the variables after it."""
    env: dict[str, str] = {}
    for var in guard_env(plan):
        if "valueFrom" in var:
            env[var["name"]] = run_id
        else:
            env[var["name"]] = var["value"].replace(RUN_ID_REF, env.get("RUN_ID", RUN_ID_REF))
    return env


@pytest.fixture
def eks(moto_endpoint, s3):  # noqa: F811
    """A cluster and its node group of 2 in moto's EKS."""
    import boto3

    client = boto3.client("eks", region_name=REGION, endpoint_url=moto_endpoint)
    role = "arn:aws:iam::123456789012:role/eks"
    client.create_cluster(name=STACK, roleArn=role,
                          resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]})
    client.create_nodegroup(clusterName=STACK, nodegroupName=f"{STACK}-nodes", nodeRole=role,
                            subnets=["subnet-1"],
                            scalingConfig={"minSize": 2, "maxSize": 2, "desiredSize": 2})
    yield client
    client.delete_nodegroup(clusterName=STACK, nodegroupName=f"{STACK}-nodes")
    client.delete_cluster(name=STACK)


def test_guard_stops_the_nodes_once_every_uploaded_step_is_in_the_bucket(
        tmp_path, s3, eks, moto_endpoint):  # noqa: F811
    bucket = bucket_name()
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    url_template = f"s3://{bucket}/{STACK}/{RUN_ID_REF}/"
    plan = GuardPlan(STACK, "eks", STACK, f"{STACK}-nodes", REGION, "", deadline_hours=4.0,
                     grace_seconds=900, steps=STEPS, results_url=url_template,
                     identity="IAM role", permissions=())
    mount = tmp_path / "guard"  # the scripts ConfigMap: the two files and nothing else
    mount.mkdir()
    for name in ("guard.py", "guard_decision.py"):
        shutil.copy(Path(guard.__file__).parent / name, mount / name)
    results = tmp_path / "results"
    uploader_url = url_template.replace(RUN_ID_REF, RUN)

    def upload(step: str) -> None:
        done = subprocess.run(["sh", str(UPLOAD)], env=cli_env({
            "RESULTS_URL": uploader_url, "STEP": step, "RESULTS_DIR": str(results),
            **aws_env(moto_endpoint)}), capture_output=True, text=True, timeout=120,
            check=False)
        assert done.returncode == 0, done.stderr

    def run_guard() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(mount / "guard.py")],
                              env=cli_env({**pod_env(plan, RUN), **aws_env(moto_endpoint)}),
                              capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              check=False)

    def desired() -> int:
        group = eks.describe_nodegroup(clusterName=STACK, nodegroupName=f"{STACK}-nodes")
        return int(group["nodegroup"]["scalingConfig"]["desiredSize"])

    record_step(results, STEPS[0], finished_ago=3600)
    upload(STEPS[0])
    first = run_guard()
    assert (first.returncode, first.stdout.split(":")[:2]) == (0, ["guard", " wait"]), first
    assert "1 of 2 steps have results in the bucket" in first.stdout
    assert desired() == 2

    record_step(results, STEPS[1], finished_ago=1800)
    upload(STEPS[1])
    second = run_guard()
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("guard: scale-to-zero: all 2 steps have results"), second
    group = eks.describe_nodegroup(clusterName=STACK, nodegroupName=f"{STACK}-nodes")
    assert group["nodegroup"]["scalingConfig"] == {"minSize": 0, "maxSize": 2, "desiredSize": 0}

    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{STACK}/{RUN}/guard/")["Contents"]
    names = [o["Key"].removeprefix(f"{STACK}/{RUN}/guard/") for o in listed]
    assert len(names) == 1 and re.fullmatch(r"\d{8}T\d{6}Z-scale-to-zero\.json", names[0]), names
    record = json.loads(s3.get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read())
    assert (record["action"], record["run_id"], record["steps_in_bucket"],
            record["steps_missing"], record["target_nodes"]) == (
        "scale-to-zero", RUN, sorted(STEPS), [], 2)
