"""The in-cluster step recorder against a fake API server on loopback: what it leaves on the
results volume, and how soon it sees its step end.

This is the contract with `study collect`: status.json (status, start and end, checks), log.txt
and pods.json under /results/steps/<step>/, written whatever happened to the step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.experiments.fake_kube_api import FakeKubeApi
from tests.experiments.recorder_setup import seed_recorder

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "experiments"
IMAGE = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes"
JOB = "/apis/batch/v1/namespaces/study-harness/jobs/pull-x-r1"


def seed_pods() -> list[dict]:
    """The seed's 4 pull pods for one image, with the nodes the events say they ran on."""
    nodes = {}
    for line in (FIX / "run1-4-size-1176249324.jsonl").read_text().splitlines()[1:]:
        ev = json.loads(line)
        if ev["reason"] == "Pulled" and "chonks" in ev["message"]:
            nodes[ev["involvedObject"]["name"]] = ev["reportingInstance"]
    return [{"metadata": {"name": p, "labels": {"study-harness.io/step": "pull-x-r1"}},
             "spec": {"nodeName": n},
             "status": {"phase": "Succeeded", "startTime": "2024-11-10T06:20:00Z"}}
            for p, n in sorted(nodes.items())]


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    rec = seed_recorder(tmp_path, monkeypatch)
    env = {
        "STEP": "pull-x-r1", "KIND": "pulling", "NAMESPACE": "study-harness",
        "WAIT_FOR": json.dumps([JOB]), "OWNERS": json.dumps([JOB]),
        "POD_SELECTOR": "study-harness.io/step=pull-x-r1", "DEADLINE_SECONDS": "600",
        "EXPECT": json.dumps({"pull_images": [IMAGE], "nodes": 4, "pods_per_node": 1}),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    fakes: list[FakeKubeApi] = []
    real = rec.Api

    def run(job: dict, pods: list[dict], during=None):
        api = FakeKubeApi({JOB: job}, pods, {(p["metadata"]["name"], None): "hello\n"
                                             for p in pods})
        fakes.append(api)
        base = api.serve()
        monkeypatch.setattr(rec, "Api", lambda: real(base, token="test"))
        if during is not None:
            during(api)
        assert rec.main() == 0
        out = tmp_path / "steps" / "pull-x-r1"
        return api, json.loads((out / "status.json").read_text()), out

    yield run
    for api in fakes:
        api.close()


DONE = {"status": {"startTime": "2024-11-10T06:20:00Z", "completionTime": "2024-11-10T06:20:31Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}}


def test_seed_step_is_recorded_invalid(recorder):
    """The seed's pods pulled on 2 of 4 nodes: the step ran, but its measurement is invalid."""
    _, status, out = recorder(DONE, seed_pods())
    assert status["status"] == "invalid"
    assert (status["started_at"], status["finished_at"]) == (
        "2024-11-10T06:20:00Z", "2024-11-10T06:20:31Z")
    pulls = next(c for c in status["checks"] if c["check"] == "pulls")
    assert (pulls["observed_pulls"], pulls["expected_pulls"]) == (2, 4)
    pods = json.loads((out / "pods.json").read_text())
    assert len(pods) == 4
    assert (out / "log.txt").read_text().count("===== pod") == 4


def test_failed_job_is_data(recorder):
    failed = {"status": {"startTime": "2024-11-10T06:20:00Z",
                         "conditions": [{"type": "Failed", "status": "True",
                                         "lastTransitionTime": "2024-11-10T06:21:00Z"}]}}
    api, status, _ = recorder(failed, seed_pods())
    assert status["status"] == "failed" and status["finished_at"] == "2024-11-10T06:21:00Z"
    assert api.deletes == []


def test_deadline_stops_the_workload(recorder, monkeypatch):
    from experiments import recorder as rec

    clock = iter(range(0, 100000, 300))
    monkeypatch.setattr(rec.time, "time", lambda: next(clock))
    api, status, _ = recorder({"status": {"startTime": "2024-11-10T06:20:00Z"}}, seed_pods())
    assert status["status"] == "deadline"
    assert api.deletes == [(JOB, "Background")]


def test_statuses_are_the_layout_ones():
    from core import layout
    from experiments import recorder

    assert set(recorder.DONE.values()) | {"running", "deadline", "invalid"} <= set(
        layout.STEP_STATUSES)


class TestWhatTheUploadGets:
    """The recorder leaves, for the upload Job, checks.json, the events so far and a manifest
    whose checksums match the files byte for byte (the bucket contract)."""

    def test_manifest_matches_every_file(self, recorder):
        import hashlib

        _, status, out = recorder(DONE, seed_pods())
        manifest = json.loads((out / "MANIFEST.json").read_text())
        assert sorted(manifest["files"]) == ["checks.json", "events.jsonl", "log.txt",
                                             "status.json"]
        for name, meta in manifest["files"].items():
            data = (out / name).read_bytes()
            assert meta == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}, name
        assert json.loads((out / "checks.json").read_text()) == status["checks"]
        assert (out / "events.jsonl").read_bytes() == (
            FIX / "run1-4-size-1176249324.jsonl").read_bytes()

    def test_events_snapshot_stops_at_the_last_complete_line(self, tmp_path):
        from experiments import recorder as rec

        src = tmp_path / "events.jsonl"
        src.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')  # the event recorder is mid-write
        rec.snapshot_events(str(src), str(tmp_path / "snap.jsonl"))
        assert (tmp_path / "snap.jsonl").read_bytes() == b'{"a": 1}\n{"b": 2}\n'

    def test_no_events_file_is_an_empty_snapshot(self, tmp_path):
        from experiments import recorder as rec

        rec.snapshot_events(str(tmp_path / "absent.jsonl"), str(tmp_path / "snap.jsonl"))
        assert (tmp_path / "snap.jsonl").read_bytes() == b""


class TestFlushWait:
    """A pull step reads its events as soon as every pod's `Pulled` is recorded, not after a
    fixed 15 s; when a pull never shows up it still stops at FLUSH_SECONDS."""

    def lines(self) -> list[str]:
        return (FIX / "run1-4-size-1176249324.jsonl").read_text().splitlines(keepends=True)

    def setup(self, tmp_path, monkeypatch, clock):
        from experiments import recorder as rec

        (tmp_path / "events").mkdir()
        monkeypatch.setattr(rec, "RESULTS", str(tmp_path))
        monkeypatch.setattr(rec.time, "time", lambda: clock[0])
        return rec, tmp_path / "events" / "events.jsonl"

    def test_returns_when_the_last_pull_is_recorded(self, tmp_path, monkeypatch):
        clock = [1000.0]
        rec, path = self.setup(tmp_path, monkeypatch, clock)
        lines = self.lines()
        last_pull = max(i for i, line in enumerate(lines)
                        if '"Pulled"' in line and "chonks" in line)
        path.write_text("".join(lines[:last_pull]))  # the last pod's Pulled not yet written
        sleeps = []

        def sleep(s):
            sleeps.append(s)
            clock[0] += s
            path.write_text("".join(lines))  # the event recorder catches up

        monkeypatch.setattr(rec.time, "sleep", sleep)
        pods = {p["metadata"]["name"] for p in seed_pods()}
        events = rec.flushed_events([IMAGE], pods)
        assert sleeps == [rec.FLUSH_POLL_SECONDS]
        assert len(events) == len(lines) - 1  # every event line (the first is the exporter's)

    def test_gives_up_after_the_flush_limit(self, tmp_path, monkeypatch):
        clock = [1000.0]
        rec, path = self.setup(tmp_path, monkeypatch, clock)
        path.write_text("".join(line for line in self.lines() if '"Pulled"' not in line))

        def sleep(s):
            clock[0] += s

        monkeypatch.setattr(rec.time, "sleep", sleep)
        pods = {p["metadata"]["name"] for p in seed_pods()}
        rec.flushed_events([IMAGE], pods)
        assert clock[0] == 1000.0 + rec.FLUSH_SECONDS


RUNNING = {"status": {"startTime": "2024-11-10T06:20:00Z", "active": 4}}


class TestNoticingTheEnd:
    """Every second between a step's end and the recorder noticing it is paid by the whole
    cluster: the recorder reads the Job once and then watches it from the resourceVersion it
    read (kubernetes/kubernetes staging/src/k8s.io/apimachinery/pkg/watch; the API server replays
    every change after that version), so neither a change before the watch opens nor one while
    it is open waits for a poll."""

    def job_reads(self, api) -> int:
        return sum(1 for m, t in api.requests if m == "GET" and t == JOB)

    def test_an_end_committed_before_the_watch_opens_is_replayed(self, recorder):
        def during(api):
            api.on_watch = lambda fake: fake.update(JOB, DONE)  # between the read and the watch

        api, status, _ = recorder(RUNNING, seed_pods(), during)
        assert status["finished_at"] == "2024-11-10T06:20:31Z"
        assert self.job_reads(api) == 1 and len(api.watches) == 1
        watch = next(t for m, t in api.requests if "watch=1" in t)
        assert "fieldSelector=metadata.name%3Dpull-x-r1" in watch
        assert "resourceVersion=101" in watch  # the version the read returned

    def test_an_end_while_the_watch_is_open_arrives_through_it(self, recorder):
        import threading

        def during(api):
            api.max_watch_seconds = 30.0  # the end must come through the open watch
            api.on_watch = lambda fake: threading.Timer(0.05, fake.update, (JOB, DONE)).start()

        api, status, _ = recorder(RUNNING, seed_pods(), during)
        assert status["finished_at"] == "2024-11-10T06:20:31Z"
        assert self.job_reads(api) == 1 and len(api.watches) == 1

    def test_an_expired_version_reads_again(self, recorder):
        """A 410 `ERROR` event (the version is older than the server keeps): read, then go on."""
        def during(api):
            api.history = 1

            def expire(fake):
                fake.update(JOB, RUNNING)  # the history now starts after the version read
                fake.update(JOB, DONE)
            api.on_watch = expire

        api, status, _ = recorder(RUNNING, seed_pods(), during)
        assert status["finished_at"] == "2024-11-10T06:20:31Z"
        assert self.job_reads(api) == 2 and len(api.watches) == 1

    def test_without_a_watch_it_polls_every_second(self, recorder, monkeypatch):
        from experiments import recorder as rec

        sleeps = []
        fakes = []

        def sleep(s):
            sleeps.append(s)
            fakes[0].update(JOB, DONE)

        def during(api):
            api.watch_status = 403
            fakes.append(api)

        monkeypatch.setattr(rec.time, "sleep", sleep)
        api, status, _ = recorder(RUNNING, seed_pods(), during)
        assert status["finished_at"] == "2024-11-10T06:20:31Z"
        assert sleeps[0] == rec.POLL_SECONDS == 1
        assert self.job_reads(api) == 2
