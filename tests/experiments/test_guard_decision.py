"""The guard's decisions: every combination of clock, deadline, step results and pool state.

The guard is what stops a forgotten cluster's spend, so each branch is pinned by a full table
(every pool state x every clock position x every step situation) and by properties hypothesis
checks over arbitrary inputs.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from experiments.guard_decision import (
    StackState,
    deadline,
    decide,
    history,
    parse_record_name,
    record_name,
)

T0 = 1_800_000_000.0  # cluster creation (any epoch: decisions only compare times)
HOURS = 2.0
GRACE = 900.0
DUE = T0 + HOURS * 3600

POOLS = {
    "running": StackState(target_nodes=4, created_at=T0),
    "at-zero": StackState(target_nodes=0, created_at=T0),
    "zeroed-by-guard": StackState(target_nodes=0, created_at=T0, scaled_down_at=T0 + 100),
    "scaled-back": StackState(target_nodes=4, created_at=T0, scaled_down_at=T0 + 100),
}
# step -> finished at (results complete in the bucket) or None
STEPS = {
    "none-declared": {},
    "none-in-bucket": {"a": None, "b": None},
    "some-in-bucket": {"a": T0 + 600, "b": None},
    "all-in-bucket": {"a": T0 + 600, "b": T0 + 1200},
}
CLOCKS = {
    "before-grace": T0 + 1200 + GRACE - 1,
    "grace-reached": T0 + 1200 + GRACE,
    "deadline-reached": DUE,
    "after-deadline": DUE + 3600,
}


def expected(pool: str, steps: str, clock: str) -> str:
    """The table, written out from the rules (not from the code)."""
    if pool in ("at-zero", "zeroed-by-guard"):
        return "idle"
    if pool == "scaled-back":
        return "resumed"
    if clock in ("deadline-reached", "after-deadline"):
        return "scale-to-zero"
    if steps == "all-in-bucket" and clock == "grace-reached":
        return "scale-to-zero"
    return "wait"


class TestDecisionTable:
    """Every pool state x step situation x clock position gives the one right action."""

    def test_full_table(self):
        wrong = []
        for pool, steps, clock in itertools.product(POOLS, STEPS, CLOCKS):
            got = decide(CLOCKS[clock], DUE, GRACE, STEPS[steps], POOLS[pool]).action
            if got != expected(pool, steps, clock):
                wrong.append((pool, steps, clock, got))
        assert wrong == []
        assert len(list(itertools.product(POOLS, STEPS, CLOCKS))) == 64

    def test_reasons_say_why(self):
        at_deadline = decide(DUE, DUE, GRACE, STEPS["some-in-bucket"], POOLS["running"])
        assert at_deadline.reason == (
            "the deadline 2027-01-15T10:00:00Z has passed (budget.max_hours or budget.usd at "
            "the stack's price, from 2027-01-15T08:00:00Z)")
        done = decide(T0 + 1200 + GRACE, DUE, GRACE, STEPS["all-in-bucket"], POOLS["running"])
        assert done.reason == (
            "all 2 steps have results in the bucket, the last finished at 2027-01-15T08:20:00Z, "
            "and the grace of 900 s has passed")
        waiting = decide(T0, DUE, GRACE, STEPS["some-in-bucket"], POOLS["running"])
        assert waiting.reason == "1 of 2 steps have results in the bucket; deadline 2027-01-15T10:00:00Z"

    def test_grace_after_a_resume_counts_from_the_resume(self):
        resumed = StackState(target_nodes=4, created_at=T0, resumed_at=T0 + 5000)
        due = deadline(resumed, HOURS)
        assert due == T0 + 5000 + HOURS * 3600
        steps = STEPS["all-in-bucket"]
        assert decide(T0 + 5000 + GRACE - 1, due, GRACE, steps, resumed).action == "wait"
        assert decide(T0 + 5000 + GRACE, due, GRACE, steps, resumed).action == "scale-to-zero"


times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
step_maps = st.dictionaries(st.sampled_from("abcdef"), st.one_of(st.none(), times), max_size=6)


class TestDecisionProperties:
    """Invariants over arbitrary inputs: the guard never lets a running pool pass its deadline,
    never touches a pool at zero, and never stops a run that is neither late nor finished."""

    @given(now=times, due=times, grace=times, steps=step_maps, nodes=st.integers(1, 512),
           created=times)
    def test_running_pool_past_deadline_is_stopped(self, now, due, grace, steps, nodes, created):
        stack = StackState(target_nodes=nodes, created_at=created)
        if now >= due:
            assert decide(now, due, grace, steps, stack).action == "scale-to-zero"

    @given(now=times, due=times, grace=times, steps=step_maps, created=times,
           down=st.one_of(st.none(), times))
    def test_pool_at_zero_is_left_alone(self, now, due, grace, steps, created, down):
        stack = StackState(target_nodes=0, created_at=created, scaled_down_at=down)
        assert decide(now, due, grace, steps, stack).action == "idle"

    @given(now=times, due=times, grace=times, steps=step_maps, nodes=st.integers(1, 512),
           created=times)
    def test_unfinished_run_before_deadline_waits(self, now, due, grace, steps, nodes, created):
        stack = StackState(target_nodes=nodes, created_at=created)
        unfinished = not steps or any(at is None for at in steps.values())
        if now < due and unfinished:
            assert decide(now, due, grace, steps, stack).action == "wait"


class TestRecordHistory:
    """The guard's memory is its records in the bucket: what it did last, and when."""

    def test_names_round_trip(self):
        name = record_name(T0, "scale-to-zero")
        assert name == "20270115T080000Z-scale-to-zero.json"
        assert parse_record_name(f"guard/{name}") == (T0, "scale-to-zero")
        assert parse_record_name("20270115T080000Z-scale-failed.json") is None
        assert parse_record_name("notes.txt") is None

    def test_scale_down_then_resume_then_scale_down(self):
        names = [record_name(T0 + 10, "scale-to-zero"), record_name(T0 + 20, "resumed"),
                 record_name(T0 + 30, "scale-to-zero"), record_name(T0 + 15, "scale-failed")]
        assert history(names) == (T0 + 30, T0 + 20)
        assert history(names[:2]) == (None, T0 + 20)
        assert history(names[:1]) == (T0 + 10, None)
        assert history([]) == (None, None)
