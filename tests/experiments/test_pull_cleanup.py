"""The pull step's recorder: each pull pod's own clear record, then a foreground delete it waits
out, and a failed clear that stops the run.

Why foreground and a wait: containerd keeps a layer snapshot while any container uses it, also an
exited one (containerd v2.1 internal/cri/server/images/image_remove.go), so the next repeat's
clear must find the previous pull pods gone. With `propagationPolicy: Foreground` the API server
keeps the Job until the garbage collector has deleted its pods
(kubernetes.io/docs/concepts/architecture/garbage-collection, foreground cascading deletion).

Why the clear's record is the pull pod's own: the kubelet runs a pod's init containers one at a
time and starts its regular containers, pulling each one's image as it starts it, only after they
all exited 0 (kubernetes/kubernetes pkg/kubelet/kuberuntime/kuberuntime_manager.go `SyncPod`,
steps 6 and 8, and `computePodActions`: an init container that failed under restartPolicy Never
kills the pod; kuberuntime_container.go `startContainer` calls `EnsureImageExists` first; read at
the index's commits 83f7b41 and fbba6b4, the latter with the 1.33+ `SetActuatedResources`; the
v1.35 tag itself is not in the index, and this order is the same in the 2016 version 007dfb7).
`EnsureImageExists` (pkg/kubelet/images/image_manager.go, read at cfce511) emits `Pulling` and
`Pulled` (`Successfully pulled ...` or `... already present on machine`) on the container's own
reference (`spec.containers{pull}`). So the `Pulling`/`Pulled` events of the `pull` container
come after its pod's `clear` exited 0, the clear's own image shows as `spec.initContainers{clear}`
(already present: the pre-pull step pulled it), and a pod whose clear failed has no pull events.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.experiments.fake_kube_api import FakeKubeApi
from tests.experiments.recorder_setup import seed_recorder

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "experiments"
IMAGE = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes"
NS = "study-harness"
STEP = "pull-x-r1"
JOB = f"/apis/batch/v1/namespaces/{NS}/jobs/{STEP}"
LABELS = {"study-harness.io/step": STEP, "study-harness.io/role": "workload"}
PULL_SEL = "study-harness.io/step=pull-x-r1,study-harness.io/role=workload"
DONE = {"status": {"startTime": "2024-11-10T06:20:00Z", "completionTime": "2024-11-10T06:20:31Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}}
FAILED = {"status": {"startTime": "2024-11-10T06:20:00Z", "failed": 1,
                     "conditions": [{"type": "Failed", "status": "True",
                                     "reason": "BackoffLimitExceeded",
                                     "lastTransitionTime": "2024-11-10T06:20:09Z"}]}}


def seed_nodes() -> dict[str, str]:
    """pod -> node of the seed's run1 4-node pulls of one image (2 of 4 nodes pulled)."""
    out = {}
    for line in (FIX / "run1-4-size-1176249324.jsonl").read_text().splitlines()[1:]:
        ev = json.loads(line)
        if ev["reason"] == "Pulled" and "chonks" in ev["message"]:
            out[ev["involvedObject"]["name"]] = ev["reportingInstance"]
    return out


def pod_on(node: str) -> str:
    """The seed pull pod the tests run on `node` (the first of the node's pods, by name)."""
    return sorted(p for p, n in seed_nodes().items() if n == node)[0]


def pod(name, node, clear_exit=0, clear_restarts=0):
    """A pull pod as the API server reports it: its `clear` init container terminated with
    `clear_exit`; the `pull` container ran only when the clear exited 0."""
    ok = clear_exit == 0
    return {"metadata": {"name": name, "labels": dict(LABELS)}, "spec": {"nodeName": node},
            "status": {
                "phase": "Succeeded" if ok else "Failed",
                "startTime": "2024-11-10T06:20:00Z",
                "initContainerStatuses": [
                    {"name": "clear", "restartCount": clear_restarts,
                     "state": {"terminated": {"exitCode": clear_exit,
                                              "reason": "Completed" if ok else "Error"}}}],
                "containerStatuses": [
                    {"name": "pull", "restartCount": 0,
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}} if ok
                     else {"waiting": {"reason": "PodInitializing"}}}]}}


