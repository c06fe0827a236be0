"""In-memory twins of the lifecycle interfaces that behave like the real clouds, in simulated time.

What they reproduce, because each one broke a seed study or a real destroy:
- latency: every create, delete, listing and file read advances the simulated clock;
- partial creation: an `up` that fails half-way leaves the resources it already created;
- transient errors: GKE's node pool "operation ... in progress" (HTTP 400), AWS
  DependencyViolation, a stale update lock (ConcurrentUpdateError);
- eventual consistency: a deleted resource is still listed by label for `consistency_lag_s`;
- the experiment: steps progress over simulated time, writing statuses, logs and events (events
  are re-emitted with the same uid, as exporters do), and can fail, stall or be stopped.

Faults are injected by name through `FaultPlan` (see `POINTS`); an action may raise, or call
the signal handler the orchestrator installed, exactly where a real failure would surface.
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.layout import RESUME_ENV, RESUME_NEW_NODES_ENV, UPLOADS_ENV
from study.lifecycle.interfaces import (
    CloudResource,
    ConcurrentUpdateError,
    EventSink,
    OutputValue,
    PermanentError,
    QuotaReading,
    ResourceEvent,
    SignalHandler,
    StopCheck,
    StopRequested,
    TransientError,
)
from study.lifecycle.system import AtomicWriter

# Where faults can be injected, in the order a run meets them.
POINTS = (
    "plan", "check", "quota", "up.start", "up.resource", "up.step", "up.end", "reader.statuses",
    "reader.stop",
    "reader.events", "reader.log", "reader.nodes", "reader.release", "destroy",
    "destroy.resource", "refresh",
    "cancel", "inventory.labelled", "writer",
)

GKE_IN_PROGRESS = (
    "googleapi: Error 400: Operation operation-1700000000000-abc is currently operating on "
    "node pool study-pool. Please wait and try again once it is done., failedPrecondition"
)
AWS_DEPENDENCY = (
    "deleting EC2 Security Group (sg-0abc): DependencyViolation: resource sg-0abc has a "
    "dependent object"
)
FAKE_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nusers:\n- name: fake\n  user:\n"
    "    token: FAKE-BEARER-TOKEN-do-not-write\n"
)


class SimClock:
    """Simulated epoch seconds; `sleep` advances time and fires alarms that fall due."""

    def __init__(self, start: float):
        self.t = float(start)
        self.alarms: list[tuple[float, Callable[[], None]]] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        target = self.t + max(0.0, seconds)
        while True:
            due = [a for a in self.alarms if a[0] <= target]
            if not due:
                break
            when, fn = min(due, key=lambda a: a[0])
            self.alarms.remove((when, fn))
            self.t = max(self.t, when)
            fn()  # may raise (a signal handler does), leaving time at the alarm
        self.t = target

    def at(self, when: float, fn: Callable[[], None]) -> None:
        self.alarms.append((when, fn))


@dataclass
class FaultPlan:
    """point -> queued actions; each hit of a point pops one action (or does nothing)."""

    rules: dict[str, list[Callable[[], None]]] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)
    skip: dict[str, int] = field(default_factory=dict)  # let the first N hits pass

    def add(self, point: str, action: Callable[[], None], times: int = 1, after: int = 0) -> None:
        if point not in POINTS:
            msg = f"unknown fault point '{point}'; known: {', '.join(POINTS)}"
            raise ValueError(msg)
        self.rules.setdefault(point, []).extend([action] * times)
        self.skip[point] = after

    def hit(self, point: str) -> None:
        self.hits[point] += 1
        if self.hits[point] <= self.skip.get(point, 0):
            return
        queue = self.rules.get(point)
        if queue:
            queue.pop(0)()


def raising(exc: BaseException) -> Callable[[], None]:
    def act() -> None:
        raise exc

    return act


class FakeSignals:
    """Holds the orchestrator's handler; `fire` delivers a signal the way the OS would."""

    def __init__(self) -> None:
        self.handler: SignalHandler | None = None
        self.installed = 0
        self.restored = 0

    def install(self, handler: SignalHandler) -> None:
        self.handler = handler
        self.installed += 1

    def restore(self) -> None:
        self.handler = None
        self.restored += 1

    def fire(self, signum: int) -> None:
        if self.handler is None:  # default disposition of SIGINT
            raise KeyboardInterrupt
        self.handler(signum)

    def action(self, signum: int) -> Callable[[], None]:
        return lambda: self.fire(signum)


