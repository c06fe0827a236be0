"""Fault injection: `study run` against fakes, with a fault at every stage.

Invariant protected by every case: the run ends with destroy attempted whenever anything may
exist, with what was collected kept on disk, with a run state consistent with the (fake) cloud
for a later `--resume` or `destroy`, and with an honest exit code and message.
"""

from __future__ import annotations

import errno
import json
import signal
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.errors import StudyError
from study.lifecycle.interfaces import PermanentError, PrerequisiteMissing
from study.lifecycle.run import EXIT_CHECK, EXIT_FAILED, EXIT_LEFTOVERS, EXIT_OK, EXIT_STOPPED
from study.lifecycle.state import STATE_FILE, load_state
from tests.doubles.lifecycle import (
    FakeStep,
    aws_dependency_violation,
    gke_in_progress,
    raising,
)
from tests.study.lifecycle.conftest import STACK, STEPS3

SIGINT, SIGTERM = signal.SIGINT, signal.SIGTERM
PREFLIGHT = ("plan", "quota")


def check_invariants(h, out, *, created: bool) -> dict[str, Any]:
    """The guarantees every case shares; returns the on-disk run state for extra checks."""
    w = h.world
    assert w.signals.installed == 1 and w.signals.restored == 1, "signal handlers not restored"
    assert STACK in out.message, out.message
    live = w.cloud.live(STACK)
    if not created:
        # The preflight stopped it: nothing exists, so nothing is recorded either.
        assert not w.backend.exists(STACK) and not live
        assert w.backend.destroy_started_at is None
        assert not out.run_dir.exists(), "a stopped preflight left a results directory"
        assert not (h.results / "ledger.jsonl").exists(), "a stopped preflight left a ledger row"
        # Nothing recorded, so nothing to resume: `--resume` would only say "no run".
        assert "--resume" not in " ".join(out.details), out.details
        return {"state": None}
    state = load_state(out.run_dir)
    assert state.stage == "done"
    assert state.status == out.status
    assert state.exit_code == out.exit_code
    # Consistency: the state may only say "nothing exists" when nothing exists.
    if live:
        assert state.resources_may_exist, f"state says destroyed but {live} remain"
    assert w.backend.destroy_started_at is not None, "destroy was never attempted"
    assert (out.run_dir / "provenance.json").is_file()
    prov = json.loads((out.run_dir / "provenance.json").read_text())
    assert prov["partial"] == bool(out.collection and out.collection.partial)
    if out.exit_code == EXIT_LEFTOVERS:
        assert f"study destroy {STACK}" in " ".join(out.details)
    else:
        assert not live, f"resources left behind: {live}"
        assert not state.resources_may_exist
    if out.status != "succeeded":
        assert f"study run {STACK} --resume" in " ".join(out.details)
    assert not list(out.run_dir.rglob("*.tmp")), "a torn temporary file was left behind"
    return {"state": state}


@dataclass(frozen=True)
class Case:
    id: str
    point: str
    action: str  # "error" | "permanent" | "transient" | "SIGINT" | "SIGTERM" | "KeyboardInterrupt"
    status: str
    code: int
    created: bool = True
    after: int = 0
    times: int = 1
    leftovers: tuple[str, ...] = ()  # what the label listing still shows after the destroy
    verified: bool = True  # the label listing itself worked


# Everything the fake GKE stack creates that carries the stack's labels, in creation order
# (tests.doubles.lifecycle.GKE_RESOURCES): what a destroy that deleted nothing leaves.
ALL_LABELLED = (
    f"compute.networks {STACK}-net", f"compute.subnetworks {STACK}-subnet",
    f"container.clusters {STACK}-cluster", f"compute.instances {STACK}-pool",
    f"compute.disks {STACK}-results",
)


def _action(h, case: Case):
    if case.action in ("SIGINT", "SIGTERM"):
        return h.world.signals.action(getattr(signal, case.action))
    exc: BaseException = {
        "error": RuntimeError(f"injected failure at {case.point}"),
        "permanent": PermanentError(f"injected permanent failure at {case.point}"),
        "transient": gke_in_progress(),
        "KeyboardInterrupt": KeyboardInterrupt(),
        "disk": OSError(errno.EIO, "Input/output error"),
    }[case.action]
    return raising(exc)


