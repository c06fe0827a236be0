"""The seams between `study run` and the outside world: Pulumi, the clouds, the cluster, time.

The orchestrator only ever talks to these protocols. The real implementations (Automation API,
google-cloud-compute / boto3, the kubernetes client, the wall clock) and the in-memory doubles
in `tests/doubles/lifecycle.py` implement the same signatures, so the fault-injection tests
exercise the very code path a real run takes. Nothing here imports a cloud SDK.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from core.errors import LifecycleError, PermanentError, TransientError


class ConcurrentUpdateError(TransientError):
    """Another update holds the stack's lock; may be a stale lock left by a killed process."""


class PrerequisiteMissing(PermanentError):
    """A tool or setting every lifecycle command needs is missing (the pulumi CLI, the secrets
    passphrase): said in one line before anything is touched, the same for every command."""


class StackNotFound(PermanentError):
    """The state backend has no such stack: it was never created (or was removed) here."""


class StopRequested(LifecycleError):
    """An update was cancelled by the orchestrator (deadline, stall or a signal)."""


@dataclass(frozen=True)
class ResourceEvent:
    """One resource operation finished (or failed) during an update: create, update or delete."""

    urn: str
    type: str
    name: str
    op: Literal["create", "update", "delete", "same", "refresh", "other"]
    ok: bool
    at: float  # epoch seconds when the harness saw it


@dataclass(frozen=True)
class OutputValue:
    value: Any
    secret: bool = False


EventSink = Callable[[ResourceEvent], None]
StopCheck = Callable[[], bool]


class StackBackend(Protocol):
    """A Pulumi stack: the real one wraps `pulumi.automation`, the fake keeps state in memory."""

    def check(self) -> None:
        """PermanentError when this backend cannot work at all (e.g. no pulumi CLI)."""
        ...

    def exists(self, stack: str) -> bool: ...

    def up(
        self,
        stack: str,
        on_event: EventSink,
        should_stop: StopCheck,
        env: dict[str, str] | None = None,
    ) -> dict[str, OutputValue]:
        """Create/update everything; StopRequested when `should_stop()` turned true mid-update."""
        ...

    def destroy(self, stack: str, on_event: EventSink) -> None: ...

    def refresh(self, stack: str) -> None:
        """Reconcile state with the cloud, clearing pending creates left by an interrupted up."""
        ...

    def cancel(self, stack: str) -> None:
        """Release a (stale) update lock."""
        ...

    def outputs(self, stack: str) -> dict[str, OutputValue]: ...

    def recorded_steps(self, stack: str) -> set[str]:
        """Steps whose recorder Job the state holds as created: Pulumi records a recorder only
        once it has completed, so these steps are finished on the cluster."""
        ...

    def pending_uploads(self, stack: str) -> set[str]:
        """Recorded steps whose upload Job the state does not hold as completed (where the
        program uploads at all): an `up` that skips such a step must still render its upload,
        or Pulumi deletes it unawaited and the step's results may never reach the bucket."""
        ...

    def versions(self) -> dict[str, str]:
        """Pulumi CLI / engine versions when known (SDK versions come from package metadata)."""
        ...


@dataclass(frozen=True)
class QuotaReading:
    """Limits and current usage per quota key (cpus, local_ssd_gb, in_use_addresses, instances)."""

    source: Literal["live", "declared"]
    limits: dict[str, float]
    usage: dict[str, float] = field(default_factory=dict)
    note: str = ""  # why declared figures were used, or where live ones came from

    def available(self, key: str) -> float | None:
        if key not in self.limits:
            return None
        return self.limits[key] - self.usage.get(key, 0.0)


@dataclass(frozen=True)
class CloudResource:
    kind: str  # e.g. compute.instances, container.clusters, ec2:instance
    name: str
    labels: dict[str, str]
    location: str = ""

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.kind} {self.name}{where}"


def earliest_expiries(resources: Iterable[CloudResource]) -> dict[str, datetime]:
    """stack label -> the earliest `expires-at` label among `resources` (what the inventories'
    `expiring_stacks` report); resources missing either label, or with an unreadable expiry,
    are skipped."""
    from infra.spec.common import parse_expiry_label

    out: dict[str, datetime] = {}
    for r in resources:
        stack, exp = r.labels.get("stack"), r.labels.get("expires-at")
        if stack and exp:
            try:
                when = parse_expiry_label(exp)
            except ValueError:
                continue
            out[stack] = min(when, out.get(stack, when))
    return out


class CloudInventory(Protocol):
    """What the cloud says, independent of Pulumi state: live quota and labelled resources."""

    def quota(self, spec) -> QuotaReading: ...

    def labelled(self, spec, stack: str) -> list[CloudResource]:
        """Every resource carrying `stack=<stack>` (and `managed-by=study-harness`)."""
        ...

    def expiring_stacks(self, spec_hint=None) -> dict[str, datetime]:
        """stack label -> expires-at label, for every harness-managed resource found."""
        ...


class ClusterReader(Protocol):
    """Read-only view of the run's evidence in the cluster (see core/layout.py)."""

    def events(self) -> list[dict]:
        """Every line of events.jsonl, parsed (may contain re-emitted duplicates)."""
        ...

    def step_statuses(self) -> dict[str, dict]:
        """step name -> parsed status.json."""
        ...

    def step_log(self, step: str) -> str: ...

    def nodes(self) -> dict:
        """The equivalent of `kubectl get nodes -o json`."""
        ...

    def server_version(self) -> str: ...

    def images(self) -> list[dict]:
        """Operator/system containers: {namespace, pod, container, image, image_id}."""
        ...

    def stop_experiment(self) -> None:
        """Stop every step still running (delete the stack's step Jobs)."""
        ...

    def release_volumes(self, timeout_s: float) -> list[str]:
        """Delete the study namespace and wait until no PersistentVolume of the harness's
        StorageClass is left; the names of those still there at the timeout."""
        ...

    def close(self) -> None: ...


ReaderFactory = Callable[[dict[str, OutputValue]], ClusterReader]


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


SignalHandler = Callable[[int], None]


class Signals(Protocol):
    """Installs the orchestrator's SIGINT/SIGTERM handler (and restores the previous ones)."""

    def install(self, handler: SignalHandler) -> None: ...

    def restore(self) -> None: ...


class Writer(Protocol):
    """Atomic file writes (tmp + rename) so a crash or a full disk never corrupts results."""

    def write_bytes(self, path, data: bytes) -> bool:
        """Write if the content differs; True when the file changed."""
        ...