@dataclass
class FakeResource:
    kind: str
    name: str
    labels: dict[str, str]
    created_at: float
    deleted_at: float | None = None


class FakeCloud:
    """The provider side: what exists, its labels, and listing lag after deletes."""

    def __init__(self, clock: SimClock, consistency_lag_s: float = 90.0):
        self.clock = clock
        self.lag = consistency_lag_s
        self.resources: dict[str, FakeResource] = {}
        self.quota_limits: dict[str, float] = {"cpus": 1000, "in_use_addresses": 1000,
                                               "instances": 1000, "local_ssd_gb": 100000}
        self.quota_usage: dict[str, float] = {}

    def create(self, kind: str, name: str, labels: dict[str, str]) -> None:
        self.resources[name] = FakeResource(kind, name, dict(labels), self.clock.now())

    def delete(self, name: str) -> None:
        r = self.resources.get(name)
        if r and r.deleted_at is None:
            r.deleted_at = self.clock.now()

    def live(self, stack: str) -> list[FakeResource]:
        return [r for r in self.resources.values()
                if r.labels.get("stack") == stack and r.deleted_at is None]

    def listed(self, stack: str) -> list[FakeResource]:
        now = self.clock.now()
        return [r for r in self.resources.values() if r.labels.get("stack") == stack
                and (r.deleted_at is None or now - r.deleted_at < self.lag)]


@dataclass
class FakeStep:
    name: str
    seconds: float
    outcome: str = "succeeded"  # succeeded|failed|invalid
    stall: bool = False  # starts, then never progresses
    kind: str = "pulling"
    # Its recorder stops the run (experiments.recorder: a failed cache clear): the step is
    # recorded with this reason, its recorder Job fails and so does `up`; no later step starts.
    stop: str | None = None
    # Its work lives on the nodes (experiments.base.Step.node_local, the pre-pull): the program
    # renders it again when `up` says the nodes are new (core.layout.RESUME_NEW_NODES_ENV).
    node_local: bool = False