CASES = [
    # an exception at each stage
    Case("error-plan", "plan", "error", "failed", EXIT_FAILED, created=False),
    Case("error-check", "check", "permanent", "preflight-failed", EXIT_CHECK, created=False),
    Case("error-quota", "quota", "error", "failed", EXIT_FAILED, created=False),
    # the first save of the run state fails: the run goes on, and exits 1 saying so
    Case("disk-error", "writer", "disk", "succeeded", EXIT_FAILED),
    Case("error-up-start", "up.start", "error", "failed", EXIT_FAILED),
    Case("partial-creation", "up.resource", "permanent", "failed", EXIT_FAILED, after=2),
    Case("error-experiment", "up.step", "error", "failed", EXIT_FAILED, after=40),
    Case("error-up-end", "up.end", "error", "failed", EXIT_FAILED),
    Case("error-watch", "reader.statuses", "error", "failed", EXIT_FAILED),
    Case("error-collect-events", "reader.events", "error", "failed", EXIT_FAILED),
    Case("error-collect-nodes", "reader.nodes", "error", "failed", EXIT_FAILED),
    Case("collect-fails-half-way", "reader.log", "error", "failed", EXIT_FAILED, after=1),
    # before the destroy: the lock probe and the volume release may fail; destroy goes on
    Case("transient-lock-probe", "refresh", "transient", "succeeded", EXIT_OK),
    Case("error-release", "reader.release", "error", "succeeded", EXIT_OK),
    # destroy: transient N times (retried), permanent, beyond the retry budget
    Case("destroy-transient-3x", "destroy", "transient", "succeeded", EXIT_OK, times=3),
    Case("destroy-transient-mid-delete", "destroy.resource", "transient", "succeeded", EXIT_OK,
         after=2, times=2),
    Case("destroy-transient-forever", "destroy", "transient", "destroy-incomplete",
         EXIT_LEFTOVERS, times=10, leftovers=ALL_LABELLED),
    Case("destroy-permanent", "destroy", "permanent", "destroy-incomplete", EXIT_LEFTOVERS,
         leftovers=ALL_LABELLED),
    Case("verify-listing-fails", "inventory.labelled", "error", "destroy-incomplete",
         EXIT_LEFTOVERS, verified=False),
    Case("transient-during-up", "up.resource", "transient", "succeeded", EXIT_OK, after=3),
    # raw KeyboardInterrupt (default SIGINT disposition) mid-experiment and mid-destroy
    Case("kbint-experiment", "up.step", "KeyboardInterrupt", "interrupted", 130, after=10),
    Case("kbint-destroy", "destroy", "KeyboardInterrupt", "interrupted", 130),
]
# SIGINT and SIGTERM at each stage, delivered through the installed handler.
SIGNAL_POINTS = [
    ("plan", False), ("quota", False), ("up.start", True), ("up.resource", True),
    ("up.step", True), ("reader.statuses", True), ("reader.events", True), ("destroy", True),
]
for _sig in ("SIGINT", "SIGTERM"):
    for _point, _created in SIGNAL_POINTS:
        CASES.append(
            Case(f"{_sig.lower()}-{_point}", _point, _sig, "interrupted",
                 128 + int(getattr(signal, _sig)), created=_created,
                 after=3 if _point in ("up.resource", "up.step") else 0)
        )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(harness, case):
    h = harness(steps=list(STEPS3))
    h.world.faults.add(case.point, _action(h, case), times=case.times, after=case.after)
    out = h.run()
    assert (out.status, out.exit_code) == (case.status, case.code), (out.message, out.details)
    assert h.world.faults.hits[case.point] > case.after, "the fault point was never reached"
    check_invariants(h, out, created=case.created)
    if case.action in ("SIGINT", "SIGTERM", "KeyboardInterrupt"):
        assert case.action.replace("KeyboardInterrupt", "SIGINT") in out.message
    assert out.leftovers == list(case.leftovers)
    unverified = "could not verify by labels; assume resources remain" in out.details
    assert unverified is not case.verified


