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


def pod(name, node, clear_exit=0, clear_restarts=0, clear_state=None):
    """A pull pod as the API server reports it: its `clear` init container terminated with
    `clear_exit` (or in `clear_state`: waiting, say); the `pull` container ran only when the
    clear exited 0."""
    ok = clear_exit == 0 and clear_state is None
    waiting = "waiting" in (clear_state or {})
    state = clear_state or {"terminated": {"exitCode": clear_exit,
                                           "reason": "Completed" if ok else "Error"}}
    return {"metadata": {"name": name, "labels": dict(LABELS)}, "spec": {"nodeName": node},
            "status": {
                "phase": "Succeeded" if ok else "Pending" if waiting else "Failed",
                "startTime": "2024-11-10T06:20:00Z",
                "initContainerStatuses": [
                    {"name": "clear", "restartCount": clear_restarts, "state": state}],
                "containerStatuses": [
                    {"name": "pull", "restartCount": 0,
                     "state": {"terminated": {"exitCode": 0, "reason": "Completed"}} if ok
                     else {"waiting": {"reason": "PodInitializing"}}}]}}


class RecorderKilled(Exception):
    """The recorder's pod killed mid-step (a node drained, OOM): its Job retries it."""


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
           code: int | None = 0, delete_after: float | None = None,
           clear_states: dict[str, dict] | None = None):
        nodes = sorted(set(seed_nodes().values()))
        pulls = [(pod_on(n), n) for n in nodes]
        states = clear_states or {}
        pods = [pod(p, n, (clear_exits or {}).get(n, 0), (clear_restarts or {}).get(n, 0),
                    states.get(n)) for p, n in pulls]
        logs = {(p, "clear"): clear_logs.get(n, "") for p, n in pulls if n not in states}
        logs.update({(p, None): "pulled\n" for p, n in pulls
                     if (clear_exits or {}).get(n, 0) == 0 and n not in states})
        api = FakeKubeApi({JOB: job or DONE}, pods, logs, lag, delete_after=delete_after,
                          max_watch_seconds=0.2 if delete_after is None else 30.0)
        api.own(JOB, LABELS)
        fakes.append(api)
        base = api.serve()
        monkeypatch.setattr(rec, "Api", lambda: real(base, token="test"))
        if code is None:  # the recorder's pod dies: the test says how
            with pytest.raises(RecorderKilled):
                rec.main()
        else:
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



STUCK = {"waiting": {"reason": "ImagePullBackOff",
                     "message": 'Back-off pulling image "docker.io/library/debian:12.7-slim"'}}
RUNNING = {"status": {"startTime": "2024-11-10T06:20:00Z", "active": 1}}


class TestAClearThatCannotRunStopsTheRun:
    """A clear that never ran its script is as much the node's failure as one that printed FAIL:
    every later step's clear would meet it. A container containerd failed to start is
    `terminated{exitCode: 128, reason: StartError}` (containerd internal/cri/server/
    container_start.go, errorStartExitCode and errorStartReason, "128 is the same with Docker's
    behavior"), and one the kubelet cannot create or whose image it cannot pull is `waiting`
    with the reason (kubernetes/kubernetes pkg/kubelet/images/types.go ErrImagePull,
    ImagePullBackOff; pkg/kubelet/kuberuntime/kuberuntime_container.go CreateContainerError,
    CreateContainerConfigError); such a pod stays Pending."""

    def test_a_clear_the_runtime_could_not_start_stops_the_run(self, run):
        from experiments import recorder as rec

        nodes = sorted(set(seed_nodes().values()))
        start_error = {"terminated": {
            "exitCode": 128, "reason": "StartError",
            "message": 'exec: "nsenter": executable file not found in $PATH'}}
        _, status, _ = run({nodes[0]: ok_line(nodes[0])}, job=FAILED, code=rec.STOP_EXIT,
                           clear_states={nodes[1]: start_error})
        assert status["status"] == "failed"
        assert (f"in pod {pod_on(nodes[1])} on node {nodes[1]}: exit code 128, StartError: "
                'exec: "nsenter": executable file not found in $PATH;') in status["stop"]

    def test_a_clear_stuck_pulling_its_image_stops_the_run_before_the_deadline(
            self, run, monkeypatch):
        """The Job never ends (its pod is Pending); the recorder stops waiting once the clear
        has been stuck for CLEAR_STUCK_SECONDS, records the step failed, deletes the Job and
        stops the run. DEADLINE_SECONDS is 600: a recorder that waited for it would not end."""
        from experiments import recorder as rec

        monkeypatch.setattr(rec, "CLEAR_STUCK_SECONDS", 0.3)
        nodes = sorted(set(seed_nodes().values()))
        api, status, _ = run({nodes[0]: ok_line(nodes[0])}, job=RUNNING, code=rec.STOP_EXIT,
                             clear_states={nodes[1]: STUCK})
        pod1 = pod_on(nodes[1])
        assert status["status"] == "failed"
        assert status["stuck"] == f"the cache clear of pod {pod1} could not start for 0.3 s"
        assert (f"in pod {pod1} on node {nodes[1]}: cannot start: ImagePullBackOff: Back-off "
                'pulling image "docker.io/library/debian:12.7-slim";') in status["stop"]
        assert api.deletes == [(JOB, "Foreground")]  # after recording it: the cleanup
        assert JOB not in api.objects and api.pods == []