class FakeExperiment:
    """Sequential steps started when `up` finishes; statuses are a pure function of time."""

    def __init__(self, clock: SimClock, steps: list[FakeStep], start_delay_s: float = 20.0):
        self.clock = clock
        self.steps = steps
        self.start_delay = start_delay_s
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.skip: set[str] = set()
        self.events_emitted = 0

    def start(self, skip: set[str]) -> None:
        self.started_at = self.clock.now() + self.start_delay
        self.stopped_at = None
        self.skip = set(skip)

    def timeline(self) -> list[tuple[FakeStep, float, float]]:
        assert self.started_at is not None
        t = self.started_at
        out = []
        for s in self.steps:
            if s.name in self.skip:
                continue
            end = float("inf") if s.stall else t + s.seconds
            out.append((s, t, end))
            t = end
            if s.stop:
                break  # `up` fails on its recorder: no later step is ever created
        return out

    def completed_at(self) -> float | None:
        """Ground truth: when the last step finished (None if it never does)."""
        if self.started_at is None:
            return None
        tl = self.timeline()
        end = tl[-1][2] if tl else self.started_at
        if end == float("inf") or (self.stopped_at is not None and self.stopped_at < end):
            return None
        return end

    def statuses(self) -> dict[str, dict]:
        if self.started_at is None:
            return {}
        now = self.clock.now()
        if self.stopped_at is not None:
            now = min(now, self.stopped_at)
        out = {}
        for s, start, end in self.timeline():
            row: dict[str, Any] = {"step": s.name, "kind": s.kind, "params": {"seconds": s.seconds}}
            if now < start:
                row.update(status="pending", started_at=None, finished_at=None)
            elif now < end:
                row.update(status="running", started_at=_iso(start), finished_at=None)
            else:
                row.update(status=s.outcome, started_at=_iso(start), finished_at=_iso(end))
                if s.stop:
                    row["stop"] = s.stop
            out[s.name] = row
        return out

    def log(self, step: str) -> str | None:
        st = self.statuses().get(step)
        if st is None or st["status"] == "pending":
            return None
        lines = [f"{step}: started {st['started_at']}"]
        if st["finished_at"]:
            lines.append(f"{step}: {st['status']} at {st['finished_at']}")
        return "\n".join(lines) + "\n"

    def events(self) -> list[dict]:
        """Pulling/Pulled events for each started step; each re-emitted once (same uid, count 2)."""
        out = []
        for name, st in self.statuses().items():
            if st["status"] == "pending":
                continue
            for reason in ("Pulling", "Pulled"):
                ev = {
                    "metadata": {"uid": f"uid-{name}-{reason}", "namespace": "study-harness"},
                    "reason": reason,
                    "message": f'{reason} image "ghcr.io/study/{name}:1"',
                    "involvedObject": {"kind": "Pod", "name": f"{name}-pod"},
                    "source": {"host": "node-0"},
                    "lastTimestamp": st["started_at"],
                    "count": 1,
                }
                out.append(ev)
                out.append({**ev, "count": 2})  # exporters re-emit updated events
        return out


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


# (type token, name suffix, cloud kind listed by labels or None, latency seconds)
GKE_RESOURCES: list[tuple[str, str, str | None, float]] = [
    ("gcp:compute/network:Network", "net", "compute.networks", 30),
    ("gcp:compute/subnetwork:Subnetwork", "subnet", "compute.subnetworks", 20),
    ("gcp:container/cluster:Cluster", "cluster", "container.clusters", 360),
    ("gcp:container/nodePool:NodePool", "pool", "compute.instances", 240),
    ("pulumi:providers:kubernetes", "k8s", None, 1),
    ("kubernetes:core/v1:Namespace", "ns", None, 2),
    ("kubernetes:core/v1:PersistentVolumeClaim", "results", "compute.disks", 10),
]


