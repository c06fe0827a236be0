"""The `study run` orchestrator: preflight, up, watchdog, then collect and destroy - always.

Guarantees (each one proven by tests/study/lifecycle/test_lifecycle_faults.py, tests/doubles):
- nothing is created unless the stack fits its budget and quota (checked with numbers);
- once anything may exist, collection and destroy run whatever happened before: a failed step,
  an exception, SIGINT/SIGTERM, the deadline or a stalled experiment;
- the run state on disk is saved at every stage from the end of the preflight on, so `--resume`
  and `study destroy` can act later; a preflight that fails (or is interrupted) with nothing to
  clean up leaves no results directory and no ledger row: nothing happened, nothing is recorded;
- a destroy that does not complete is loud: exit 5, the leftovers, the command to finish it.

The deadline is the earlier of `budget.max_hours` and `budget.usd / hourly price`, counted from
the first resource's creation. Signals during cleanup are noted but do not stop it. The stages
and the only moves between them are in `stages`; how the run ends (status, exit code, message)
is decided by the rules in `verdict`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import CheckFailed, StudyError
from core.layout import RESUME_ENV, RESUME_NEW_NODES_ENV, UPLOADS_ENV
from study.lifecycle import ledger
from study.lifecycle.collect import (
    TERMINAL,
    Collection,
    collect,
    finalize_provenance,
    is_finished,
    read_steps,
)
from study.lifecycle.destroy import (
    DestroyOutcome,
    DestroyPolicy,
    destroy_stack,
    volume_release,
)
from study.lifecycle.interfaces import (
    Clock,
    CloudInventory,
    ClusterReader,
    ConcurrentUpdateError,
    OutputValue,
    PermanentError,
    PrerequisiteMissing,
    ReaderFactory,
    ResourceEvent,
    Signals,
    StackBackend,
    TransientError,
    Writer,
)
from study.lifecycle.progress import Progress, Snapshot
from study.lifecycle.retries import backoff, call
from study.lifecycle.stack_config import StackConfig
from study.lifecycle.stages import RESUMABLE, Stage, Status
from study.lifecycle.state import STATE_FILE, RunState, latest_state, new_run_id
from study.lifecycle.verdict import (
    EXIT_CHECK,
    EXIT_FAILED,
    EXIT_LEFTOVERS,
    EXIT_OK,
    EXIT_SIGNAL,
    EXIT_STOPPED,
    Evidence,
    Interrupted,
    Trouble,
    conclude,
)

__all__ = ["EXIT_CHECK", "EXIT_FAILED", "EXIT_LEFTOVERS", "EXIT_OK", "EXIT_SIGNAL",
           "EXIT_STOPPED", "Interrupted", "RunOptions", "RunOutcome", "Services",
           "deadline_hours", "run_stack"]

RECORDER_PREFIX = "rec-"  # experiments.component.recorder_name: one Job per recorded step


@dataclass
class Services:
    """Everything the orchestrator talks to; the CLI passes real ones, tests pass fakes."""

    backend: StackBackend
    inventory: CloudInventory
    reader_factory: ReaderFactory
    clock: Clock
    signals: Signals
    writer: Writer
    progress: Progress
    results_root: Path
    planner: Callable[[str], Any] | None = None  # default: study.plan.make_plan
    environment: Callable[[], dict] | None = None  # default: environment.capture
    config_reader: Callable[[str], dict[str, str]] | None = None  # default: read_stack_config
    # spec -> the stack's results bucket (study.lifecycle.object_store); None: no bucket
    results_store: Callable[[Any], Any] | None = None
    # Campaign hooks (study.campaign): the run's directory instead of results_root/<stack>/<id>,
    # and variables the program's environment gets on every `up` (a member's config overrides).
    run_dir: Path | None = None
    program_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOptions:
    keep: bool = False
    resume: bool = False
    stall_seconds: float = 1800.0  # no step status change for this long = stalled
    poll_seconds: float = 15.0  # step status polling; bounds the completion -> destroy delay
    up_attempts: int = 3
    up_backoff_seconds: float = 30.0
    destroy: DestroyPolicy = field(default_factory=DestroyPolicy)
    now: datetime | None = None  # validation clock (tests); None = real time
    deadline_at: float | None = None  # an absolute cap on the deadline (a campaign's), epoch s


@dataclass
class RunOutcome:
    stack: str
    run_id: str
    run_dir: Path
    status: str
    exit_code: int
    message: str
    details: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    destroy: DestroyOutcome | None = None
    collection: Collection | None = None


def run_stack(stack: str, services: Services, options: RunOptions | None = None, *,
              config: StackConfig | None = None) -> RunOutcome:
    """Run STACK end to end; the outcome carries the exit code. Never leaves it up silently.

    `config`: the stack's configuration as the caller read it (`StackConfig.read`); the plan,
    the preflight and the provenance all use that one read. Without it the run reads it once
    itself (or asks `services.config_reader`)."""
    return _Run(stack, services, options or RunOptions(), config).execute()


def deadline_hours(spec, usd_per_hour: float) -> float:
    from infra.estimate import hours_within_budget

    return hours_within_budget(spec.budget, usd_per_hour)


@dataclass
class _Preflighted:
    """What the preflight established; read by every later stage."""

    spec: Any = None
    config: dict[str, str] = field(default_factory=dict)
    deadline_h: float | None = None
    steps_total: int | None = None
    stall_s: float = 0.0


@dataclass
class _Cluster:
    """What `up` and the watch hold of the cluster."""

    outputs: dict[str, OutputValue] = field(default_factory=dict)
    reader: ClusterReader | None = None
    last_progress: float = 0.0
    experiment_started: bool = False  # the cluster answers: stall detection starts


@dataclass
class _Cleanup:
    """What collection and destroy produced."""

    collection: Collection | None = None
    destroy: DestroyOutcome | None = None


class _Run:
    """One attempt of a run: `execute` calls the phases in order, each a named method that
    advances the run state along `stages.TRANSITIONS`; `_cleanup` is reached whatever happened
    once anything may exist."""

    def __init__(self, stack: str, sv: Services, opts: RunOptions,
                 given: StackConfig | None = None):
        self.stack, self.sv, self.opts = stack, sv, opts
        self.given = given
        self.cleanup = False  # from here on signals are noted, not raised
        self.trouble = Trouble()
        self.pre = _Preflighted(stall_s=opts.stall_seconds)
        self.cluster = _Cluster()
        self.snap = Snapshot()
        self.save_errors: list[str] = []
        self.previously_finished: list[str] = []
        self.persist = False  # the run state goes to disk once the preflight passed

    # -- plumbing -------------------------------------------------------------------------------
    def now(self) -> float:
        return self.sv.clock.now()

    def line(self, msg: str) -> None:
        self.sv.progress.line(msg)

    def advance(self, stage: Stage) -> None:
        """The one way the stage changes: checked against the table, then saved."""
        self.state.advance(stage)
        self.save()

    def save(self) -> None:
        if not self.persist:
            return
        try:
            self.sv.writer.write_bytes(self.run_dir / STATE_FILE, self.state.to_json())
        except OSError as exc:  # a full disk must never block destroy
            self.save_errors.append(f"{STATE_FILE}: {exc}")

    def tick(self) -> None:
        st = self.state
        first = st.first_resource_at
        self.snap.elapsed_s = 0.0 if first is None else self.now() - first
        self.snap.spent_usd = st.spent_usd(self.now())
        self.snap.budget_usd = st.budget_usd or 0.0
        self.sv.progress.update(self.snap)

    def on_signal(self, signum: int) -> None:
        self._note_signal(signum)
        if self.cleanup:
            name = signal.Signals(signum).name
            self.line(f"{name} received: collection and destroy continue (they protect your money)")
            return
        raise Interrupted(signum)

    def _where(self) -> str:
        if self.cleanup:
            return "cleanup"
        return str(self.state.stage) if hasattr(self, "state") else "start"

    def _note_signal(self, signum: int) -> None:
        self.trouble.note_signal(signum, self._where())

    def _fail(self, exc: BaseException) -> None:
        self.trouble.classify(exc, self._where())

    # -- main -----------------------------------------------------------------------------------
    def execute(self) -> RunOutcome:
        self.sv.signals.install(self.on_signal)
        try:
            self._open_state()
            try:
                self._preflight()
            except BaseException as exc:  # noqa: BLE001 - classified in Trouble
                self._fail(exc)
                self.cleanup = True
                return self._finish_preflight()
            try:
                self._up()
                self._watch()
            except BaseException as exc:  # noqa: BLE001 - classified in Trouble
                self._fail(exc)
            finally:
                self.cleanup = True
            return self._cleanup()
        finally:
            self.sv.signals.restore()
            self.sv.progress.close()

    def _open_state(self) -> None:
        root = self.sv.results_root
        if self.opts.resume:
            st = latest_state(root, self.stack)
            if st is None or st.status not in RESUMABLE:
                what = "no run" if st is None else f"run {st.run_id} is '{st.status}'"
                msg = (f"nothing to resume for {self.stack}: {what}; "
                       "start a new run without --resume")
                raise StudyError(msg)
            st.reopen()
            if not st.resources_may_exist:  # a fresh cluster: its clock starts again
                st.first_resource_at = st.deadline_at = st.destroyed_at = None
                st.destroy_started_at = st.experiment_done_at = None
            self.state = st
        else:
            run_id = new_run_id(self.now(), root / self.stack)
            self.state = RunState(stack=self.stack, run_id=run_id, started_at=self.now())
        self.run_dir = self.sv.run_dir or root / self.stack / self.state.run_id
        if self.opts.resume:
            # A step that stopped the run is not finished, even where an older version of the
            # harness wrote it into the state: it runs again once its node is fixed.
            stopped = {r["step"] for r in read_steps(self.run_dir) if r.get("stop")}
            state = self.state
            state.finished_steps = [s for s in state.finished_steps if s not in stopped]
            self.previously_finished = list(state.finished_steps)

    def _expiry_text(self) -> str:
        """When the janitor destroys a kept cluster: a ttl counts from its first resource."""
        spec, first = self.pre.spec, self.state.first_resource_at
        if spec is None:
            return "?"
        created = datetime.fromtimestamp(first, UTC) if first else datetime.now(UTC)
        return spec.expiry(created).isoformat(timespec="seconds")

    # -- preflight ------------------------------------------------------------------------------
    def _config_values(self) -> dict[str, str]:
        """The one read of the stack's config: the caller's, the services' reader, or here."""
        if self.given is not None:
            return self.given.values
        if self.sv.config_reader is not None:
            return self.sv.config_reader(self.stack)
        return StackConfig.read(self.stack).values

    def _preflight(self) -> None:
        from study.lifecycle.preflight import shortfalls

        st, pre = self.state, self.pre
        pre.config = self._config_values()
        planner = self.sv.planner or _default_planner(self.opts.now, pre.config)
        plan = planner(self.stack)
        pre.spec = spec = plan.spec
        if not plan.ok:
            msg = f"preflight: {self.stack} does not pass its plan: " + "; ".join(plan.violations)
            raise CheckFailed(msg)
        from core.stacks import placeholder_problems

        if placeholder_problems(spec):  # invalid input for a run, though a plan may use it
            raise StudyError("preflight: " + "; ".join(placeholder_problems(spec)))
        est = plan.report.estimate
        try:
            self.sv.backend.check()
        except PrerequisiteMissing:
            raise
        except PermanentError as exc:
            msg = f"preflight of {self.stack}: {exc}"
            raise CheckFailed(msg) from None
        reading = self.sv.inventory.quota(spec)
        short = shortfalls(spec, reading)
        if short:
            raise CheckFailed(f"preflight of {self.stack}: " + "; ".join(short))
        from study.lifecycle.commands import ensure_results_bucket

        for note in ensure_results_bucket(self.sv, spec):  # the steps upload there
            self.line(note)
        st.usd_per_hour = est.price.total
        st.estimated_usd = est.usd
        st.node_count = spec.cluster.node_count
        st.machine_type = spec.cluster.machine_type
        st.budget_usd = spec.budget.usd
        if not st.environment:
            env = self.sv.environment or _default_environment(self.sv.backend)
            st.environment = env()
        pre.deadline_h = deadline_hours(spec, est.price.total)
        self.snap.resources_total = sum(1 for r in plan.resources if r.custom) or None
        pre.steps_total = len(est.steps) or None
        self.snap.steps_total = pre.steps_total
        longest = max((s.deadline_seconds for s in est.steps), default=0.0)
        # A step may legitimately run until its own deadline; never call that a stall.
        pre.stall_s = max(self.opts.stall_seconds, longest + 600 if longest else 0.0)
        self.line(
            f"preflight ok: {spec.cluster.node_count} x {spec.cluster.machine_type}, "
            f"{est.price.total:.3f} USD/h, estimated {est.usd:.2f} of {spec.budget.usd:g} USD "
            f"({est.hours:.2f} h); deadline {pre.deadline_h:.2f} h after the first resource; "
            f"quota {reading.source}{': ' + reading.note if reading.note else ''}"
        )
        self.persist = True  # from here on every stage is on disk
        self.save()

    # -- up -------------------------------------------------------------------------------------
    def _on_resource(self, ev: ResourceEvent) -> None:
        st, cl = self.state, self.cluster
        cl.last_progress = self.now()
        if ev.type.startswith("kubernetes:") and not cl.experiment_started:
            cl.experiment_started = True
        if ev.ok and ev.op == "create":
            self.snap.resources_done += 1
            if st.first_resource_at is None:
                st.first_resource_at = ev.at
                st.deadline_at = ev.at + (self.pre.deadline_h or 0) * 3600
                if self.opts.deadline_at is not None:
                    st.deadline_at = min(st.deadline_at, self.opts.deadline_at)
                self.save()
            if ev.type == "kubernetes:batch/v1:Job" and ev.name.startswith(RECORDER_PREFIX):
                step = ev.name[len(RECORDER_PREFIX):]  # the step's recorder finished: recorded
                st.finished_steps = sorted(set(st.finished_steps) | {step})
                self.snap.steps_done = len(st.finished_steps)
                self.save()
        self.tick()

    def _deadline_passed(self) -> bool:
        d = self.state.deadline_at
        if d is not None and self.now() >= d:
            self.trouble.stop_reason = "deadline"
            return True
        return False

    def _should_stop(self) -> bool:
        """Polled by the backend while `up` runs (the experiment runs inside `up`)."""
        self.tick()
        if self._deadline_passed():
            self.line("deadline reached during the update: stopping it")
            return True
        cl, stall_s = self.cluster, self.pre.stall_s
        if cl.experiment_started and self.now() - cl.last_progress >= stall_s:
            self.trouble.stop_reason = "stalled"
            self.line(f"no progress for {stall_s:g} s during the update: stopping it")
            return True
        return False

    def _up(self) -> None:
        st = self.state
        had_resources = st.resources_may_exist
        st.resources_may_exist = True  # from here on, cleanup must destroy
        self.advance(Stage.UP)
        env = {**self.sv.program_env, "STUDY_RUN_ID": st.run_id}
        if self.previously_finished:
            env[RESUME_ENV] = ",".join(self.previously_finished)
            if not had_resources:  # they finished on a destroyed cluster: these nodes are new
                env[RESUME_NEW_NODES_ENV] = "1"
            else:  # the cluster they ran on: their uploads may still be running there
                self._await_uploads(env, set(self.previously_finished))
        self.cluster.last_progress = self.now()
        failures: list[BaseException] = []

        def attempt(n: int) -> dict[str, OutputValue]:
            try:
                return self.sv.backend.up(self.stack, self._on_resource, self._should_stop, env)
            except BaseException as exc:
                failures.append(exc)
                raise

        def before_retry(n: int) -> None:
            self.sv.backend.refresh(self.stack)
            # The recorders delete their steps' pull Jobs and DaemonSets, so the refresh
            # drops those from the state, and an up that rendered the finished steps again
            # would recreate them: a finished step's pulls re-run during a later one.
            done = set(self.previously_finished) | self.sv.backend.recorded_steps(self.stack)
            if done:
                env[RESUME_ENV] = ",".join(sorted(done))
            self._await_uploads(env, done)
            # The failed attempt already brought up this cluster's nodes, and a node-local step
            # it recorded (the pre-pull) holds on them: never render it again.
            env.pop(RESUME_NEW_NODES_ENV, None)

        retrying = backoff(
            self.sv.clock, attempts=self.opts.up_attempts,
            first_wait_s=self.opts.up_backoff_seconds,
            # a held lock is not retried: it is someone else's update, or handled below
            retry_if=lambda exc: (isinstance(exc, TransientError)
                                  and not isinstance(exc, ConcurrentUpdateError)),
            give_up=self._deadline_passed, before_retry=before_retry,
            on_wait=lambda n, s: self.line(
                f"up attempt {n} failed ({failures[-1]}); retrying in {s:.0f} s"),
        )
        try:
            self.cluster.outputs = call(retrying, attempt)
        except ConcurrentUpdateError as exc:
            if self.snap.resources_done == 0:
                # Someone else's update holds the lock (a run in progress?). Destroying
                # would pull their cluster away: touch nothing and say how to proceed.
                self.trouble.busy = True
                st.resources_may_exist = had_resources
                msg = (
                    f"another update of {self.stack} holds its lock ({exc}); nothing was "
                    f"touched. If no run is active: pulumi cancel -s {self.stack}, then "
                    f"study destroy {self.stack} or study run {self.stack} --resume"
                )
                raise StudyError(msg) from None
            raise

    def _await_uploads(self, env: dict[str, str], done: set[str]) -> None:
        """Name the completed steps whose upload Pulumi has not seen complete: the program
        declares those uploads alone, so the `up` awaits them rather than deleting them."""
        pending = done & self.sv.backend.pending_uploads(self.stack)
        if pending:
            env[UPLOADS_ENV] = ",".join(sorted(pending))
        else:
            env.pop(UPLOADS_ENV, None)

    # -- watch ----------------------------------------------------------------------------------
    def _watch(self) -> None:
        st, cl = self.state, self.cluster
        self.advance(Stage.WATCH)
        cl.reader = self.sv.reader_factory(cl.outputs)
        last_sig: Any = None
        last_change = cl.last_progress = self.now()
        expected = (self.pre.steps_total or 0) - len(self.previously_finished)
        while True:
            statuses = self._statuses()
            if statuses is not None:
                done = [n for n, s in statuses.items() if s.get("status") in TERMINAL]
                finished = sorted(set(st.finished_steps)
                                  | {n for n, s in statuses.items() if is_finished(s)})
                if finished != st.finished_steps:
                    st.finished_steps = finished
                    self.save()
                self.snap.steps_done = len(finished)
                self.snap.steps_total = max(
                    self.pre.steps_total or 0, len(set(statuses) | set(self.previously_finished))
                ) or None
                sig = sorted((n, s.get("status"), s.get("finished_at"), s.get("progress"))
                             for n, s in statuses.items())
                if sig != last_sig:
                    last_sig, last_change = sig, self.now()
                stop = next((n for n, s in statuses.items() if s.get("stop")), None)
                if stop is not None:  # its recorder stopped the run: no later step starts
                    self.line(f"step {stop} stopped the run; collecting")
                    self.tick()
                    return
                if len(done) == len(statuses) and len(statuses) >= expected:
                    st.experiment_done_at = self.now()
                    self.line(f"experiment finished: {len(done)} step(s) ended; collecting")
                    self.tick()
                    return
            self.tick()
            if self._deadline_passed():
                self._stop("deadline reached")
                return
            if self.now() - last_change >= self.pre.stall_s:
                self.trouble.stop_reason = "stalled"
                self._stop(f"no step progressed for {self.pre.stall_s:g} s")
                return
            wait = self.opts.poll_seconds
            if st.deadline_at is not None:
                wait = max(0.0, min(wait, st.deadline_at - self.now()))
            self.sv.clock.sleep(wait)

    def _statuses(self) -> dict[str, dict] | None:
        assert self.cluster.reader is not None
        try:
            return self.cluster.reader.step_statuses()
        except TransientError as exc:  # an API server hiccup is not the end of a run
            self.line(f"could not read step statuses ({exc}); retrying")
            return None

    def _stop(self, why: str) -> None:
        self.line(f"stopping the experiment: {why}")
        try:
            if self.cluster.reader is not None:
                self.cluster.reader.stop_experiment()
        except Exception as exc:  # noqa: BLE001 - destroy stops it for good anyway
            self.line(f"could not stop the experiment cleanly ({exc}); destroy will")

    # -- cleanup --------------------------------------------------------------------------------
    def _finish_preflight(self) -> RunOutcome:
        """Preflight failed: this run created nothing; destroy only what an earlier attempt left."""
        st = self.state
        if st.resources_may_exist and not self.opts.keep and not self.trouble.prerequisite:
            self.persist = True  # an earlier attempt's resources are destroyed: that is recorded
            return self._cleanup()
        return self._conclude(_Cleanup())

    def _cleanup(self) -> RunOutcome:
        """Collect, then destroy (unless --keep); reached whatever happened before."""
        done = _Cleanup()
        if self.trouble.busy:
            return self._conclude(done)
        try:
            self.advance(Stage.COLLECT)
            done.collection = self._collect()
        except BaseException as exc:  # noqa: BLE001 - nothing may skip the destroy below
            self.trouble.failure = (self.trouble.failure
                                    or f"collection: {type(exc).__name__}: {exc}")
        if self.opts.keep:
            self._keep()
        else:
            done.destroy = self._destroy()
        return self._conclude(done)

    def _keep(self) -> None:
        self.state.kept = True
        self.line(
            f"--keep: {self.stack} stays up (expires {self._expiry_text()}; the janitor destroys "
            f"it then); destroy it with: study destroy {self.stack}"
        )

    def _destroy(self) -> DestroyOutcome:
        st = self.state
        st.destroy_started_at = self.now()
        self.advance(Stage.DESTROY)
        self.line(f"destroying {self.stack}")
        destroy = destroy_stack(
            self.stack,
            self.pre.spec,
            self.sv.backend,
            self.sv.inventory,
            self.sv.clock,
            self.opts.destroy,
            on_event=lambda ev: None,
            log=self.line,
            release=volume_release(self.stack, self.sv.backend, self.sv.reader_factory,
                                   self.cluster.outputs),
            owns_stack=True,  # this run made the last update: a lock left is its own
        )
        if destroy.interrupted:
            self._note_signal(signal.SIGINT)
        if destroy.ok:
            st.resources_may_exist = False
            st.destroyed_at = destroy.finished_at
        return destroy

    def _collect(self) -> Collection:
        st, cl = self.state, self.cluster
        reader = cl.reader
        if reader is None:
            try:
                outputs = cl.outputs or self.sv.backend.outputs(self.stack)
                if outputs:
                    cl.outputs = outputs
                    reader = self.sv.reader_factory(outputs)
            except Exception as exc:  # noqa: BLE001 - the cluster may not exist yet
                self.line(f"cluster not reachable for collection ({exc})")
        spec = self.pre.spec
        exp = None
        if spec is not None and spec.experiment is not None:
            exp = spec.experiment.model_dump()
        from study.lifecycle.commands import bucket_fetch

        fetch, expected = bucket_fetch(self.stack, self.sv, spec, st.run_id, self.line)
        stop = self.trouble.stop_reason
        result = collect(
            self.run_dir,
            st,
            reader,
            cl.outputs,
            self.pre.config,
            exp,
            self.sv.writer,
            self.now(),
            stop_reason=stop if stop in ("deadline", "stalled") else None,
            fetch=fetch,
            expected_steps=expected,
        )
        finished = {r["step"] for r in result.steps if is_finished(r)}
        st.finished_steps = sorted(set(st.finished_steps) | finished)
        if reader is not None:
            try:
                reader.close()
            except Exception:  # noqa: BLE001, S110 - closing a dead connection
                pass
        self.line(
            f"collected into {self.run_dir}"
            + (f" (partial: {'; '.join(result.problems)})" if result.partial else "")
        )
        return result

    def _conclude(self, done: _Cleanup) -> RunOutcome:
        st = self.state
        st.ended_at = self.now()
        collection, destroy = done.collection, done.destroy
        verdict = conclude(Evidence(self.stack, self.trouble, collection, destroy,
                                    self._stop_text()))
        status, code, msg = verdict.status, verdict.code, verdict.message
        details: list[str] = []
        leftovers: list[str] = []
        if status is Status.DESTROY_INCOMPLETE and destroy is not None:
            leftovers = [str(r) for r in destroy.leftovers]
            details += [f"leftover: {x}" for x in leftovers]
            if not destroy.verified:
                details.append("could not verify by labels; assume resources remain")
            details.append(f"finish it with: {destroy.finish_command(self.stack)}")
        if self.save_errors:
            code = max(code, EXIT_FAILED) if code != EXIT_OK else EXIT_FAILED
            details.append("could not save the run state: " + "; ".join(self.save_errors))
        if collection is not None and collection.partial and code != EXIT_OK:
            details.append("collection partial: " + "; ".join(collection.problems))
        if destroy is not None and destroy.ok:
            details.append(f"destroyed {self.stack}; nothing labelled stack={self.stack} remains")
        if st.kept:
            details.append(f"kept: {self.stack} is still up; study destroy {self.stack} when done")
        # Only where a run is on disk to resume: this one, or the one a --resume started from.
        if (status not in (Status.SUCCEEDED, Status.PREFLIGHT_FAILED)
                and (self.persist or self.opts.resume)):
            details.append(f"continue with: study run {self.stack} --resume")
        if self.persist:  # else the preflight stopped it: nothing happened, nothing recorded
            st.status, st.exit_code, st.message, st.leftovers = status, code, msg, leftovers
            self.advance(Stage.DONE)
            if collection is not None:
                try:
                    finalize_provenance(self.run_dir, st, self.sv.writer, self.now())
                except OSError as exc:
                    details.append(f"provenance.json not finalized: {exc}")
            try:  # every run that got past its preflight is in the ledger
                ledger.append(self.sv.results_root, ledger.LedgerEntry.of(st, self.now()))
            except OSError as exc:
                details.append(f"ledger not updated: {exc}")
        return RunOutcome(
            stack=self.stack,
            run_id=st.run_id,
            run_dir=self.run_dir,
            status=status,
            exit_code=code,
            message=msg,
            details=details,
            leftovers=leftovers,
            destroy=destroy,
            collection=collection,
        )

    def _stop_text(self) -> str:
        if self.trouble.stop_reason == "stalled":
            return f"no experiment step progressed for {self.pre.stall_s:g} s (stalled)"
        hours = self.pre.deadline_h or 0.0
        return f"deadline reached ({hours:.2f} h after the first resource: budget or max_hours)"


def _default_planner(now: datetime | None, config: dict[str, str]):
    def plan(stack: str):
        from study.plan import make_plan

        return make_plan(stack, now=now, config=config)

    return plan


def _default_environment(backend: StackBackend) -> Callable[[], dict]:
    def env() -> dict:
        from core.stacks import project_dir
        from study.lifecycle.environment import capture

        try:
            bv = backend.versions()
        except Exception:  # noqa: BLE001 - versions are nice to have
            bv = {}
        return capture(project_dir(), bv)

    return env