class TestStuckClear:
    """How long a waiting clear is given: CLEAR_STUCK_SECONDS from the first look that saw it
    waiting, forgotten when it starts."""

    def test_waits_the_bound_then_names_the_pod(self, monkeypatch):
        from experiments import recorder as rec

        clock = iter([0.0, 60.0, 130.0])
        monkeypatch.setattr(rec.time, "time", lambda: next(clock))
        api = FakeKubeApi({}, [pod("p1", "n1", clear_state=STUCK)], {})
        base = api.serve()
        try:
            stuck = rec.StuckClear(rec.Api(base, token="t"), NS,
                                   {"selector": PULL_SEL, "container": "clear"})
            assert [stuck(), stuck(), stuck()] == [False, False, True]
            assert stuck.pod == "p1"
        finally:
            api.close()

    def test_a_clear_that_starts_is_forgotten(self, monkeypatch):
        from experiments import recorder as rec

        clock = iter([0.0, 100.0, 110.0, 200.0])
        monkeypatch.setattr(rec.time, "time", lambda: next(clock))
        api = FakeKubeApi({}, [pod("p1", "n1", clear_state=STUCK)], {})
        base = api.serve()
        try:
            stuck = rec.StuckClear(rec.Api(base, token="t"), NS,
                                   {"selector": PULL_SEL, "container": "clear"})
            assert [stuck(), stuck()] == [False, False]
            api.pods = [pod("p1", "n1", clear_state={"running": {}})]  # the pull went through
            assert stuck() is False
            api.pods = [pod("p1", "n1", clear_state=STUCK)]  # stuck again: the bound restarts
            assert stuck() is False and stuck.pod is None
        finally:
            api.close()


