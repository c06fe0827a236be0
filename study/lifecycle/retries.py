"""Retries with backoff for the lifecycle's cloud calls, through `tenacity`, on the run's clock.

Why one helper: `up` and `destroy` both retry with a doubling wait, and both must wait on the
injected `Clock` (the simulated one in tests, so a six-attempt destroy takes no real time), never
on `time.sleep`. The callers keep their own bookkeeping (errors, the lock, the refresh); this
module holds only the policy: how many attempts, which failures are worth another one, how long
to wait, and what to do before the next attempt.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import tenacity

from study.lifecycle.interfaces import Clock


def backoff(
    clock: Clock,
    *,
    attempts: int,
    first_wait_s: float,
    max_wait_s: float = math.inf,
    retry_if: Callable[[BaseException], bool],
    give_up: Callable[[], bool] = lambda: False,
    before_retry: Callable[[int], None] | None = None,
    on_wait: Callable[[int, float], None] | None = None,
) -> tenacity.Retrying:
    """At most `attempts` calls; after failed call n (when `retry_if` says the failure may pass
    and `give_up()` is false) wait `first_wait_s * 2**(n-1)`, capped at `max_wait_s`, on `clock`.

    `on_wait(n, seconds)` runs before the wait (to say so), `before_retry(n)` right before call
    n > 1 (a refresh, say); an exception from either ends the retries and propagates, as does the
    last failure itself (`reraise`): callers see their own exceptions, never a RetryError.
    """

    def before(state: tenacity.RetryCallState) -> None:
        if before_retry is not None and state.attempt_number > 1:
            before_retry(state.attempt_number)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_wait is not None and state.next_action is not None:
            on_wait(state.attempt_number, float(state.next_action.sleep))

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts) | _StopWhen(give_up),
        wait=tenacity.wait_exponential(multiplier=first_wait_s, exp_base=2, min=0,
                                       max=max_wait_s),
        retry=tenacity.retry_if_exception(retry_if),
        sleep=lambda seconds: clock.sleep(float(seconds)),
        before=before,
        before_sleep=before_sleep,
        reraise=True,
    )


def poll(clock: Clock, fn: Callable[[], Any], *, again: Callable[[Any], bool],
         timeout_s: float, interval_s: float) -> Any:
    """`fn()` until `again(result)` is false or `timeout_s` has passed on `clock`, waiting
    `interval_s` between calls (less when the deadline is nearer); the last result either way.
    An exception from `fn` is not retried: it propagates."""
    deadline = clock.now() + timeout_s
    retrying = tenacity.Retrying(
        stop=_StopWhen(lambda: clock.now() >= deadline),
        wait=lambda state: min(interval_s, max(0.0, deadline - clock.now())),
        retry=tenacity.retry_if_result(again),
        sleep=lambda seconds: clock.sleep(float(seconds)),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        reraise=True,
    )
    return retrying(fn)


class _StopWhen(tenacity.stop.stop_base):
    """Stop when the caller's predicate says so (a deadline that has passed)."""

    def __init__(self, predicate: Callable[[], bool]):
        self.predicate = predicate

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.predicate()


def call(retrying: tenacity.Retrying, fn: Callable[[int], Any]) -> Any:
    """`fn(attempt number)` under `retrying`."""
    for attempt in retrying:
        with attempt:
            return fn(attempt.retry_state.attempt_number)
    msg = "unreachable: tenacity reraises the last failure"
    raise AssertionError(msg)  # pragma: no cover
