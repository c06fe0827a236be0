"""The run's stages move only along the transition table; old run-state files still load and
resume; the conclusion rules rank what went wrong in a fixed order."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from study.lifecycle.stages import (
    RESUMABLE,
    TRANSITIONS,
    IllegalTransition,
    Stage,
    Status,
    check_transition,
)
from study.lifecycle.state import STATE_FILE, RunState, load_state
from study.lifecycle.verdict import (
    EXIT_CHECK,
    EXIT_FAILED,
    EXIT_LEFTOVERS,
    EXIT_OK,
    EXIT_STOPPED,
    Evidence,
    Trouble,
    conclude,
)
from tests.study.lifecycle.conftest import STACK, STEPS3

OLD_STATE = Path(__file__).parents[2] / "fixtures" / "run-state" / "interrupted-during-watch.json"
HAPPY_PATH = [Stage.UP, Stage.WATCH, Stage.COLLECT, Stage.DESTROY, Stage.DONE]


def test_the_happy_path_is_allowed_step_by_step():
    st = RunState(stack=STACK, run_id="r")
    for stage in HAPPY_PATH:
        st.advance(stage)
    assert st.stage is Stage.DONE


@pytest.mark.parametrize(("current", "target"), [
    (Stage.PREFLIGHT, Stage.WATCH),  # watching a cluster never brought up
    (Stage.PREFLIGHT, Stage.DESTROY),  # a destroy that skips collection
    (Stage.WATCH, Stage.DONE),  # a watch that skips cleanup
    (Stage.UP, Stage.DESTROY),
    (Stage.DESTROY, Stage.COLLECT),  # collecting after the cluster is gone, in the same attempt
    (Stage.DONE, Stage.PREFLIGHT),  # a resume is `reopen`, not a move
])
def test_a_move_the_table_does_not_hold_raises(current, target):
    st = RunState(stack=STACK, run_id="r", stage=current)
    with pytest.raises(IllegalTransition) as err:
        st.advance(target)
    assert str(err.value).startswith(f"run stage {current} cannot move to {target}; allowed: ")
    assert st.stage is current


def test_every_stage_can_reach_done():
    """No stage is a dead end: from each one the table leads to `done`."""
    def reaches_done(stage: Stage, seen: frozenset[Stage] = frozenset()) -> bool:
        return stage is Stage.DONE or any(
            reaches_done(nxt, seen | {stage}) for nxt in TRANSITIONS[stage] if nxt not in seen)

    assert [s for s in Stage if not reaches_done(s)] == []
    assert check_transition(Stage.COLLECT, Stage.DONE) is Stage.DONE  # --keep


def test_an_old_run_state_file_loads(tmp_path):
    """A run-state.json written before the stages were an enum (the fixture is the exact
    output of that version's `RunState.to_json`)."""
    run_dir = tmp_path / STACK / "20261122T120000Z"
    run_dir.mkdir(parents=True)
    shutil.copy(OLD_STATE, run_dir / STATE_FILE)
    st = load_state(run_dir)
    assert (st.stage, st.status) == (Stage.WATCH, Status.INTERRUPTED)
    assert st.status in RESUMABLE
    assert (st.finished_steps, st.exit_code, st.resources_may_exist) == (["pull-cold"], 130, True)
    # Written back, it is byte for byte the format it was read in.
    assert st.to_json() == OLD_STATE.read_bytes()


def test_an_unknown_stage_is_an_unreadable_state(tmp_path):
    data = json.loads(OLD_STATE.read_text())
    data["stage"] = "teardown"
    (tmp_path / STATE_FILE).write_text(json.dumps(data))
    from core.errors import StudyError

    with pytest.raises(StudyError, match="unreadable run state .*'teardown' is not a valid Stage"):
        load_state(tmp_path)


def test_an_old_interrupted_run_resumes(harness):
    """`--resume` of a run an older version left interrupted during its watch: a new attempt
    from the preflight, the finished step not rendered again."""
    from core.layout import RESUME_ENV

    h = harness(steps=list(STEPS3))
    data = json.loads(OLD_STATE.read_text())
    data["resources_may_exist"] = False  # its cluster is gone: a fresh one, a fresh clock
    run_dir = h.results / STACK / data["run_id"]
    run_dir.mkdir(parents=True)
    (run_dir / STATE_FILE).write_text(json.dumps(data))
    out = h.run(resume=True)
    assert out.exit_code == EXIT_OK, (out.message, out.details)
    st = load_state(run_dir)
    assert (st.stage, st.status, st.attempts) == (Stage.DONE, Status.SUCCEEDED, 2)
    assert h.world.backend.envs[0][RESUME_ENV] == "pull-cold"


class _Destroy:
    def __init__(self, ok: bool):
        self.ok, self.attempts, self.errors = ok, 6, ["attempt 6: boom"]


class _Collection:
    def __init__(self, steps, partial=False):
        self.steps, self.partial, self.problems = steps, partial, ["nodes: timeout"]


def _verdict(trouble=None, collection=None, destroy=None):
    return conclude(Evidence(STACK, trouble or Trouble(), collection, destroy, "deadline text"))


def test_the_rules_rank_what_went_wrong():
    everything = Trouble(signals=[int(signal.SIGTERM)], signal_stage="watch",
                         stop_reason="deadline", failure="x", check_failure="y",
                         prerequisite="z")
    failed_step = _Collection([{"step": "a", "status": "failed"}], partial=True)
    assert _verdict(everything, failed_step, _Destroy(False)).status is Status.DESTROY_INCOMPLETE
    v = _verdict(everything, failed_step, _Destroy(True))
    assert (v.status, v.code, v.message) == (
        Status.INTERRUPTED, 143, f"run of {STACK} interrupted by SIGTERM during watch")
    everything.signals = []
    assert (_verdict(everything).status, _verdict(everything).code) == (
        Status.PREFLIGHT_FAILED, EXIT_FAILED)
    everything.prerequisite = None
    assert _verdict(everything).code == EXIT_CHECK
    everything.check_failure = None
    assert _verdict(everything).message == f"run of {STACK} failed: x"
    everything.failure = None
    assert (_verdict(everything).status, _verdict(everything).code) == (
        Status.DEADLINE, EXIT_STOPPED)
    everything.stop_reason = None
    assert _verdict(everything, failed_step).message == f"run of {STACK}: step(s) failed: a"
    partial = _Collection([{"step": "a", "status": "succeeded"}], partial=True)
    assert _verdict(everything, partial).message == (
        f"run of {STACK}: collection partial: nodes: timeout")
    v = _verdict(everything, _Collection([{"step": "a", "status": "succeeded"}]))
    assert (v.status, v.code) == (Status.SUCCEEDED, EXIT_OK)
    assert _verdict(destroy=_Destroy(False)).code == EXIT_LEFTOVERS


def test_a_step_that_stopped_the_run_outranks_the_failed_up_it_caused():
    """A recorder that stops the run (a failed cache clear) fails its Job and so `up`: the
    message is the recorder's reason, the `up` error only its consequence."""
    stopped = _Collection([{"step": "a", "status": "succeeded"},
                           {"step": "b", "status": "failed", "stop": "study stopped at step b"}])
    v = _verdict(Trouble(failure="Job 'rec-b' failed"), stopped)
    assert (v.status, v.code, v.message) == (
        Status.FAILED, EXIT_FAILED, f"run of {STACK}: study stopped at step b")
    interrupted = Trouble(signals=[int(signal.SIGTERM)], signal_stage="watch")
    assert _verdict(interrupted, stopped).status is Status.INTERRUPTED