def test_the_table_injects_a_fault_at_every_point_a_run_passes(harness):
    """A clean run passes exactly the table's fault points, so no stage goes without a fault
    (a stage added later fails this until the table covers it)."""
    h = harness(steps=list(STEPS3))
    assert h.run().exit_code == EXIT_OK
    assert set(h.world.faults.hits) == {c.point for c in CASES}
    assert {c.action for c in CASES} == {"error", "permanent", "transient", "disk", "SIGINT",
                                         "SIGTERM", "KeyboardInterrupt"}
    assert len({c.id for c in CASES}) == len(CASES)


def test_preflight_quota_shortfall_stops_before_any_resource(harness):
    h = harness()
    h.world.cloud.quota_usage["cpus"] = 990  # limit 1000: 10 left, the stack needs 16
    out = h.run()
    assert out.exit_code == EXIT_CHECK and out.status == "preflight-failed"
    assert "needs 16 but only 10 is available (limit 1000, in use 990)" in out.message
    assert h.world.backend.calls == []
    check_invariants(h, out, created=False)


def test_preflight_budget_shortfall_names_the_numbers(harness):
    from tests.study.lifecycle.conftest import nightly

    h = harness(sec=nightly(budget={"usd": 0.1, "max_hours": 1.5}))
    out = h.run()
    assert out.exit_code == EXIT_CHECK
    assert "study:budget.usd: 0.1 does not cover the estimated cost" in out.message
    assert h.world.backend.calls == []


def test_declared_quota_used_without_credentials(harness):
    from tests.study.lifecycle.conftest import nightly

    sec = nightly()
    sec["quota"] = {"cpus": 16, "in_use_addresses": 20}
    h = harness(sec=sec, live_quota=False)
    out = h.run()
    assert out.exit_code == EXIT_OK
    assert any("quota declared: no cloud credentials" in x for x in h.progress.lines)


@pytest.mark.parametrize("await_steps", [True, False], ids=["in-up", "after-up"])
def test_deadline_mid_step_stops_collects_destroys(harness, await_steps):
    h = harness(steps=[FakeStep("short", 300), FakeStep("endless", 3 * 3600)])
    h.world.backend.await_steps = await_steps
    out = h.run(stall_seconds=4 * 3600)  # a long step, not a stalled one
    assert (out.status, out.exit_code) == ("deadline", EXIT_STOPPED), out.message
    assert "deadline reached (1.50 h" in out.message
    state = check_invariants(h, out, created=True)["state"]
    # The deadline is counted from the first resource's creation.
    assert state.deadline_at == pytest.approx(state.first_resource_at + 1.5 * 3600)
    assert h.world.backend.destroy_started_at - state.deadline_at <= 60
    steps = {r["step"]: r for r in json.loads((out.run_dir / "steps.json").read_text())}
    assert steps["short"]["status"] == "succeeded"
    assert steps["endless"]["status"] == "deadline"
    assert (out.run_dir / "steps" / "short" / "log.txt").is_file()


@pytest.mark.parametrize("await_steps", [True, False], ids=["in-up", "after-up"])
def test_stalled_step_is_stopped(harness, await_steps):
    h = harness(steps=[FakeStep("ok", 120), FakeStep("hung", 60, stall=True)])
    h.world.backend.await_steps = await_steps
    out = h.run()
    assert (out.status, out.exit_code) == ("stalled", EXIT_STOPPED), out.message
    assert "no experiment step progressed for 1200 s" in out.message
    check_invariants(h, out, created=True)
    stall_started = h.world.experiment.started_at + 120
    # Stopped one stall window (+ one poll) after the last progress, not at the deadline.
    assert h.world.backend.destroy_started_at - stall_started <= 1200 + 60 + 30


def test_stopping_the_experiment_fails_destroy_still_runs(harness):
    h = harness(steps=[FakeStep("ok", 120), FakeStep("hung", 60, stall=True)])
    h.world.backend.await_steps = False
    h.world.faults.add("reader.stop", raising(RuntimeError("jobs.batch is forbidden")))
    out = h.run()
    assert (out.status, out.exit_code) == ("stalled", EXIT_STOPPED)
    assert any("could not stop the experiment cleanly" in x for x in h.progress.lines)
    check_invariants(h, out, created=True)


def test_failed_step_is_an_honest_failure(harness):
    h = harness(steps=[FakeStep("a", 60), FakeStep("b", 60, outcome="failed"), FakeStep("c", 60)])
    out = h.run()
    assert (out.status, out.exit_code) == ("failed", EXIT_FAILED)
    assert "step(s) failed: b" in out.message
    check_invariants(h, out, created=True)


