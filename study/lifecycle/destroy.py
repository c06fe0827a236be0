"""Destroy a stack for real: retry the known transient cloud errors, then prove nothing is left.

Pulumi state saying "destroyed" is not the proof; the cloud listing every resource that carries
the stack's labels is. Listings are eventually consistent, so the check polls for a while before
calling anything a leftover. Shared by `study run`, `study destroy` and `study janitor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from study.lifecycle.interfaces import (
    Clock,
    CloudInventory,
    CloudResource,
    ConcurrentUpdateError,
    EventSink,
    LifecycleError,
    PermanentError,
    StackBackend,
    TransientError,
)
from study.lifecycle.retries import backoff, call, poll


@dataclass(frozen=True)
class DestroyPolicy:
    attempts: int = 6
    backoff_seconds: float = 20.0  # doubled after each failure, capped below
    backoff_max_seconds: float = 300.0
    verify_timeout_seconds: float = 600.0  # how long a deleted resource may still be listed
    verify_interval_seconds: float = 30.0
    release_timeout_seconds: float = 600.0  # how long the CSI drivers get to delete the disks


@dataclass
class DestroyOutcome:
    ok: bool
    attempts: int
    started_at: float
    finished_at: float
    errors: list[str] = field(default_factory=list)
    leftovers: list[CloudResource] = field(default_factory=list)
    verified: bool = False  # the label listing succeeded and came back empty
    interrupted: bool = False  # a Ctrl-C cancelled an attempt (it was retried)
    never_created: bool = False  # the state held nothing, so nothing was destroyed

    def finish_command(self, stack: str) -> str:
        """What finishes the job: destroy again, and delete the disks Pulumi never owned (a
        CSI driver created them from the results claim; destroy cannot see them)."""
        out = f"study destroy {stack}   (or: pulumi destroy -s {stack} --yes)"
        disks = [delete_disk_command(r) for r in self.leftovers]
        return "; ".join([out, *(d for d in disks if d)])


def delete_disk_command(r: CloudResource) -> str | None:
    """The cloud CLI command that deletes a leftover disk, every value quoted; else None."""
    import shlex

    q = shlex.quote
    if r.kind == "ec2:volume":
        region = f" --region {q(r.location)}" if r.location else ""
        return f"aws ec2 delete-volume --volume-id {q(r.name)}{region}"
    if r.kind == "compute.disks":
        zone = f" --zone {q(r.location.rsplit('/', 1)[-1])}" if r.location else ""
        return f"gcloud compute disks delete {q(r.name)}{zone} --quiet"
    return None


def destroy_stack(
    stack: str,
    spec,
    backend: StackBackend,
    inventory: CloudInventory,
    clock: Clock,
    policy: DestroyPolicy = DestroyPolicy(),  # noqa: B008 - frozen dataclass
    on_event: EventSink | None = None,
    log=lambda msg: None,
    release: Callable[[float], list[str]] | None = None,
    owns_stack: bool = False,
) -> DestroyOutcome:
    """Destroy with retries, then verify by labels; never raises for cloud failures.

    `release` (a reachable cluster's `ClusterReader.release_volumes`) runs first, so the CSI
    drivers delete the study's disks while they still exist; a cluster that cannot be reached
    is destroyed all the same, and the label listing afterwards reports any disk left.

    `owns_stack`: the caller ran the stack's last update (`study run` cleaning up after itself),
    so a lock still held after a backoff is that update's stale lock and may be broken. Anyone
    else (`study destroy`, the janitor) never breaks a lock: a live run's update may hold it, and
    destroying under it would delete that run's cluster and results.
    """
    started = clock.now()
    errors: list[str] = []
    released = release is None
    if release is not None:
        lock = _lock_state(stack, backend)
        if lock == "held" and not owns_stack:
            msg = (f"another update holds {stack}: nothing was released or destroyed; if no run "
                   f"is active, pulumi cancel -s {stack}, then study destroy {stack}")
            log(msg)
            return DestroyOutcome(ok=False, attempts=0, started_at=started,
                                  finished_at=clock.now(), errors=[msg])
        if lock == "free":
            _release_volumes(release, policy, log)
            released = True
    attempt = _DestroyAttempts(stack, backend, on_event or (lambda ev: None), owns_stack,
                               errors, released, lambda: _release_volumes(
                                   release, policy, log))  # type: ignore[arg-type]
    retrying = backoff(
        clock, attempts=policy.attempts, first_wait_s=policy.backoff_seconds,
        max_wait_s=policy.backoff_max_seconds, retry_if=attempt.worth_retrying,
        # clear pending operations before retrying
        before_retry=lambda n: _quietly(lambda: backend.refresh(stack)),
        on_wait=lambda n, s: log(f"destroy attempt {n} failed ({errors[-1]}); "
                                 f"retrying in {s:.0f} s"),
    )
    done = False
    try:
        call(retrying, attempt)
        done = True
    except BaseException as exc:
        if exc is not attempt.last_failure:  # raised outside an attempt (a Ctrl-C in a wait)
            raise
    leftovers, verified, err = verify_gone(stack, spec, inventory, clock, policy)
    if err:
        errors.append(err)
    return DestroyOutcome(
        ok=done and verified and not leftovers,
        attempts=attempt.count,
        started_at=started,
        finished_at=clock.now(),
        errors=errors,
        leftovers=leftovers,
        verified=verified,
        interrupted=attempt.interrupted,
    )


class _DestroyAttempts:
    """One `backend.destroy` per call, each failure recorded in `errors`; `worth_retrying` is
    the retry rule: a permanent error never is, nor a lock someone else still holds after a
    backoff; a Ctrl-C is (it reaches the pulumi child too, in the same process group, so its
    destroy was cancelled, not abandoned), and so is any unknown failure."""

    def __init__(self, stack: str, backend: StackBackend, sink: EventSink, owns_stack: bool,
                 errors: list[str], released: bool, release_volumes: Callable[[], None]):
        self.stack, self.backend, self.sink, self.owns_stack = stack, backend, sink, owns_stack
        self.errors, self.released, self.release_volumes = errors, released, release_volumes
        self.count = 0
        self.conflicts = 0
        self.interrupted = False
        self.gave_up = False
        self.last_failure: BaseException | None = None

    def __call__(self, number: int) -> None:
        self.count = number
        try:
            self.backend.destroy(self.stack, self.sink)
        except (Exception, KeyboardInterrupt) as exc:  # SystemExit and the like end it
            self.last_failure = exc
            self._record(number, exc)
            raise

    def _record(self, n: int, exc: BaseException) -> None:
        stack = self.stack
        if isinstance(exc, ConcurrentUpdateError):
            self.errors.append(f"attempt {n}: {exc}")
            self.conflicts += 1
            if self.conflicts >= 2 and self.owns_stack:  # still held: our killed update's
                _quietly(lambda: self.backend.cancel(stack))
                if not self.released and _lock_state(stack, self.backend) == "free":
                    self.release_volumes()
                    self.released = True
            elif self.conflicts >= 2:
                self.errors.append(f"another update holds {stack}: not destroyed; if no run is "
                                   f"active, pulumi cancel -s {stack}, then study destroy {stack}")
                self.gave_up = True
        elif isinstance(exc, TransientError | PermanentError):
            self.errors.append(f"attempt {n}: {exc}")
            self.gave_up = isinstance(exc, PermanentError)
        elif isinstance(exc, KeyboardInterrupt):
            self.errors.append(f"attempt {n}: interrupted")
            self.interrupted = True
        else:  # unknown failures still get the retries
            self.errors.append(f"attempt {n}: {type(exc).__name__}: {exc}")

    def worth_retrying(self, exc: BaseException) -> bool:
        return exc is self.last_failure and not self.gave_up


def volume_release(stack: str, backend: StackBackend, reader_factory,
                   outputs: dict | None = None) -> Callable[[float], list[str]]:
    """`destroy_stack`'s `release` for STACK: a reader from its outputs, `release_volumes`."""

    def release(timeout_s: float) -> list[str]:
        outs = outputs or backend.outputs(stack)
        if not outs:
            return []  # nothing was created, so no disk either
        reader = reader_factory(outs)
        try:
            return reader.release_volumes(timeout_s)
        finally:
            _quietly(reader.close)

    return release


def _lock_state(stack: str, backend: StackBackend) -> str:
    """'free', 'held' or 'unknown': a refresh takes the stack's update lock, so it is the probe.

    Only a refresh that succeeded says no update is running; one that failed otherwise (state
    backend or cloud unreachable) says nothing, and then nothing is released.
    """
    try:
        backend.refresh(stack)
    except ConcurrentUpdateError:
        return "held"
    except Exception:  # noqa: BLE001 - unknown, not free
        return "unknown"
    return "free"


def _release_volumes(release: Callable[[float], list[str]], policy: DestroyPolicy,
                     log) -> None:
    """Delete the namespace and wait for the CSI drivers to delete the study's disks.

    Only called when no other update holds the stack: the results claim goes with the
    namespace, and while a run is live that is its data.
    """
    try:
        left = release(policy.release_timeout_seconds)
        if left:
            log(f"volumes still being deleted by their CSI driver: {', '.join(left)}")
    except Exception as exc:  # noqa: BLE001 - the cluster may be gone; destroy regardless
        log(f"volumes not released before destroy ({exc}); the leftover check will list "
            f"any disk that remains")


def verify_gone(
    stack: str, spec, inventory: CloudInventory, clock: Clock, policy: DestroyPolicy
) -> tuple[list[CloudResource], bool, str | None]:
    """(leftovers, listing succeeded, error); polls while deleted resources are still listed."""
    try:
        found = poll(clock, lambda: inventory.labelled(spec, stack), again=bool,
                     timeout_s=policy.verify_timeout_seconds,
                     interval_s=policy.verify_interval_seconds)
    except Exception as exc:  # noqa: BLE001 - cannot verify is reported, not raised
        return [], False, f"could not list resources labelled stack={stack}: {exc}"
    return (found, True, None) if found else ([], True, None)


def _quietly(fn) -> None:
    try:
        fn()
    except (LifecycleError, Exception):  # noqa: BLE001 - best effort before the next attempt
        pass