class FakeBackend:
    """A Pulumi stack over `FakeCloud`: up creates resources in order, destroy deletes them.

    Like the real program (experiments/component.py), `up` then creates each step's recorder Job
    `rec-<step>` and Pulumi awaits it, so `up` returns when the last step has been recorded;
    `await_steps=False` mimics an experiment left running in the cluster instead.

    With `upload_seconds`, each recorded step's upload Job `upload-<step>` runs that long beside
    the next step and `up` awaits the last one, as with an upload target. The state then behaves
    like Pulumi's with pulumi-kubernetes: an upload whose await an `up` failure cut short stays
    in the state with init errors (the Job runs on in the cluster); the next `up` that declares
    it awaits it again, and one that no longer declares a step deletes that step's recorder and
    upload at its end, unawaited (`uploads` says, per step, whether Pulumi saw it complete).
    """

    def __init__(
        self,
        clock: SimClock,
        cloud: FakeCloud,
        faults: FaultPlan,
        experiment: FakeExperiment,
        labels: dict[str, str],
        resources: list[tuple[str, str, str | None, float]] | None = None,
        await_steps: bool = True,
        upload_seconds: float | None = None,
    ):
        self.clock, self.cloud, self.faults, self.experiment = clock, cloud, faults, experiment
        self.await_steps = await_steps
        self.upload_seconds = upload_seconds
        self.init_errors: set[str] = set()  # names in state whose await was cut short
        self.uploads: dict[str, str] = {}  # step -> running | complete | deleted (unawaited)
        self._upload_ends: dict[str, float] = {}  # step -> when its Job ends in the cluster
        self._awaiting: set[str] = set()  # uploads this `up` awaits
        self.labels = labels
        self.template = resources or GKE_RESOURCES
        self.state: dict[str, list[str]] = {}  # stack -> names in creation order
        self.calls: list[tuple[str, float]] = []
        self.envs: list[dict[str, str]] = []  # the program environment of each up
        self.locked = False

    def _name(self, stack: str, suffix: str) -> str:
        return f"{stack}-{suffix}"

    def _start_update(self, op: str, stack: str) -> None:
        """Record an update (up, destroy) and refuse it, as Pulumi does, while the lock is held."""
        self.calls.append((op, self.clock.now()))
        if self.locked:
            msg = f"the stack '{stack}' is currently locked by 1 lock(s)"
            raise ConcurrentUpdateError(msg)

    def check(self) -> None:
        self.faults.hit("check")

    def exists(self, stack: str) -> bool:
        return bool(self.state.get(stack))

    def up(self, stack: str, on_event: EventSink, should_stop: StopCheck,
           env: dict[str, str] | None = None) -> dict[str, OutputValue]:
        self._start_update("up", stack)
        self.envs.append(dict(env or {}))
        self.faults.hit("up.start")
        names = self.state.setdefault(stack, [])
        for type_, suffix, kind, latency in self.template:
            name = self._name(stack, suffix)
            if name in names:
                on_event(ResourceEvent(f"urn:{name}", type_, name, "same", True, self.clock.now()))
                continue
            if should_stop():
                msg = "update cancelled: deadline"
                raise StopRequested(msg)
            self.faults.hit("up.resource")
            self.clock.sleep(latency)
            self.cloud.create(kind or "pulumi", name, self.labels if kind else {})
            names.append(name)
            on_event(ResourceEvent(f"urn:{name}", type_, name, "create", True, self.clock.now()))
        skip = set(filter(None, (env or {}).get(RESUME_ENV, "").split(",")))
        if (env or {}).get(RESUME_NEW_NODES_ENV):  # infra.workloads.completed_steps
            skip -= {s.name for s in self.experiment.steps if s.node_local}
        declared = {s.name for s in self.experiment.steps if s.name not in skip}
        if self.upload_seconds is not None:  # infra.workloads.pending_uploads: the upload alone
            alone = set(filter(None, (env or {}).get(UPLOADS_ENV, "").split(","))) & skip
            for step in sorted(declared | alone):
                self._await_again(stack, names, step)
            declared |= alone
        skip |= {n[len(stack) + 5:] for n in names if n.startswith(f"{stack}-rec-")}
        if self.experiment.started_at is None or self.experiment.stopped_at is not None:
            self.experiment.start(skip)
        if self.await_steps:
            self._await_steps(stack, names, on_event, should_stop)
        self.faults.hit("up.end")
        self._delete_undeclared(stack, names, declared)
        return self.outputs(stack)

    def _upload(self, stack: str, step: str) -> str:
        return f"{stack}-upload-{step}"

    def _await_again(self, stack: str, names: list[str], step: str) -> None:
        """A declared upload of a recorded step that Pulumi has not seen complete: an update
        (init errors) or a create adopting the Job, awaited until the Job ends in the cluster."""
        rec, name = f"{stack}-rec-{step}", self._upload(stack, step)
        if rec not in names or (name in names and name not in self.init_errors):
            return  # not recorded yet (uploaded once it is), or complete: unchanged
        self._upload_ends.setdefault(step, self.clock.now() + (self.upload_seconds or 0.0))
        self._awaiting.add(step)

    def _settle_uploads(self, stack: str, names: list[str], on_event: EventSink) -> None:
        """Uploads whose Job has ended: Pulumi's await sees it Complete and records it clean."""
        for step in sorted(self._awaiting):
            if self._upload_ends[step] > self.clock.now():
                continue
            self._awaiting.discard(step)
            name = self._upload(stack, step)
            op = "update" if name in names else "create"
            if name not in names:
                names.append(name)
            self.init_errors.discard(name)
            self.uploads[step] = "complete"
            on_event(ResourceEvent(f"urn:{name}", "kubernetes:batch/v1:Job", f"upload-{step}",
                                   op, True, self.clock.now()))

    def _delete_undeclared(self, stack: str, names: list[str], declared: set[str]) -> None:
        """At the end of an `up`, Pulumi deletes what the program no longer declares."""
        for step in [s.name for s in self.experiment.steps if s.name not in declared]:
            for name in (f"{stack}-rec-{step}", self._upload(stack, step)):
                if name in names:
                    names.remove(name)
                    self.init_errors.discard(name)
            if self.uploads.get(step) == "running":
                self.uploads[step] = "deleted"

    def _await_steps(self, stack: str, names: list[str], on_event: EventSink,
                     should_stop: StopCheck) -> None:
        """Pulumi awaiting each recorder Job: poll every 10 s until the step is recorded; then
        the uploads still running. An `up` that fails keeps the uploads it was awaiting in the
        state with init errors, as pulumi-kubernetes does with a Job whose await it cut short."""
        try:
            self._await_timeline(stack, names, on_event, should_stop)
            while self._awaiting:
                if should_stop():
                    msg = "update cancelled by the harness"
                    raise StopRequested(msg)
                due = min(self._upload_ends[s] for s in self._awaiting)
                self.clock.sleep(min(10.0, max(0.0, due - self.clock.now())))
                self._settle_uploads(stack, names, on_event)
        except BaseException:
            for step in self._awaiting:
                name = self._upload(stack, step)
                if name not in names:
                    names.append(name)
                self.init_errors.add(name)
            self._awaiting.clear()
            raise

    def _await_timeline(self, stack: str, names: list[str], on_event: EventSink,
                        should_stop: StopCheck) -> None:
        for step, _start, end in self.experiment.timeline():
            name = f"{stack}-rec-{step.name}"
            if name in names:
                continue
            while self.clock.now() < end:
                if should_stop():
                    self.experiment.stopped_at = self.clock.now()
                    msg = "update cancelled by the harness"
                    raise StopRequested(msg)
                self.faults.hit("up.step")
                self._settle_uploads(stack, names, on_event)
                self.clock.sleep(min(10.0, end - self.clock.now()))
            self._settle_uploads(stack, names, on_event)
            if step.stop:
                # pulumi-kubernetes fails the recorder's Job on BackoffLimitExceeded with the
                # pod's termination message (provider/pkg/await/checker/job, checker/pod).
                msg = (f"error: 1 error occurred: Job 'rec-{step.name}' failed: "
                       f"[BackoffLimitExceeded] Job has reached the specified backoff limit: "
                       f"[Error] {step.stop}")
                raise PermanentError(msg)
            names.append(name)
            on_event(ResourceEvent(f"urn:{name}", "kubernetes:batch/v1:Job", f"rec-{step.name}",
                                   "create", True, self.clock.now()))
            if self.upload_seconds is not None:  # its upload starts beside the next step
                self._upload_ends[step.name] = self.clock.now() + self.upload_seconds
                self._awaiting.add(step.name)
                self.uploads[step.name] = "running"

    def recorded_steps(self, stack: str) -> set[str]:
        prefix = f"{stack}-rec-"
        return {n[len(prefix):] for n in self.state.get(stack, []) if n.startswith(prefix)}

    def pending_uploads(self, stack: str) -> set[str]:
        if self.upload_seconds is None:  # a program without an upload target
            return set()
        names = self.state.get(stack, [])
        return {s for s in self.recorded_steps(stack)
                if self._upload(stack, s) not in names or self._upload(stack, s) in self.init_errors}

    def outputs(self, stack: str) -> dict[str, OutputValue]:
        names = self.state.get(stack, [])
        if self._name(stack, "cluster") not in names:
            return {}
        return {
            "cluster_name": OutputValue(stack),
            "zone": OutputValue("us-central1-a"),
            "endpoint": OutputValue("203.0.113.10"),
            "kubeconfig": OutputValue(FAKE_KUBECONFIG, secret=True),
            "node_count": OutputValue(4),
            "machine_type": OutputValue("n1-standard-4"),
        }

    def destroy(self, stack: str, on_event: EventSink) -> None:
        self._start_update("destroy", stack)
        self.faults.hit("destroy")
        names = self.state.get(stack, [])
        for name in list(reversed(names)):
            self.faults.hit("destroy.resource")
            self.clock.sleep(30)
            self.cloud.delete(name)
            names.remove(name)
            on_event(ResourceEvent(f"urn:{name}", "", name, "delete", True, self.clock.now()))
            self.init_errors.discard(name)
        self.experiment.stopped_at = self.experiment.stopped_at or self.clock.now()

    def refresh(self, stack: str) -> None:
        self._start_update("refresh", stack)  # a refresh takes the stack's lock like an update
        self.faults.hit("refresh")

    def cancel(self, stack: str) -> None:
        self.calls.append(("cancel", self.clock.now()))
        self.faults.hit("cancel")
        self.locked = False

    def versions(self) -> dict[str, str]:
        return {"pulumi-cli": "3.272.0 (fake)"}

    @property
    def destroy_started_at(self) -> float | None:
        times = [t for op, t in self.calls if op == "destroy"]
        return times[0] if times else None