def test_a_failed_cache_clear_stops_the_run_with_its_reason(harness):
    """The step recorder of a pull whose cache clear failed records the step and stops the run
    (experiments.recorder): its Job fails, so `up` fails and creates no later step; the run then
    collects and destroys, and says why in the clear's own words, not pulumi's."""
    stop = ("study stopped at step b: the cache clear failed in pod b-x on node n1: "
            "cache-clear: FAIL node=n1: no ctr on the node: cannot prove the images are gone; "
            "every later step would fail the same way. Fix the node, then resume "
            "(steps/b/log.txt has every clear's log)")
    h = harness(steps=[FakeStep("a", 60), FakeStep("b", 60, outcome="failed", stop=stop),
                       FakeStep("c", 60)])
    out = h.run()
    assert (out.status, out.exit_code, out.message) == ("failed", EXIT_FAILED,
                                                         f"run of {STACK}: {stop}")
    check_invariants(h, out, created=True)
    rows = json.loads((out.run_dir / "steps.json").read_text())
    assert [(r["step"], r["status"]) for r in rows] == [("a", "succeeded"), ("b", "failed")]
    assert rows[1]["stop"] == stop


def test_a_stopped_step_runs_again_on_resume_and_the_run_succeeds(harness):
    """A step that stopped the run is not finished: once its node is fixed, `--resume` renders
    it again on the new cluster (only the step before it is passed as completed), it ends
    without a stop, and the verdict reads that attempt, not the old stop."""
    from core.layout import RESUME_ENV

    stop = "study stopped at step b: the cache clear failed in pod b-x on node n1"
    steps = [FakeStep("a", 60), FakeStep("b", 60, outcome="failed", stop=stop),
             FakeStep("c", 60)]
    h = harness(steps=steps)
    first = h.run()
    assert (first.status, first.message) == ("failed", f"run of {STACK}: {stop}")
    assert load_state(first.run_dir).finished_steps == ["a"]
    steps[1].stop, steps[1].outcome = None, "succeeded"  # the node is fixed
    second = h.run(resume=True)
    assert (second.status, second.exit_code, second.message) == (
        "succeeded", EXIT_OK, f"run of {STACK} succeeded")
    assert h.world.backend.envs[-1][RESUME_ENV] == "a"
    assert h.world.experiment.skip == {"a"}
    rows = json.loads((second.run_dir / "steps.json").read_text())
    assert {r["step"]: r["status"] for r in rows} == {
        "a": "succeeded", "b": "succeeded", "c": "succeeded"}
    assert not [r for r in rows if "stop" in r]
    assert load_state(second.run_dir).finished_steps == ["a", "b", "c"]


def test_a_stopped_step_an_older_harness_wrote_as_finished_runs_again(harness):
    """A run state written before a stop counted as unfinished lists the stopped step among
    the finished ones; its steps.json row still says `stop`, so `--resume` runs it again."""
    from core.layout import RESUME_ENV

    stop = "study stopped at step b: the cache clear failed in pod b-x on node n1"
    steps = [FakeStep("a", 60), FakeStep("b", 60, outcome="failed", stop=stop)]
    h = harness(steps=steps)
    first = h.run()
    data = json.loads((first.run_dir / STATE_FILE).read_text())
    data["finished_steps"] = ["a", "b"]
    (first.run_dir / STATE_FILE).write_text(json.dumps(data))
    steps[1].stop, steps[1].outcome = None, "succeeded"
    second = h.run(resume=True)
    assert (second.status, second.exit_code) == ("succeeded", EXIT_OK), second.message
    assert h.world.backend.envs[-1][RESUME_ENV] == "a"


def test_a_stop_ends_the_watch_of_an_experiment_left_running(harness):
    """An experiment that runs on after `up` returned: the stopped step is the last one that
    will ever start, so the watch collects at once instead of waiting out the stall window."""
    stop = "study stopped at step b: the cache clear failed in pod b-x on node n1"
    h = harness(steps=[FakeStep("a", 60), FakeStep("b", 60, outcome="failed", stop=stop),
                       FakeStep("c", 60)])
    h.world.backend.await_steps = False
    out = h.run()
    assert (out.status, out.message) == ("failed", f"run of {STACK}: {stop}")
    assert h.world.backend.destroy_started_at - h.world.experiment.timeline()[-1][2] <= 60
    assert "step b stopped the run; collecting" in h.progress.lines


