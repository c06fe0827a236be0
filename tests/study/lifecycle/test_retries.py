"""The lifecycle's retries (tenacity, on the injected clock) keep their attempts and backoffs.

`up`: 3 attempts, 30 s then 60 s (doubling), a refresh before each retry, a held lock never
retried. Destroy: 6 attempts, 20 s doubling to a 300 s cap, a refresh before each retry, a
permanent error never retried. Waits go through the run's clock: the simulated one here.
"""

from __future__ import annotations

import pytest

from study.lifecycle.destroy import DestroyPolicy, destroy_stack
from study.lifecycle.interfaces import PermanentError, TransientError
from study.lifecycle.retries import backoff, call
from study.lifecycle.run import EXIT_FAILED
from tests.doubles.lifecycle import SimClock, gke_in_progress, make_world, raising
from tests.study.lifecycle.conftest import STACK, STEPS3


def _ops(world) -> list[str]:
    return [op for op, _ in world.backend.calls]


def test_up_waits_30_then_60_seconds_and_refreshes_before_each_retry(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("up.start", raising(gke_in_progress()), times=3)
    out = h.run()
    assert (out.status, out.exit_code) == ("failed", EXIT_FAILED)
    waits = [ln for ln in h.progress.lines if ln.startswith("up attempt")]
    assert waits == [
        f"up attempt 1 failed ({gke_in_progress()}); retrying in 30 s",
        f"up attempt 2 failed ({gke_in_progress()}); retrying in 60 s",
    ]
    ops = _ops(h.world)
    assert ops[:5] == ["up", "refresh", "up", "refresh", "up"]
    ups = [t for op, t in h.world.backend.calls if op == "up"]
    assert ups[1] - ups[0] == 30 and ups[2] - ups[1] == 60


def test_up_succeeds_on_the_second_attempt(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("up.start", raising(gke_in_progress()), times=1)
    out = h.run()
    assert out.exit_code == 0, (out.message, out.details)
    assert _ops(h.world).count("up") == 2


def _world():
    from infra.spec import load_spec
    from tests.conftest import sections, to_config

    spec = load_spec(to_config(sections(STACK)))
    return spec, make_world(STACK, {"stack": STACK}, steps=list(STEPS3))


def test_destroy_backs_off_20_s_doubling_to_the_300_s_cap():
    spec, w = _world()
    w.faults.add("destroy", raising(TransientError("DependencyViolation")), times=6)
    logs: list[str] = []
    out = destroy_stack(STACK, spec, w.backend, w.inventory, w.clock,
                        DestroyPolicy(verify_timeout_seconds=0), log=logs.append)
    assert (out.ok, out.attempts) == (False, 6)
    assert out.errors == [f"attempt {n}: DependencyViolation" for n in range(1, 7)]
    assert logs == [f"destroy attempt {n} failed (attempt {n}: DependencyViolation); "
                    f"retrying in {s} s" for n, s in ((1, 20), (2, 40), (3, 80), (4, 160),
                                                      (5, 300))]
    assert _ops(w) == ["destroy", *["refresh", "destroy"] * 5]


def test_destroy_stops_at_a_permanent_error():
    spec, w = _world()
    w.faults.add("destroy", raising(PermanentError("AccessDenied")), times=1)
    out = destroy_stack(STACK, spec, w.backend, w.inventory, w.clock,
                        DestroyPolicy(verify_timeout_seconds=0))
    assert (out.ok, out.attempts, out.errors) == (False, 1, ["attempt 1: AccessDenied"])
    assert _ops(w) == ["destroy"]


def test_waits_are_on_the_injected_clock_and_the_last_failure_is_raised():
    clock = SimClock(1000.0)
    seen: list[float] = []

    def fail(n: int):
        seen.append(clock.now())
        msg = f"try {n}"
        raise TransientError(msg)

    with pytest.raises(TransientError, match="try 4"):
        call(backoff(clock, attempts=4, first_wait_s=5, max_wait_s=12,
                     retry_if=lambda exc: True), fail)
    assert seen == [1000.0, 1005.0, 1015.0, 1027.0]


def test_give_up_ends_the_retries_before_the_next_wait():
    clock = SimClock(0.0)
    calls: list[int] = []

    def fail(n: int):
        calls.append(n)
        msg = "x"
        raise TransientError(msg)

    with pytest.raises(TransientError):
        call(backoff(clock, attempts=5, first_wait_s=1, retry_if=lambda exc: True,
                     give_up=lambda: len(calls) >= 2), fail)
    assert (calls, clock.now()) == ([1, 2], 1.0)


def test_poll_waits_the_interval_then_only_what_is_left_of_the_timeout():
    clock = SimClock(0.0)
    seen: list[float] = []

    def listing():
        seen.append(clock.now())
        return ["disk"]

    assert call_poll(clock, listing, timeout_s=70, interval_s=30) == ["disk"]
    assert seen == [0.0, 30.0, 60.0, 70.0]


def test_poll_returns_as_soon_as_the_listing_is_empty():
    clock = SimClock(0.0)
    answers = [["disk"], ["disk"], []]
    assert call_poll(clock, lambda: answers.pop(0), timeout_s=600, interval_s=30) == []
    assert clock.now() == 60.0


def test_poll_with_no_timeout_lists_once():
    clock = SimClock(5.0)
    calls: list[int] = []
    assert call_poll(clock, lambda: calls.append(1) or ["x"], timeout_s=0, interval_s=30) == ["x"]
    assert (calls, clock.now()) == ([1], 5.0)


def test_a_listing_error_is_not_retried():
    clock = SimClock(0.0)
    calls: list[int] = []

    def broken():
        calls.append(1)
        msg = "403"
        raise PermanentError(msg)

    with pytest.raises(PermanentError, match="403"):
        call_poll(clock, broken, timeout_s=600, interval_s=30)
    assert calls == [1]


def call_poll(clock, fn, *, timeout_s, interval_s):
    from study.lifecycle.retries import poll

    return poll(clock, fn, again=bool, timeout_s=timeout_s, interval_s=interval_s)