class FakeInventory:
    """Quota and labelled resources from `FakeCloud`; `live=False` mimics missing credentials."""

    def __init__(self, clock: SimClock, cloud: FakeCloud, faults: FaultPlan, live: bool = True):
        self.clock, self.cloud, self.faults, self.live = clock, cloud, faults, live

    def quota(self, spec) -> QuotaReading:
        self.faults.hit("quota")
        self.clock.sleep(1)
        if not self.live:
            from study.lifecycle.preflight import declared_quota

            return declared_quota(spec, "no cloud credentials; using the stack's declared quota")
        return QuotaReading("live", dict(self.cloud.quota_limits), dict(self.cloud.quota_usage),
                            "fake region us-central1")

    def labelled(self, spec, stack: str) -> list[CloudResource]:
        self.faults.hit("inventory.labelled")
        self.clock.sleep(2)
        return [CloudResource(r.kind, r.name, r.labels) for r in self.cloud.listed(stack)]

    def expiring_stacks(self, spec_hint=None) -> dict[str, datetime]:
        from infra.spec.common import parse_expiry_label

        out: dict[str, datetime] = {}
        for r in self.cloud.resources.values():
            if r.deleted_at is None and "expires-at" in r.labels and "stack" in r.labels:
                out[r.labels["stack"]] = parse_expiry_label(r.labels["expires-at"])
        return out


