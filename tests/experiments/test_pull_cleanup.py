"""The pull step's recorder: clear records from every node, then a foreground delete it waits out.

Why foreground and a wait: containerd keeps a layer snapshot while any container uses it, also an
exited one (containerd v2.1 internal/cri/server/images/image_remove.go), so the next repeat's
clear must find the previous pull pods gone. With `propagationPolicy: Foreground` the API server
keeps the Job (or DaemonSet) until the garbage collector has deleted its pods
(kubernetes.io/docs/concepts/architecture/garbage-collection, foreground cascading deletion).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.experiments.recorder_setup import seed_recorder

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "experiments"
IMAGE = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes"
NS = "study-harness"
JOB = f"/apis/batch/v1/namespaces/{NS}/jobs/pull-x-r1"
DS = f"/apis/apps/v1/namespaces/{NS}/daemonsets/clr-pull-x-r1"
PULL_SEL = "study-harness.io/step=pull-x-r1,study-harness.io/role=workload"
CLEAR_SEL = "study-harness.io/step=pull-x-r1,study-harness.io/role=cache-clear"
DONE = {"status": {"startTime": "2024-11-10T06:20:00Z", "completionTime": "2024-11-10T06:20:31Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}}


def seed_nodes() -> dict[str, str]:
    """pod -> node of the seed's run1 4-node pulls of one image (2 of 4 nodes pulled)."""
    out = {}
    for line in (FIX / "run1-4-size-1176249324.jsonl").read_text().splitlines()[1:]:
        ev = json.loads(line)
        if ev["reason"] == "Pulled" and "chonks" in ev["message"]:
            out[ev["involvedObject"]["name"]] = ev["reportingInstance"]
    return out


class FakeApi:
    """Objects disappear `lag` polls after a foreground delete, pods with them."""

    def __init__(self, pods: dict[str, list[dict]], logs: dict[str, str], lag: int = 2):
        self.pods, self.logs, self.lag = pods, logs, lag
        self.objects = {JOB: DONE, DS: {"status": {}}}
        self.deletes: list[tuple[str, str]] = []
        self.countdown: dict[str, int] = {}

    def request(self, path, method="GET", raw=False, propagation="Background"):
        if method == "DELETE":
            self.deletes.append((path, propagation))
            self.countdown[path] = self.lag
            return {}
        if path in self.objects:
            if path in self.countdown:
                self.countdown[path] -= 1
                if self.countdown[path] < 0:
                    del self.objects[path]
                    self.pods[PULL_SEL if path == JOB else CLEAR_SEL] = []
                    raise_404(path)
            return self.objects[path]
        if path in (JOB, DS):
            raise_404(path)
        if "/pods?labelSelector=" in path:
            from urllib.parse import unquote

            return {"items": self.pods[unquote(path.split("=", 1)[1])]}
        if "/log" in path:
            return self.logs[path.split("/pods/")[1].split("/")[0]]
        raise AssertionError(path)


def raise_404(path):
    import urllib.error

    raise urllib.error.HTTPError(path, 404, "Not Found", {}, None)


def pod(name, node, phase="Succeeded"):
    return {"metadata": {"name": name}, "spec": {"nodeName": node},
            "status": {"phase": phase, "startTime": "2024-11-10T06:20:00Z"}}


