"""The guard as it runs in the cluster: `python /guard/guard.py` with only its two mounted files,
the cloud CLIs on PATH (stand-ins in stubs/cloud_cli_stub.py) and the environment infra/guard.py
sets.

What it must leave behind: a pool at zero when the deadline has passed or when every step's
results are in the bucket and the grace is over, a record of what it did and why under
`guard/` in the run's results URL, nothing touched otherwise, and a one-line error (exit 1)
for bad configuration before any cloud call.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from experiments import guard

HERE = Path(__file__).resolve().parent
STUB = HERE / "stubs" / "cloud_cli_stub.py"
SCRIPTS = Path(guard.__file__).resolve().parent
STEPS = ["pull-a-r1", "pull-b-r1"]


def when(hours_ago: float) -> str:
    """A time relative to the real clock (the script reads the wall clock)."""
    return datetime.fromtimestamp(time.time() - hours_ago * 3600, UTC).isoformat()


class Cloud:
    """A stub cloud on disk: a bucket, one node pool, the CLIs that reach them."""

    def __init__(self, root: Path, cloud: str, created_hours_ago: float, nodes: int = 4):
        self.root, self.cloud = root, cloud
        (root / "objects").mkdir(parents=True)
        self.scheme = "gs" if cloud == "gke" else "s3"
        self.url = f"{self.scheme}://study-results-test/gke-2-smoke/20261201T100000Z/"
        self.pool = {"created": when(created_hours_ago), "min": nodes, "max": nodes,
                     "desired": nodes}
        (root / "pool.json").write_text(json.dumps(self.pool))
        self.bin = root / "bin"
        self.bin.mkdir()
        for tool in ("gcloud", "aws"):
            exe = self.bin / tool
            exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, "
                           f"{str(STUB.parent)!r})\nimport cloud_cli_stub\n"
                           f"cloud_cli_stub.main({tool!r})\n")
            exe.chmod(0o755)
        self.mount = root / "guard"  # the ConfigMap's two files, nothing else
        self.mount.mkdir()
        for name in ("guard.py", "guard_decision.py"):
            shutil.copy(SCRIPTS / name, self.mount / name)

    def obj(self, key: str) -> Path:
        return self.root / "objects" / self.url.split("://", 1)[1] / key

    def upload_step(self, step: str, finished_hours_ago: float, corrupt: bool = False) -> None:
        """What the step recorder uploads: files first, the manifest last."""
        files = {
            "log.txt": b"pulled\n",
            "status.json": json.dumps({"step": step, "status": "succeeded",
                                       "finished_at": when(finished_hours_ago)}).encode(),
        }
        manifest = {"files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d)}
                              for n, d in files.items()}}
        for name, data in files.items():
            p = self.obj(f"steps/{step}/{name}")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data + (b"truncated" if corrupt and name == "log.txt" else b""))
        self.obj(f"steps/{step}/MANIFEST.json").write_bytes(json.dumps(manifest).encode())

    def env(self, **over: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.bin}:/usr/bin:/bin", "CLOUD_STUB_DIR": str(self.root),
            "RESULTS_URL": self.url, "RUN_ID": "20261201T100000Z", "GUARD_CLOUD": self.cloud,
            "GUARD_LOCATION": "us-central1-a" if self.cloud == "gke" else "us-east-2",
            "GUARD_CLUSTER": "gke-2-smoke", "GUARD_POOL": "gke-2-smoke-pool",
            "GUARD_DEADLINE_HOURS": "2", "GUARD_GRACE_SECONDS": "900",
            "GUARD_STEPS": json.dumps(STEPS),
        }
        if self.cloud == "gke":
            env["GUARD_PROJECT"] = "study-project"
        return {**env, **over}

    def run(self, **over: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(self.mount / "guard.py")], env=self.env(**over),
                              capture_output=True, text=True, timeout=60, cwd=self.root)

    def decided(self, says: str) -> None:
        """One pass that decided: exit 0 and a stdout line starting `guard: <says>`."""
        proc = self.run()
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith(f"guard: {says}")

    def state(self) -> dict:
        return json.loads((self.root / "pool.json").read_text())

    def records(self) -> dict[str, dict]:
        d = self.obj("guard")
        return {p.name.split("-", 1)[1]: json.loads(p.read_text())
                for p in sorted(d.iterdir())} if d.is_dir() else {}

    def calls(self) -> list[list[str]]:
        f = self.root / "calls.jsonl"
        return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


@pytest.mark.parametrize("cloud", ["gke", "eks"])
class TestGuardScript:
    """The script itself, per cloud, through the CLIs it calls."""

    def test_deadline_passed_scales_to_zero_and_records_why(self, tmp_path, cloud):
        c = Cloud(tmp_path, cloud, created_hours_ago=2.5)
        c.upload_step(STEPS[0], finished_hours_ago=2.0)
        c.decided("scale-to-zero: the deadline ")
        assert c.state()["desired"] == 0
        rec = c.records()["scale-to-zero.json"]
        assert rec["action"] == "scale-to-zero"
        assert rec["steps_in_bucket"] == [STEPS[0]]
        assert rec["steps_missing"] == [STEPS[1]]
        assert rec["target_nodes"] == 4
        if cloud == "eks":  # EKS refuses maxSize 0: the group keeps its max
            assert (c.state()["min"], c.state()["max"]) == (0, 4)

    def test_results_in_bucket_and_grace_over_scales_to_zero(self, tmp_path, cloud):
        c = Cloud(tmp_path, cloud, created_hours_ago=1.0)
        c.upload_step(STEPS[0], finished_hours_ago=0.8)
        c.upload_step(STEPS[1], finished_hours_ago=0.5)  # 30 min ago > 15 min grace
        c.decided("scale-to-zero: all 2 steps have results")
        assert c.state()["desired"] == 0
        assert c.records()["scale-to-zero.json"]["steps_in_bucket"] == STEPS

    def test_run_in_progress_is_left_alone(self, tmp_path, cloud):
        c = Cloud(tmp_path, cloud, created_hours_ago=1.0)
        c.upload_step(STEPS[0], finished_hours_ago=0.5)
        c.decided("wait: 1 of 2 steps have results in the bucket")
        assert c.state()["desired"] == 4
        assert c.records() == {}
        assert not [call for call in c.calls() if "resize" in call or "update-nodegroup-config" in call]

    def test_a_corrupt_upload_does_not_count_as_results(self, tmp_path, cloud):
        c = Cloud(tmp_path, cloud, created_hours_ago=1.0)
        c.upload_step(STEPS[0], finished_hours_ago=0.8)
        c.upload_step(STEPS[1], finished_hours_ago=0.5, corrupt=True)
        c.decided("wait: 1 of 2 steps have results in the bucket")
        assert c.state()["desired"] == 4

    def test_scaled_back_after_the_guard_counts_the_deadline_again(self, tmp_path, cloud):
        c = Cloud(tmp_path, cloud, created_hours_ago=2.5)
        assert c.run().stdout.startswith("guard: scale-to-zero")
        c.pool.update(desired=4, min=4)  # `pulumi up` scaled the pool back
        (tmp_path / "pool.json").write_text(json.dumps(c.pool))
        time.sleep(1.1)  # records are named by the second
        c.decided("resumed: the node pool has 4 nodes again")
        assert c.state()["desired"] == 4
        assert sorted(c.records()) == ["resumed.json", "scale-to-zero.json"]
        # The next pass: the deadline now counts from the resume.
        c.decided("wait: 0 of 2 steps have results in the bucket")

    def test_a_failed_scale_is_recorded_and_exits_1(self, tmp_path, cloud):
        c = Cloud(tmp_path, cloud, created_hours_ago=2.5)
        c.pool["fail"] = True
        (tmp_path / "pool.json").write_text(json.dumps(c.pool))
        proc = c.run()
        assert proc.returncode == 1
        assert proc.stderr.startswith("guard: ")
        assert list(c.records()) == ["scale-failed.json"]


def test_bad_configuration_is_one_line_before_any_cloud_call(tmp_path):
    c = Cloud(tmp_path, "gke", created_hours_ago=1.0)
    proc = c.run(GUARD_CLUSTER="gke-2-smoke; rm -rf /")
    assert proc.returncode == 1
    assert proc.stderr == ("guard: GUARD_CLUSTER='gke-2-smoke; rm -rf /' is not allowed; "
                           "expected a cluster name\n")
    assert c.calls() == []


def test_results_url_of_the_other_cloud_is_refused(tmp_path):
    c = Cloud(tmp_path, "eks", created_hours_ago=1.0)
    proc = c.run(RESULTS_URL="gs://study-results-test/gke-2-smoke/20261201T100000Z/")
    assert proc.stderr == ("guard: RESULTS_URL='gs://study-results-test/gke-2-smoke/"
                           "20261201T100000Z/' is not allowed; a eks guard writes to its own "
                           "cloud\n")
    assert c.calls() == []