class FakeClusterReader:
    """The results PVC and the API server of a fake cluster; unreachable once it is destroyed."""

    def __init__(self, clock: SimClock, backend: FakeBackend, stack: str, faults: FaultPlan):
        self.clock, self.backend, self.stack, self.faults = clock, backend, stack, faults
        self.exp = backend.experiment
        self.closed = False

    def _reachable(self) -> None:
        if f"{self.stack}-cluster" not in self.backend.state.get(self.stack, []):
            msg = f"cluster {self.stack} is unreachable (deleted)"
            raise PermanentError(msg)

    def step_statuses(self) -> dict[str, dict]:
        self.faults.hit("reader.statuses")
        self.clock.sleep(0.5)
        self._reachable()
        return self.exp.statuses()

    def step_log(self, step: str) -> str:
        self.faults.hit("reader.log")
        self.clock.sleep(1)
        self._reachable()
        log = self.exp.log(step)
        if log is None:
            msg = f"steps/{step}/log.txt: no such file"
            raise FileNotFoundError(msg)
        return log

    def events(self) -> list[dict]:
        self.faults.hit("reader.events")
        self.clock.sleep(3)
        self._reachable()
        return self.exp.events()

    def nodes(self) -> dict:
        self.faults.hit("reader.nodes")
        self.clock.sleep(1)
        self._reachable()
        return {"apiVersion": "v1", "kind": "List", "items": [
            {"metadata": {"name": f"node-{i}", "labels": {"stack": self.stack}},
             "status": {"nodeInfo": {"kubeletVersion": "v1.30.5-gke.1"}}} for i in range(4)]}

    def server_version(self) -> str:
        self._reachable()
        return "v1.30.5-gke.1"

    def images(self) -> list[dict]:
        self._reachable()
        return [{"namespace": "study-harness", "pod": "event-recorder-0", "container": "exporter",
                 "image": "ghcr.io/resmoio/kubernetes-event-exporter:v1.7",
                 "image_id": "ghcr.io/resmoio/kubernetes-event-exporter@sha256:" + "0" * 64}]

    def stop_experiment(self) -> None:
        self.faults.hit("reader.stop")
        self.clock.sleep(5)
        self._reachable()
        self.exp.stopped_at = self.clock.now()

    def release_volumes(self, timeout_s: float) -> list[str]:
        self.faults.hit("reader.release")
        self.clock.sleep(20)  # namespace finalisation, detach, DeleteVolume
        self._reachable()
        self.backend.calls.append(("release_volumes", self.clock.now()))
        return []

    def close(self) -> None:
        self.closed = True