@pytest.fixture
def run(tmp_path, monkeypatch):
    rec = seed_recorder(tmp_path, monkeypatch)
    expect = {"pull_images": [IMAGE], "nodes": 2, "pods_per_node": 1,
              "pull_speed": {IMAGE: 1176249324},
              "clears": {"selector": PULL_SEL, "container": "clear", "ok": "cache-clear: OK",
                         "fail": "cache-clear: FAIL"},
              "cleanup": [JOB]}
    for k, v in {"STEP": STEP, "KIND": "pulling", "NAMESPACE": NS,
                 "WAIT_FOR": json.dumps([JOB]), "OWNERS": json.dumps([JOB]),
                 "POD_SELECTOR": PULL_SEL, "DEADLINE_SECONDS": "600",
                 "EXPECT": json.dumps(expect)}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(rec, "TERMINATION_LOG", str(tmp_path / "termination-log"))
    real, fakes = rec.Api, []

    def go(clear_logs: dict[str, str], lag: int = 2, clear_restarts: dict[str, int] | None = None,
           clear_exits: dict[str, int] | None = None, job: dict | None = None,
           code: int = 0, delete_after: float | None = None):
        nodes = sorted(set(seed_nodes().values()))
        pulls = [(pod_on(n), n) for n in nodes]
        pods = [pod(p, n, (clear_exits or {}).get(n, 0), (clear_restarts or {}).get(n, 0))
                for p, n in pulls]
        logs = {(p, "clear"): clear_logs.get(n, "") for p, n in pulls}
        logs.update({(p, None): "pulled\n" for p, n in pulls
                     if (clear_exits or {}).get(n, 0) == 0})
        api = FakeKubeApi({JOB: job or DONE}, pods, logs, lag, delete_after=delete_after,
                          max_watch_seconds=0.2 if delete_after is None else 30.0)
        api.own(JOB, LABELS)
        fakes.append(api)
        base = api.serve()
        monkeypatch.setattr(rec, "Api", lambda: real(base, token="test"))
        assert rec.main() == code
        status = json.loads((tmp_path / "steps" / STEP / "status.json").read_text())
        return api, status, nodes

    go.api_class = real  # type: ignore[attr-defined]
    yield go
    for api in fakes:
        api.close()


def ok_line(node):
    return f"cache-clear: OK node={node} image={IMAGE} client=crictl snapshots_removed=0\n"


def fail_line(node):
    return f"cache-clear: FAIL node={node}: no ctr on the node: cannot prove the images are gone"


def test_pull_job_deleted_in_the_foreground_and_waited_for(run):
    """Before: the pull Job stayed, its exited containers pinned the snapshots of repeat r2.
    Nothing else is left to delete: the clear ran inside the pull pods."""
    nodes = sorted(set(seed_nodes().values()))
    api, status, _ = run({n: ok_line(n) for n in nodes})
    assert api.deletes == [(JOB, "Foreground")]
    assert JOB not in api.objects
    assert api.pods == []
    checks = {c["check"]: c for c in status["checks"]}
    assert checks["cleanup"]["valid"] is True
    assert checks["clears"]["valid"] is True and checks["clears"]["cleared_nodes"] == 2
    assert checks["pull_speed"]["valid"] is True
    assert status["status"] == "succeeded"


