"""How a run ends: what went wrong, classified once as it happens, and the rules that turn it
into a status, an exit code and one message.

The rules are a table read top to bottom, the first that applies wins: a destroy that did not
complete outranks everything (money is still being spent), then a signal, a missing
prerequisite, a failed preflight check, a step that stopped the run (its recorder says why; the
failed `up` is its consequence), an error, the deadline or a stall, failed steps, a partial
collection, and only then success.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field

from core.errors import CheckFailed, StudyError
from study.lifecycle.collect import Collection
from study.lifecycle.destroy import DestroyOutcome
from study.lifecycle.interfaces import PrerequisiteMissing, StopRequested
from study.lifecycle.stages import Status

EXIT_OK = 0
EXIT_FAILED = 1  # a step failed, an error, or the collection is partial
EXIT_CHECK = 3  # preflight: budget, quota or validation; nothing was created
EXIT_STOPPED = 4  # deadline or stalled experiment; collected and destroyed
EXIT_LEFTOVERS = 5  # destroy did not complete: resources still exist
EXIT_SIGNAL: dict[int, int] = {int(signal.SIGINT): 130, int(signal.SIGTERM): 143}


class Interrupted(KeyboardInterrupt):  # noqa: N818 - a signal, like KeyboardInterrupt
    """Raised from the signal handler; a KeyboardInterrupt so no `except Exception` swallows it
    and the CLI's last-resort handler exits 130 if it escapes before the run is set up."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Trouble:
    """Everything that went wrong in one attempt, each kind in its own field."""

    signals: list[int] = field(default_factory=list)
    signal_stage: str | None = None  # where the first signal arrived
    stop_reason: str | None = None  # "deadline" or "stalled"
    failure: str | None = None
    check_failure: str | None = None
    prerequisite: str | None = None  # the pulumi CLI or the passphrase is missing
    busy: bool = False  # the stack's lock is held by another update: hands off

    def note_signal(self, signum: int, stage: str) -> None:
        self.signals.append(signum)
        if self.signal_stage is None:
            self.signal_stage = stage

    def classify(self, exc: BaseException, stage: str) -> None:
        if isinstance(exc, Interrupted):
            return  # already noted by the handler
        if isinstance(exc, KeyboardInterrupt):
            self.note_signal(signal.SIGINT, stage)
        elif isinstance(exc, StopRequested):
            self.stop_reason = self.stop_reason or "deadline"
        elif isinstance(exc, PrerequisiteMissing):
            self.prerequisite = str(exc)
        elif isinstance(exc, CheckFailed):
            self.check_failure = str(exc)
        elif isinstance(exc, StudyError):
            self.failure = str(exc)
        else:  # any other exception, SystemExit included: cleanup still runs
            self.failure = f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Evidence:
    """What the rules look at."""

    stack: str
    trouble: Trouble
    collection: Collection | None
    destroy: DestroyOutcome | None
    stop_text: str  # why the run was stopped, in words (deadline or stall)


@dataclass(frozen=True)
class Verdict:
    status: Status
    code: int
    message: str


Rule = Callable[[Evidence], Verdict | None]


def _destroy_incomplete(ev: Evidence) -> Verdict | None:
    d = ev.destroy
    if d is None or d.ok:
        return None
    why = d.errors[-1] if d.errors else "resources still listed"
    return Verdict(Status.DESTROY_INCOMPLETE, EXIT_LEFTOVERS,
                   f"destroy of {ev.stack} did not complete after {d.attempts} attempt(s): {why}")


def _interrupted(ev: Evidence) -> Verdict | None:
    t = ev.trouble
    if not t.signals:
        return None
    sig = t.signals[0]
    return Verdict(Status.INTERRUPTED, EXIT_SIGNAL.get(sig, 130),
                   f"run of {ev.stack} interrupted by {signal.Signals(sig).name} during "
                   f"{t.signal_stage or 'start'}")


def _prerequisite(ev: Evidence) -> Verdict | None:
    p = ev.trouble.prerequisite
    return Verdict(Status.PREFLIGHT_FAILED, EXIT_FAILED, p) if p else None


def _check(ev: Evidence) -> Verdict | None:
    c = ev.trouble.check_failure
    return Verdict(Status.PREFLIGHT_FAILED, EXIT_CHECK, c) if c else None


def _step_stop(ev: Evidence) -> Verdict | None:
    """A step's recorder stopped the run (a cache clear that failed): its reason is the message,
    not the failed `up` it caused."""
    rows = ev.collection.steps if ev.collection else []
    stop = next((r["stop"] for r in rows if r.get("stop")), None)
    return Verdict(Status.FAILED, EXIT_FAILED, f"run of {ev.stack}: {stop}") if stop else None


def _failure(ev: Evidence) -> Verdict | None:
    f = ev.trouble.failure
    return Verdict(Status.FAILED, EXIT_FAILED, f"run of {ev.stack} failed: {f}") if f else None


def _stopped(ev: Evidence) -> Verdict | None:
    reason = ev.trouble.stop_reason
    if reason not in ("deadline", "stalled"):
        return None
    return Verdict(Status(reason), EXIT_STOPPED, f"run of {ev.stack} stopped: {ev.stop_text}")


def _failed_steps(ev: Evidence) -> Verdict | None:
    rows = ev.collection.steps if ev.collection else []
    failed = [r["step"] for r in rows if r["status"] in ("failed", "invalid")]
    if not failed:
        return None
    return Verdict(Status.FAILED, EXIT_FAILED,
                   f"run of {ev.stack}: step(s) failed: {', '.join(failed)}")


def _partial(ev: Evidence) -> Verdict | None:
    c = ev.collection
    if c is None or not c.partial:
        return None
    return Verdict(Status.FAILED, EXIT_FAILED,
                   f"run of {ev.stack}: collection partial: {'; '.join(c.problems)}")


def _succeeded(ev: Evidence) -> Verdict:
    return Verdict(Status.SUCCEEDED, EXIT_OK, f"run of {ev.stack} succeeded")


RULES: tuple[Rule, ...] = (_destroy_incomplete, _interrupted, _prerequisite, _check, _step_stop,
                           _failure, _stopped, _failed_steps, _partial, _succeeded)


def conclude(ev: Evidence) -> Verdict:
    """The first rule of `RULES` that applies (the last always does)."""
    for rule in RULES:
        verdict = rule(ev)
        if verdict is not None:
            return verdict
    msg = "unreachable: the last rule always applies"
    raise AssertionError(msg)  # pragma: no cover