class FaultyWriter(AtomicWriter):
    """The real atomic writer, plus the `writer` fault point and a byte budget (ENOSPC)."""

    def __init__(self, faults: FaultPlan, disk_bytes: int | None = None):
        self.faults = faults
        self.left = disk_bytes

    def write_bytes(self, path, data: bytes) -> bool:
        self.faults.hit("writer")
        if self.left is not None:
            if len(data) > self.left:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
            self.left -= len(data)
        return super().write_bytes(Path(path), data)


@dataclass
class World:
    """One fake cloud + stack + cluster, wired together for a test."""

    clock: SimClock
    cloud: FakeCloud
    faults: FaultPlan
    experiment: FakeExperiment
    backend: FakeBackend
    inventory: FakeInventory
    signals: FakeSignals
    writer: FaultyWriter
    stack: str

    def reader_factory(self, outputs: dict[str, OutputValue]) -> FakeClusterReader:
        if "kubeconfig" not in outputs:
            msg = "no kubeconfig output: the cluster was never created"
            raise PermanentError(msg)
        return FakeClusterReader(self.clock, self.backend, self.stack, self.faults)


def make_world(
    stack: str,
    labels: dict[str, str],
    steps: list[FakeStep] | None = None,
    start: float | None = None,
    live_quota: bool = True,
    disk_bytes: int | None = None,
) -> World:
    start = start if start is not None else datetime(2026, 11, 22, 12, tzinfo=UTC).timestamp()
    clock = SimClock(start)
    cloud = FakeCloud(clock)
    faults = FaultPlan()
    exp = FakeExperiment(clock, steps if steps is not None else [
        FakeStep("pull-cold", 600), FakeStep("pull-warm", 300), FakeStep("pull-again", 300)])
    backend = FakeBackend(clock, cloud, faults, exp, labels)
    inventory = FakeInventory(clock, cloud, faults, live_quota)
    return World(clock, cloud, faults, exp, backend, inventory, FakeSignals(),
                 FaultyWriter(faults, disk_bytes), stack)


def gke_in_progress() -> TransientError:
    return TransientError(GKE_IN_PROGRESS)


def aws_dependency_violation() -> TransientError:
    return TransientError(AWS_DEPENDENCY)