def test_the_deletion_is_seen_through_a_watch(run, monkeypatch):
    """The garbage collector removes the Job after its pods (foreground); the recorder watches
    the Job from the version it read after its DELETE and sees it go without a poll, then lists
    the pods once to confirm."""
    from experiments import recorder as rec

    sleeps = []
    monkeypatch.setattr(rec.time, "sleep", sleeps.append)
    nodes = sorted(set(seed_nodes().values()))
    api, status, _ = run({n: ok_line(n) for n in nodes}, delete_after=0.05)
    cleanup = next(c for c in status["checks"] if c["check"] == "cleanup")
    assert cleanup["valid"] is True
    after = api.requests[api.requests.index(("DELETE", JOB)) + 1:]
    assert [m for m, t in after if t == JOB] == ["GET", "GET"]  # before the watch, and after
    assert sum(1 for _, t in after if "watch=1" in t) == 1
    assert sleeps == []


def test_a_pod_without_its_own_clear_record_makes_the_step_invalid(run):
    """A pull pod whose clear log has no OK line (its log lost, say) pulled unproven."""
    nodes = sorted(set(seed_nodes().values()))
    _, status, _ = run({nodes[0]: ok_line(nodes[0]), nodes[1]: ""})
    clears = next(c for c in status["checks"] if c["check"] == "clears")
    assert clears["valid"] is False
    pod1 = pod_on(nodes[1])
    assert clears["problems"][0] == (
        f"1 pod(s) pulled without their own cache-clear record, e.g. {pod1} on {nodes[1]}")
    assert status["status"] == "invalid"
    assert "stop" not in status  # no FAIL line: a lost record, not a node that cannot clear


def test_objects_that_never_go_make_the_step_invalid(run, monkeypatch):
    from experiments import recorder as rec

    clock = iter(range(0, 10**6, 50))
    monkeypatch.setattr(rec.time, "time", lambda: next(clock))
    nodes = sorted(set(seed_nodes().values()))
    _, status, _ = run({n: ok_line(n) for n in nodes}, lag=10**6)
    cleanup = next(c for c in status["checks"] if c["check"] == "cleanup")
    assert cleanup["valid"] is False
    assert cleanup["problems"][0] == f"still present after 600 s: {JOB}"
    assert status["status"] == "invalid"


def test_a_clear_that_succeeded_only_on_a_retry_makes_the_step_invalid(run):
    """Under restartPolicy Never the kubelet does not restart a failed init container, but a
    restart count would show a failed attempt whatever restarted it; the retry's log says OK,
    and only `initContainerStatuses[].restartCount` shows there was a failed attempt."""
    nodes = sorted(set(seed_nodes().values()))
    pod1 = pod_on(nodes[1])
    _, status, _ = run({n: ok_line(n) for n in nodes}, clear_restarts={nodes[1]: 1})
    clears = next(c for c in status["checks"] if c["check"] == "clears")
    assert clears["valid"] is False
    assert clears["problems"][0] == (
        f"cache clear retried after a failure in 1 pod(s), e.g. {pod1} on {nodes[1]}: a retry "
        "cannot prove the cache cold")
    assert status["status"] == "invalid"