def test_full_disk_never_blocks_destroy(harness):
    h = harness(steps=list(STEPS3), disk_bytes=6000)
    out = h.run()
    assert out.exit_code == EXIT_FAILED
    assert not h.world.cloud.live(STACK), "a full disk must not keep the cluster up"
    assert h.world.backend.destroy_started_at is not None
    joined = " ".join([out.message, *out.details])
    assert "No space left on device" in joined
    # Whatever is on disk is whole: every JSON file parses, no temporary file remains.
    for path in out.run_dir.rglob("*.json"):
        json.loads(path.read_text())
    assert not list(out.run_dir.rglob("*.tmp"))
    # The last state that fitted was written while the cluster was up: it says resources may
    # exist (the safe side: a later destroy or --resume cleans up), never a false "destroyed".
    state = load_state(out.run_dir)
    assert (state.status, state.resources_may_exist) == ("running", True)


@pytest.mark.parametrize("await_steps", [True, False], ids=["in-up", "after-up"])
def test_completion_to_destroy_delay_is_under_a_minute(harness, await_steps):
    h = harness(steps=list(STEPS3))
    h.world.backend.await_steps = await_steps
    out = h.run()
    assert out.exit_code == EXIT_OK, out.message
    done = h.world.experiment.completed_at()
    delay = h.world.backend.destroy_started_at - done
    assert 0 < delay <= 60, f"experiment done -> destroy start took {delay:.1f} s (simulated)"
    check_invariants(h, out, created=True)


