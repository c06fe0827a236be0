"""The in-cluster upload script (`experiments/upload.sh`), run for real.

EKS: the real AWS CLI (`awscli` from PyPI, v1; the cluster runs v2 from
public.ecr.aws/aws-cli/aws-cli, whose `aws s3 cp SRC s3://BUCKET/KEY` is the same command,
aws/aws-cli awscli/customizations/s3/subcommands.py) against moto's S3 server on 127.0.0.1,
found through `AWS_ENDPOINT_URL` (botocore's endpoint configuration). GKE: `gcloud` cannot be
installed here, so a stub on PATH records its argv; `gcloud storage cp --no-clobber SRC DEST` is
the documented form (Google Cloud SDK reference, "gcloud storage cp": `--no-clobber` skips
objects that exist, which `roles/storage.objectCreator` could not overwrite anyway).
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from study.lifecycle.bucket_results import fetch_run
from study.lifecycle.object_store import S3Store
from tests.object_stores import bucket_name, cli_env, moto_endpoint, s3  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "upload.sh"
STEP = "pull-l9-s1176249324-r1"
RUN = "20261201T181231Z"


def step_dir(results: Path, step: str = STEP) -> Path:
    """What the recorder leaves for one step, manifest included (its own functions)."""
    from experiments import recorder as rec

    out = results / "steps" / step
    out.mkdir(parents=True)
    (results / "events").mkdir(exist_ok=True)
    (results / "events" / "events.jsonl").write_text('{"metadata": {"uid": "e1"}}\n')
    (out / "log.txt").write_text("===== pod p node n\nhello\n")
    (out / "status.json").write_text(json.dumps({"step": step, "status": "succeeded"}))
    (out / "checks.json").write_text("[]")
    rec.snapshot_events(str(results / "events" / "events.jsonl"), str(out / "events.jsonl"))
    rec.write_manifest(str(out))
    return out


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(SCRIPT)], env=cli_env(env), capture_output=True, text=True,
                          timeout=120, check=False)


def test_aws_cli_uploads_a_step_that_the_collector_verifies(tmp_path, s3, moto_endpoint):  # noqa: F811
    name = bucket_name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
    step_dir(tmp_path)
    done = run_script({
        "RESULTS_URL": f"s3://{name}/eks-2-smoke/{RUN}/", "STEP": STEP,
        "RESULTS_DIR": str(tmp_path), "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-2", "AWS_DEFAULT_REGION": "us-east-2",
    })
    assert done.returncode == 0, done.stderr
    store = S3Store(name, "us-east-2", client=s3)
    run = fetch_run(store, "eks-2-smoke", RUN)
    assert list(run.steps) == [STEP]
    assert run.steps[STEP].complete, run.steps[STEP].problems
    assert run.steps[STEP].files["log.txt"] == b"===== pod p node n\nhello\n"
    assert run.summary([STEP])["complete"] is True


@pytest.fixture
def gcloud_stub(tmp_path):
    """A `gcloud` that records its argv, one JSON line per call."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    stub = bin_dir / "gcloud"
    stub.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return bin_dir, calls


def test_gcloud_copies_every_file_then_the_manifest_last(tmp_path, gcloud_stub):
    bin_dir, calls = gcloud_stub
    src = step_dir(tmp_path / "results")
    url = f"gs://study-results-p/gke-2-smoke/{RUN}/"
    done = run_script({"RESULTS_URL": url, "STEP": STEP, "RESULTS_DIR": str(tmp_path / "results"),
                       "PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    argv = [json.loads(line) for line in calls.read_text().splitlines()]
    dest = f"{url}steps/{STEP}"
    assert argv == [
        ["storage", "cp", "--no-clobber", f"{src}/{n}", f"{dest}/{n}"]
        for n in ("log.txt", "status.json", "checks.json", "events.jsonl", "MANIFEST.json")
    ]


class TestRefusesBadInput:
    """A value that is not what the program renders stops the script before any cloud call."""

    @pytest.mark.parametrize(("url", "why"), [
        ("gs://b/stack/$(RUN_ID)/", "has characters outside"),  # the ConfigMap key was missing
        ("gs://b/stack/run", "must be gs://BUCKET/STACK/RUN_ID/"),
        ("http://b/stack/run/", "must be gs://BUCKET/STACK/RUN_ID/"),
        ("s3://b/st ack/run/", "has characters outside"),
    ])
    def test_bad_results_url(self, tmp_path, gcloud_stub, url, why):
        bin_dir, calls = gcloud_stub
        step_dir(tmp_path / "results")
        done = run_script({"RESULTS_URL": url, "STEP": STEP,
                           "RESULTS_DIR": str(tmp_path / "results"),
                           "PATH": f"{bin_dir}:/usr/bin:/bin"})
        assert done.returncode == 2
        assert f"upload: RESULTS_URL='{url}' {why}" in done.stderr
        assert not calls.exists()

    def test_bad_step(self, tmp_path, gcloud_stub):
        bin_dir, calls = gcloud_stub
        done = run_script({"RESULTS_URL": "gs://b/s/r/", "STEP": "../etc",
                           "RESULTS_DIR": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin"})
        assert done.returncode == 2
        assert done.stderr.strip() == "upload: STEP='../etc' is not a DNS-1123 label"
        assert not calls.exists()

    def test_unfinished_recorder(self, tmp_path, gcloud_stub):
        bin_dir, calls = gcloud_stub
        (tmp_path / "steps" / STEP).mkdir(parents=True)
        done = run_script({"RESULTS_URL": "gs://b/s/r/", "STEP": STEP,
                           "RESULTS_DIR": str(tmp_path), "PATH": f"{bin_dir}:/usr/bin:/bin"})
        assert done.returncode == 1
        assert done.stderr.strip() == (f"upload: {tmp_path}/steps/{STEP}/MANIFEST.json is "
                                       "missing: the step's recorder did not finish")
        assert not calls.exists()