class TestARetryOfTheRecorderResumes:
    """The recorder Job retries a pod that died (backoffLimit 2). A retry after the cleanup's
    DELETE finds the step's Job gone: it must resume from what was recorded, not wait for a
    Job that never comes back and record `deadline` over a stop."""

    def test_a_retry_after_the_cleanup_delete_keeps_the_stop(self, run, tmp_path, monkeypatch):
        from experiments import recorder as rec

        real_until_gone = rec.until_gone

        def killed_after_the_delete(*args):
            real_until_gone(*args)  # the Job went (its foreground delete is done)...
            raise RecorderKilled  # ...and the recorder's pod died before it wrote its verdict

        monkeypatch.setattr(rec, "until_gone", killed_after_the_delete)
        nodes = sorted(set(seed_nodes().values()))
        logs = {nodes[0]: ok_line(nodes[0]), nodes[1]: fail_line(nodes[1]) + "\n"}
        api, before, _ = run(logs, clear_exits={nodes[1]: 1}, job=FAILED, code=None, lag=0)
        assert before["phase"] == "recorded" and before["status"] == "running"
        assert JOB not in api.objects
        monkeypatch.setattr(rec, "until_gone", real_until_gone)
        assert rec.main() == rec.STOP_EXIT  # the retry, against the same API server
        status = json.loads((tmp_path / "steps" / STEP / "status.json").read_text())
        assert status["status"] == "failed" and status["stop"] == before["stop"]
        assert (status["started_at"], status["finished_at"]) == (
            "2024-11-10T06:20:00Z", "2024-11-10T06:20:09Z")
        assert status["checks"][:-1] == before["checks"]
        assert status["checks"][-1]["check"] == "cleanup" and status["checks"][-1]["valid"]
        assert len(status["resumed_at"]) == 1
        assert (tmp_path / "termination-log").read_text() == before["stop"]
        assert (tmp_path / "steps" / STEP / "MANIFEST.json").exists()

    def test_a_recreated_step_is_recorded_anew(self, run, tmp_path):
        """A resumed `study run` creates the step again: its Job is newer than the earlier
        recorder, so this one waits for it and records it, whatever the earlier run left."""
        nodes = sorted(set(seed_nodes().values()))
        out = tmp_path / "steps" / STEP
        out.mkdir(parents=True)
        (out / "status.json").write_text(json.dumps(
            {"step": STEP, "phase": "recorded", "status": "running", "verdict": "failed",
             "recorder_started_at": "2024-11-10T05:00:00+00:00", "checks": [],
             "stop": "an earlier run's stop"}))
        job = {**DONE, "metadata": {"creationTimestamp": "2024-11-10T06:19:58Z"}}
        _, status, _ = run({n: ok_line(n) for n in nodes}, job=job)
        assert status["status"] == "succeeded" and "stop" not in status
        assert "resumed_at" not in status

    def test_a_retry_while_waiting_keeps_the_first_attempts_deadline(self, run, tmp_path):
        """Killed while the step ran: the retry waits for the same Job, until the deadline the
        first attempt fixed (here already past), not a new one of DEADLINE_SECONDS."""
        import time

        out = tmp_path / "steps" / STEP
        out.mkdir(parents=True)
        (out / "status.json").write_text(json.dumps(
            {"step": STEP, "kind": "pulling", "phase": "waiting", "status": "running",
             "recorder_started_at": "2024-11-10T06:20:05+00:00",
             "wait_until": time.time() - 1}))
        job = {**RUNNING, "metadata": {"creationTimestamp": "2024-11-10T06:20:00Z"}}
        nodes = sorted(set(seed_nodes().values()))
        api, status, _ = run({n: ok_line(n) for n in nodes}, job=job)
        assert status["status"] == "deadline"
        assert status["recorder_started_at"] == "2024-11-10T06:20:05+00:00"
        assert len(status["resumed_at"]) == 1
        assert api.deletes == [(JOB, "Background"), (JOB, "Foreground")]


class TestTheCleanupRidesOutTransientApiErrors:
    """An API server busy or restarting answers 503 or 429 or drops the connection; the
    cleanup asks again (each every POLL_SECONDS) instead of crashing the recorder."""

    def test_busy_and_dropped_answers_are_asked_again(self, monkeypatch):
        from experiments import recorder as rec

        monkeypatch.setattr(rec.time, "sleep", lambda s: None)
        pods = [pod("p1", "n1")]
        api = FakeKubeApi({JOB: DONE}, pods, {}, lag=1)
        api.own(JOB, LABELS)
        api.flaky = {("DELETE", JOB): [503], ("GET", JOB): [429, 0, 500],
                     ("GET", f"/api/v1/namespaces/{NS}/pods"): [503, 0]}
        base = api.serve()
        try:
            verdict = rec.delete_and_wait(rec.Api(base, token="t"), NS, [JOB], [PULL_SEL])
        finally:
            api.close()
        assert verdict["valid"] is True, verdict
        assert api.deletes == [(JOB, "Foreground")]
        assert all(not v for v in api.flaky.values())  # every failure was met and asked again
        assert JOB not in api.objects and api.pods == []

    def test_a_refusal_is_not_retried(self, monkeypatch):
        """403 is an answer, not a blip: the cleanup records it."""
        from experiments import recorder as rec

        api = FakeKubeApi({JOB: DONE}, [], {})
        api.flaky = {("DELETE", JOB): [403]}
        base = api.serve()
        try:
            verdict = rec.delete_and_wait(rec.Api(base, token="t"), NS, [JOB], [PULL_SEL],
                                          timeout=0)
        finally:
            api.close()
        assert verdict["problems"][0] == f"delete {JOB}: HTTP 403"


def test_status_is_written_atomically(tmp_path, monkeypatch):
    """A recorder killed while writing status.json leaves the previous version whole."""
    from experiments import recorder as rec

    path = str(tmp_path / "status.json")
    rec.write_json(path, {"status": "running", "phase": "recorded"})

    def dies_midway(data, f, **kw):
        f.write('{"status": "dea')
        raise RecorderKilled

    monkeypatch.setattr(rec.json, "dump", dies_midway)
    with pytest.raises(RecorderKilled):
        rec.write_json(path, {"status": "deadline"})
    monkeypatch.undo()
    assert json.loads(Path(path).read_text()) == {"status": "running", "phase": "recorded"}