def test_signal_during_cleanup_does_not_stop_destroy(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("reader.events", h.world.signals.action(SIGINT))
    h.world.faults.add("destroy", h.world.signals.action(SIGTERM))
    out = h.run()
    assert out.exit_code == 130
    assert not h.world.cloud.live(STACK)
    assert any("collection and destroy continue" in x for x in h.progress.lines)
    assert json.loads((out.run_dir / "provenance.json").read_text())["partial"] is False


def test_resume_continues_from_the_last_finished_step(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("up.step", h.world.signals.action(SIGTERM), after=70)  # during step 2
    first = h.run()
    assert first.exit_code == 143
    state = load_state(first.run_dir)
    assert state.finished_steps == ["pull-cold"] and not state.resources_may_exist
    events_before = (first.run_dir / "events.jsonl").read_text()
    second = h.run(resume=True)
    assert second.exit_code == EXIT_OK, second.message
    assert second.run_id == first.run_id
    ups = [t for op, t in h.world.backend.calls if op == "up"]
    assert len(ups) == 2
    assert h.world.experiment.skip == {"pull-cold"}  # passed as STUDY_COMPLETED_STEPS
    steps = json.loads((second.run_dir / "steps.json").read_text())
    assert [r["step"] for r in steps] == ["pull-warm", "pull-again", "pull-cold"]
    assert all(r["status"] == "succeeded" for r in steps)
    assert (second.run_dir / "steps" / "pull-cold" / "log.txt").is_file()
    # Events from the first attempt are kept alongside the second attempt's.
    uids = {json.loads(x)["metadata"]["uid"] for x in events_before.splitlines()}
    after = {json.loads(x)["metadata"]["uid"]
             for x in (second.run_dir / "events.jsonl").read_text().splitlines()}
    assert uids <= after
    assert load_state(second.run_dir).attempts == 2


def test_resume_refuses_a_finished_run(harness):
    h = harness(steps=list(STEPS3))
    assert h.run().exit_code == EXIT_OK
    with pytest.raises(StudyError, match="nothing to resume"):
        h.run(resume=True)


def test_keep_leaves_the_cluster_and_says_how_to_destroy(harness):
    h = harness(steps=list(STEPS3))
    out = h.run(keep=True)
    assert out.exit_code == EXIT_OK
    assert h.world.backend.destroy_started_at is None
    assert h.world.cloud.live(STACK)
    state = load_state(out.run_dir)
    assert state.kept and state.resources_may_exist
    assert any(f"study destroy {STACK}" in x for x in out.details)
    # study:ttl (12h) counts from the cluster's creation: the run's first resource.
    created = datetime.fromtimestamp(state.first_resource_at, UTC)
    expires = (created + timedelta(hours=12)).isoformat(timespec="seconds")
    assert any(f"expires {expires};" in x for x in h.progress.lines)


def test_eventual_consistency_longer_than_verify_is_reported(harness):
    h = harness(steps=list(STEPS3))
    h.world.cloud.lag = 10_000  # deleted resources keep being listed
    out = h.run()
    assert out.exit_code == EXIT_LEFTOVERS
    assert any("container.clusters gke-4-nightly-cluster" in x for x in out.details)
    assert not h.world.cloud.live(STACK)  # actually gone; the listing is stale, and we say so


def test_progress_reports_resources_steps_time_and_money(harness):
    h = harness(steps=list(STEPS3))
    out = h.run()
    assert out.exit_code == EXIT_OK
    last = h.progress.snapshots[-1]
    assert last.resources_done == 10  # 7 infrastructure resources + 3 recorder Jobs
    assert last.steps_done == 3
    assert last.budget_usd == 5
    assert 0 < last.spent_usd < 5
    assert last.elapsed_s > 0


def test_ledger_records_each_run(harness):
    from study.lifecycle import ledger

    h = harness(steps=list(STEPS3))
    out = h.run()
    entries = ledger.read(h.results)
    assert [(e.stack, e.run_id, e.status) for e in entries] == [(STACK, out.run_id, "succeeded")]
    e = entries[0]
    assert e.node_hours == pytest.approx(4 * e.cost_usd / 0.9148, rel=0.01)
    assert e.duration_hours > 0.5


def test_disk_error_other_than_enospc_is_reported(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("writer", raising(OSError(errno.EIO, "Input/output error")), after=4)
    out = h.run()
    assert out.exit_code == EXIT_FAILED
    assert not h.world.cloud.live(STACK)


def test_transient_destroy_uses_backoff_and_refresh(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("destroy", raising(aws_dependency_violation()), times=2)
    out = h.run()
    assert out.exit_code == EXIT_OK
    destroys = [t for op, t in h.world.backend.calls if op == "destroy"]
    assert len(destroys) == 3
    assert destroys[1] - destroys[0] >= 20 and destroys[2] - destroys[1] >= 40  # doubled
    # The lock probe before the volumes are released, then a refresh before each retry.
    ops = [op for op, _ in h.world.backend.calls]
    assert ops[ops.index("refresh"):] == ["refresh", "release_volumes", "destroy", "refresh",
                                          "destroy", "refresh", "destroy"]


def test_stale_lock_is_cancelled_before_destroy(harness):
    h = harness(steps=list(STEPS3))
    # A killed earlier process left its lock: the first destroy meets ConcurrentUpdateError.
    h.world.faults.add("up.end", lambda: setattr(h.world.backend, "locked", True))
    out = h.run()
    assert out.exit_code == EXIT_OK, out.message
    assert not h.world.cloud.live(STACK)
    ops = [op for op, _ in h.world.backend.calls]
    # The first conflict waits (the holder may finish); the second cancels the stale lock.
    assert ops.count("destroy") == 3 and ops.count("cancel") == 1
    assert ops.index("cancel") < len(ops) - 1


def test_a_lock_held_by_another_run_is_left_alone(harness):
    h = harness(steps=list(STEPS3))
    h.world.backend.locked = True  # another `study run` / `pulumi up` is in progress
    out = h.run()
    assert (out.status, out.exit_code) == ("failed", EXIT_FAILED)
    assert "holds its lock" in out.message and "pulumi cancel -s gke-4-nightly" in out.message
    ops = [op for op, _ in h.world.backend.calls]
    assert ops == ["up"], "neither cancel nor destroy may touch someone else's update"
    assert not load_state(out.run_dir).resources_may_exist


def test_resume_on_a_kept_cluster_skips_recorded_steps(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("up.step", h.world.signals.action(SIGINT), after=70)
    first = h.run(keep=True)  # interrupted, cluster left up on purpose
    assert first.exit_code == 130 and h.world.cloud.live(STACK)
    assert load_state(first.run_dir).resources_may_exist
    started = h.world.experiment.started_at
    second = h.run(resume=True)
    assert second.exit_code == EXIT_OK, second.message
    # The experiment kept running in the cluster; the second up found pull-cold's recorder in
    # state ("same") and only awaited the rest: nothing was restarted or rerun.
    assert h.world.experiment.started_at == started
    ups = [t for op, t in h.world.backend.calls if op == "up"]
    assert len(ups) == 2
    assert not h.world.cloud.live(STACK)
    steps = json.loads((second.run_dir / "steps.json").read_text())
    assert sorted(r["step"] for r in steps) == ["pull-again", "pull-cold", "pull-warm"]


def test_the_real_nightly_stack_with_its_experiment(harness):
    """The stack file as it stands (with its experiment): steps from the plan, in the fake."""
    from tests.study.lifecycle.conftest import _plan, nightly

    sec = nightly(real=True)
    sec["cluster"]["project"] = "study-harness-tests"  # the user's own, as stacks/local.yaml sets
    plan = _plan(json.dumps(sec, sort_keys=True, default=str))
    assert plan.ok, plan.violations
    steps = [FakeStep(s.name, s.estimated_seconds) for s in plan.report.estimate.steps]
    h = harness(sec=sec, steps=steps)
    out = h.run()
    assert out.exit_code == EXIT_OK, (out.message, out.details)
    assert h.progress.snapshots[-1].steps_total == len(steps)
    prov = json.loads((out.run_dir / "provenance.json").read_text())
    assert prov["experiment"]["kind"] == sec["experiment"]["kind"]
    assert [o["name"] for o in prov["operators"]] == sec["operators"]
    assert all(o["version"] and o["controller_image"] for o in prov["operators"])
    assert [s["step"] for s in prov["steps"]] == [s.name for s in steps]
    delay = h.world.backend.destroy_started_at - h.world.experiment.completed_at()
    assert 0 < delay <= 60


def test_a_failed_preflight_leaves_no_results_directory_and_no_ledger_row(harness):
    """Nothing was created, so nothing is recorded: `study runs` lists runs, not refusals."""
    h = harness()
    h.world.cloud.quota_usage["cpus"] = 999
    out = h.run()
    assert (out.status, out.exit_code) == ("preflight-failed", EXIT_CHECK)
    assert not h.results.exists()


def test_a_failed_preflight_of_a_resume_keeps_the_run_resumable(harness):
    """The interrupted run's record is left as it was, so --resume works once quota is back."""
    h = harness(steps=list(STEPS3))
    h.world.faults.add("up.step", h.world.signals.action(SIGTERM), after=70)
    first = h.run()
    before = (first.run_dir / "run-state.json").read_bytes()
    ledger_before = (h.results / "ledger.jsonl").read_bytes()
    h.world.cloud.quota_usage["cpus"] = 999
    second = h.run(resume=True)
    assert (second.status, second.exit_code) == ("preflight-failed", EXIT_CHECK)
    assert (first.run_dir / "run-state.json").read_bytes() == before
    assert (h.results / "ledger.jsonl").read_bytes() == ledger_before
    h.world.cloud.quota_usage["cpus"] = 0
    assert h.run(resume=True).exit_code == EXIT_OK


def test_an_interrupted_preflight_of_a_resume_still_offers_the_resume(harness):
    """The earlier run is still on disk, untouched, so the hint to resume it stays true."""
    h = harness(steps=list(STEPS3))
    h.world.faults.add("up.step", h.world.signals.action(SIGTERM), after=70)
    first = h.run()
    before = (first.run_dir / "run-state.json").read_bytes()
    h.world.faults.add("quota", h.world.signals.action(SIGINT))
    second = h.run(resume=True)
    assert (second.status, second.exit_code) == ("interrupted", 130)
    assert f"continue with: study run {STACK} --resume" in second.details
    assert (first.run_dir / "run-state.json").read_bytes() == before


def test_missing_pulumi_cli_is_the_one_line_of_every_command(harness):
    from study.lifecycle.pulumi_backend import MISSING_CLI

    h = harness(steps=list(STEPS3))
    h.world.faults.add("check", raising(PrerequisiteMissing(MISSING_CLI)))
    out = h.run()
    assert (out.status, out.exit_code, out.message) == ("preflight-failed", EXIT_FAILED,
                                                         MISSING_CLI)
    assert h.world.backend.calls == []
    assert not h.results.exists()