@pytest.fixture
def run(tmp_path, monkeypatch):
    rec = seed_recorder(tmp_path, monkeypatch)
    expect = {"pull_images": [IMAGE], "nodes": 2, "pods_per_node": 1,
              "pull_speed": {IMAGE: 1176249324},
              "clears": {"selector": CLEAR_SEL, "container": "clear", "ok": "cache-clear: OK"},
              "cleanup": [JOB, DS]}
    for k, v in {"STEP": "pull-x-r1", "KIND": "pulling", "NAMESPACE": NS,
                 "WAIT_FOR": json.dumps([JOB]), "OWNERS": json.dumps([JOB]),
                 "POD_SELECTOR": PULL_SEL, "DEADLINE_SECONDS": "600",
                 "EXPECT": json.dumps(expect)}.items():
        monkeypatch.setenv(k, v)

    def go(clear_logs: dict[str, str], lag: int = 2, clear_restarts: dict[str, int] | None = None):
        nodes = sorted(set(seed_nodes().values()))
        pulls = [pod(p, n) for p, n in sorted(seed_nodes().items())]
        pulls = [next(p for p in pulls if p["spec"]["nodeName"] == n) for n in nodes]
        clears = [pod(f"clr-{i}", n, "Running") for i, n in enumerate(nodes)]
        for c in clears:  # the DaemonSet pod's statuses, as the API server reports them
            restarts = (clear_restarts or {}).get(c["spec"]["nodeName"], 0)
            c["status"]["initContainerStatuses"] = [
                {"name": "prepare", "restartCount": 0},
                {"name": "clear", "restartCount": restarts}]
            c["status"]["containerStatuses"] = [{"name": "idle", "restartCount": 0}]
        logs = {p["metadata"]["name"]: "pulled\n" for p in pulls}
        logs.update({f"clr-{i}": clear_logs.get(n, "") for i, n in enumerate(nodes)})
        api = FakeApi({PULL_SEL: pulls, CLEAR_SEL: clears}, logs, lag)
        monkeypatch.setattr(rec, "Api", lambda: api)
        assert rec.main() == 0
        status = json.loads((tmp_path / "steps" / "pull-x-r1" / "status.json").read_text())
        return api, status, nodes

    return go


def ok_line(node):
    return f"cache-clear: OK node={node} image={IMAGE} client=crictl snapshots_removed=0\n"


def test_pull_job_and_clear_deleted_in_the_foreground_and_waited_for(run):
    """Before: the pull Job stayed, its exited containers pinned the snapshots of repeat r2."""
    nodes = sorted(set(seed_nodes().values()))
    api, status, _ = run({n: ok_line(n) for n in nodes})
    assert api.deletes == [(JOB, "Foreground"), (DS, "Foreground")]
    assert JOB not in api.objects and DS not in api.objects
    assert api.pods == {PULL_SEL: [], CLEAR_SEL: []}
    checks = {c["check"]: c for c in status["checks"]}
    assert checks["cleanup"]["valid"] is True
    assert checks["clears"]["valid"] is True and checks["clears"]["cleared_nodes"] == 2
    assert checks["pull_speed"]["valid"] is True
    assert status["status"] == "succeeded"


def test_a_node_without_a_clear_record_makes_the_step_invalid(run):
    nodes = sorted(set(seed_nodes().values()))
    _, status, _ = run({nodes[0]: ok_line(nodes[0]), nodes[1]: "cache-clear: FAIL ...\n"})
    clears = next(c for c in status["checks"] if c["check"] == "clears")
    assert clears["valid"] is False
    assert clears["problems"][0] == (
        f"1 node(s) pulled without a cache-clear record, e.g. {nodes[1]}")
    assert status["status"] == "invalid"


def test_objects_that_never_go_make_the_step_invalid(run, monkeypatch):
    from experiments import recorder as rec

    clock = iter(range(0, 10**6, 50))
    monkeypatch.setattr(rec.time, "time", lambda: next(clock))
    nodes = sorted(set(seed_nodes().values()))
    _, status, _ = run({n: ok_line(n) for n in nodes}, lag=10**6)
    cleanup = next(c for c in status["checks"] if c["check"] == "cleanup")
    assert cleanup["valid"] is False
    assert cleanup["problems"][0] == f"still present after 600 s: {JOB}, {DS}"
    assert status["status"] == "invalid"


def test_a_clear_that_succeeded_only_on_a_retry_makes_the_step_invalid(run):
    """The kubelet restarts a DaemonSet pod's failed init container; the retry's log says OK,
    but only `initContainerStatuses[].restartCount` shows there was a failed attempt."""
    nodes = sorted(set(seed_nodes().values()))
    _, status, _ = run({n: ok_line(n) for n in nodes}, clear_restarts={nodes[1]: 1})
    clears = next(c for c in status["checks"] if c["check"] == "clears")
    assert clears["valid"] is False
    assert clears["problems"][0] == (
        f"cache clear retried after a failure on 1 node(s), e.g. {nodes[1]}: a retry cannot "
        "prove the cache cold")
    assert status["status"] == "invalid"
