"""The stages of a `study run` and the only moves between them.

Modelled on PerfKitBenchmarker's `stages.py` (a fixed, ordered set of named stages a benchmark
goes through): here the stages are an enum, and the transition table below is the whole of
what may follow what; any other move raises `IllegalTransition`, so a cleanup path that would
skip the destroy, or a second preflight inside one attempt, is a bug that shows at once.

    preflight -> up -> watch -> collect -> destroy -> done
    preflight -> collect            (an earlier attempt's resources are cleaned up)
    preflight -> done               (nothing happened: nothing to clean up)
    up        -> collect            (up failed or was stopped: cleanup still runs)
    up        -> done               (another update holds the lock: hands off)
    collect   -> done               (--keep: the cluster stays up)

`--resume` reopens a finished run at `preflight` (`reopen`): a new attempt, not a move.
The values are the strings run-state.json has always held, so old files still load.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    PREFLIGHT = "preflight"
    UP = "up"
    WATCH = "watch"
    COLLECT = "collect"
    DESTROY = "destroy"
    DONE = "done"


class Status(StrEnum):
    """A run's status in run-state.json, the ledger and `study runs`."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PREFLIGHT_FAILED = "preflight-failed"
    INTERRUPTED = "interrupted"
    DEADLINE = "deadline"
    STALLED = "stalled"
    DESTROY_INCOMPLETE = "destroy-incomplete"
    COLLECTED = "collected"  # a record `study collect` started for a stack up by hand
    DESTROYED = "destroyed"  # `study destroy` finished what a run left


# Statuses after which a run may be resumed (its cluster may or may not still exist).
RESUMABLE = frozenset({Status.FAILED, Status.INTERRUPTED, Status.DEADLINE, Status.STALLED,
                       Status.DESTROY_INCOMPLETE, Status.RUNNING})

TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.PREFLIGHT: frozenset({Stage.UP, Stage.COLLECT, Stage.DONE}),
    Stage.UP: frozenset({Stage.WATCH, Stage.COLLECT, Stage.DONE}),
    Stage.WATCH: frozenset({Stage.COLLECT}),
    Stage.COLLECT: frozenset({Stage.DESTROY, Stage.DONE}),
    Stage.DESTROY: frozenset({Stage.DONE}),
    Stage.DONE: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A move the table does not allow: a bug in the orchestrator, never bad input."""

    def __init__(self, current: Stage, target: Stage):
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (the run is done)"
        super().__init__(f"run stage {current} cannot move to {target}; allowed: {allowed}")
        self.current, self.target = current, target


def check_transition(current: Stage, target: Stage) -> Stage:
    """`target` if the table allows `current -> target`, else IllegalTransition."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(current, target)
    return target
