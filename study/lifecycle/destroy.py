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
    done = False
    delay = policy.backoff_seconds
    attempts = 0
    interrupted = False
    conflicts = 0
    sink: EventSink = on_event or (lambda ev: None)
    while attempts < policy.attempts:
        attempts += 1
        retry = True
        try:
            backend.destroy(stack, sink)
            done = True
            break
        except ConcurrentUpdateError as exc:
            errors.append(f"attempt {attempts}: {exc}")
            conflicts += 1
            if conflicts >= 2 and owns_stack:  # still held after a backoff: our killed update's
                _quietly(lambda: backend.cancel(stack))
                if not released and _lock_state(stack, backend) == "free":
                    _release_volumes(release, policy, log)  # type: ignore[arg-type]
                    released = True
            elif conflicts >= 2:
                errors.append(f"another update holds {stack}: not destroyed; if no run is "
                              f"active, pulumi cancel -s {stack}, then study destroy {stack}")
                break
        except TransientError as exc:
            errors.append(f"attempt {attempts}: {exc}")
        except PermanentError as exc:
            errors.append(f"attempt {attempts}: {exc}")
            retry = False
        except KeyboardInterrupt:
            # Ctrl-C reaches the pulumi child too (same process group); its destroy was
            # cancelled, not abandoned: try again.
            errors.append(f"attempt {attempts}: interrupted")
            interrupted = True
        except Exception as exc:  # noqa: BLE001 - unknown failures still get the retries
            errors.append(f"attempt {attempts}: {type(exc).__name__}: {exc}")
        if not retry or attempts >= policy.attempts:
            break
        log(f"destroy attempt {attempts} failed ({errors[-1]}); retrying in {delay:.0f} s")
        clock.sleep(delay)
        delay = min(delay * 2, policy.backoff_max_seconds)
        _quietly(lambda: backend.refresh(stack))  # clear pending operations before retrying
    leftovers, verified, err = verify_gone(stack, spec, inventory, clock, policy)
    if err:
        errors.append(err)
    return DestroyOutcome(
        ok=done and verified and not leftovers,
        attempts=attempts,
        started_at=started,
        finished_at=clock.now(),
        errors=errors,
        leftovers=leftovers,
        verified=verified,
        interrupted=interrupted,
    )


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
    deadline = clock.now() + policy.verify_timeout_seconds
    while True:
        try:
            found = inventory.labelled(spec, stack)
        except Exception as exc:  # noqa: BLE001 - cannot verify is reported, not raised
            return [], False, f"could not list resources labelled stack={stack}: {exc}"
        if not found:
            return [], True, None
        if clock.now() >= deadline:
            return found, True, None
        clock.sleep(min(policy.verify_interval_seconds, max(0.0, deadline - clock.now())))


def _quietly(fn) -> None:
    try:
        fn()
    except (LifecycleError, Exception):  # noqa: BLE001 - best effort before the next attempt
        pass