class TestAFailedClearStopsTheRun:
    """A clear that cannot prove its node's cache cold (no ctr, a layer held by another image)
    fails its pod before anything is pulled, and the Job with it (backoffLimit 0). The step is
    recorded failed with the clear's FAIL line, never as a warm pull counted cold; then the
    recorder exits STOP_EXIT so its Job fails and `pulumi up` creates no later step, all of
    which would fail the same way on that node."""

    def failed_run(self, run):
        nodes = sorted(set(seed_nodes().values()))
        logs = {nodes[0]: ok_line(nodes[0]), nodes[1]: fail_line(nodes[1]) + "\n"}
        from experiments import recorder as rec

        return run(logs, clear_exits={nodes[1]: 1}, job=FAILED, code=rec.STOP_EXIT), nodes

    def test_the_step_is_recorded_failed_with_the_fail_line(self, run):
        (api, status, _), nodes = self.failed_run(run)
        pod1 = pod_on(nodes[1])
        assert status["status"] == "failed"
        clears = next(c for c in status["checks"] if c["check"] == "clears")
        assert (clears["valid"], clears["failed_clears"], clears["cleared_nodes"]) == (
            False, 1, 1)
        assert clears["problems"] == [
            f"1 pod(s) pulled without their own cache-clear record, e.g. {pod1} on {nodes[1]}",
            "cache cleared on 1 distinct nodes; expected 2",
            f"cache clear failed in 1 pod(s), e.g. {pod1} on {nodes[1]}: {fail_line(nodes[1])}",
        ]
        pulls = next(c for c in status["checks"] if c["check"] == "pulls")
        assert pulls["warm"] == 0  # the pod that could not clear pulled nothing
        assert api.deletes == [(JOB, "Foreground")]  # cleaned up like any step

    def test_the_stop_names_the_pod_the_node_and_the_fail_line(self, run, tmp_path):
        (_, status, _), nodes = self.failed_run(run)
        pod1 = pod_on(nodes[1])
        want = (f"study stopped at step {STEP}: the cache clear failed in pod {pod1} on node "
                f"{nodes[1]}: {fail_line(nodes[1])}; every later step would fail the same way. "
                f"Fix the node, then resume (steps/{STEP}/log.txt has every clear's log)")
        assert status["stop"] == want
        # The pod's termination message is what pulumi-kubernetes prints for the failed Job.
        assert (tmp_path / "termination-log").read_text() == want
        out = tmp_path / "steps" / STEP
        assert sorted(p.name for p in out.iterdir()) == [
            "MANIFEST.json", "checks.json", "events.jsonl", "log.txt", "pods.json",
            "status.json"]  # recorded in full before it stops
        assert f"===== cache-clear pod {pod1} node {nodes[1]}\n{fail_line(nodes[1])}" in (
            out / "log.txt").read_text()

    def test_a_clear_killed_with_its_failing_job_is_not_a_node_that_cannot_clear(self, run):
        """When one pod fails, the Job controller stops the others (backoffLimit 0): a clear
        killed by that signal (exit 137) proves nothing either way and names no node; the run
        stops on the clear that failed by itself."""
        nodes = sorted(set(seed_nodes().values()))
        from experiments import recorder as rec

        _, status, _ = run({nodes[0]: "", nodes[1]: fail_line(nodes[1]) + "\n"},
                           clear_exits={nodes[0]: 137, nodes[1]: 1}, job=FAILED,
                           code=rec.STOP_EXIT)
        clears = next(c for c in status["checks"] if c["check"] == "clears")
        assert clears["failed_clears"] == 1
        assert f"in pod {pod_on(nodes[1])} on node {nodes[1]}: {fail_line(nodes[1])};" in (
            status["stop"])

    def test_a_clear_killed_at_the_deadline_does_not_stop_the_run(self, run):
        nodes = sorted(set(seed_nodes().values()))
        _, status, _ = run({nodes[0]: ok_line(nodes[0]), nodes[1]: ""},
                           clear_exits={nodes[1]: 143}, job=FAILED)
        assert status["status"] == "failed" and "stop" not in status

    def test_a_retry_of_the_recorder_stops_at_once(self, run, tmp_path, monkeypatch):
        """The recorder Job's next attempt (backoffLimit 2) finds the stop recorded and its
        step's Job gone: it exits the same way without waiting for anything."""
        from experiments import recorder as rec

        (_, status, _), _ = self.failed_run(run)
        out = tmp_path / "steps" / STEP
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        (tmp_path / "termination-log").unlink()
        api = FakeKubeApi({}, [], {})
        base = api.serve()
        try:
            monkeypatch.setattr(rec, "Api", lambda: run.api_class(base, token="test"))
            assert rec.main() == rec.STOP_EXIT
        finally:
            api.close()
        assert api.requests == [("GET", JOB)]
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
        assert (tmp_path / "termination-log").read_text() == status["stop"]

