"""`study campaign run`: one cluster per stack, resized in place from member to member.

For each stack of the campaign, in order: check the member fits (live quota, counting the nodes
the cluster already holds as the member's own; what is left of the campaign's budget and time),
clear the finished member's steps and results volume (a `pulumi up` of the stack without its
experiment and event recorder), then run the member through `study run`'s own orchestrator
(`study.lifecycle.run.run_stack`, `--keep`): its `pulumi up` changes the node pool's (node
group's) size through the program, as stack config (`core.overrides`), re-installs the recorder
and runs every step, the pulling kind's cache clearing included, so nodes an earlier member
used start cold too. After the last member, or the first that fails, does not fit, is
interrupted or meets the campaign's deadline: scale in, then destroy, always, and verify.

The campaign's own state (`campaign.json`) is written at every member boundary, so `--resume`
starts a new cluster at the first member not finished. Nothing here talks to a cloud directly:
every call goes through the lifecycle's interfaces, which tests fill with the in-memory doubles
(tests/doubles).
"""

from __future__ import annotations

import functools
import json
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import StudyError
from study.campaign.spec import Campaign, Member

STATE_FILE = "campaign.json"
EXIT_OK, EXIT_FAILED, EXIT_CHECK, EXIT_STOPPED, EXIT_LEFTOVERS = 0, 1, 3, 4, 5
EXIT_SIGNAL = {int(signal.SIGINT): 130, int(signal.SIGTERM): 143}
RECORDER = "event-recorder"  # its results volume is per member: cleared between members
CLEAR_ATTEMPTS = 3
FINISHED = ("succeeded",)


class CampaignInterrupted(KeyboardInterrupt):  # noqa: N818 - a signal, like KeyboardInterrupt
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class CampaignServices:
    """What a campaign run needs; `lifecycle(stack)` gives the `study run` services of a stack
    (real ones from the CLI, the in-memory doubles in tests/doubles)."""

    lifecycle: Callable[[str], Any]  # stack -> study.lifecycle.run.Services
    results_root: Path
    stack_config: Callable[[str], dict[str, str]] | None = None  # default: read_stack_config
    member_planner: Callable[[str, dict[str, str]], Any] | None = None  # default: make_plan
    now: datetime | None = None
    run_options: Any = None  # study.lifecycle.run.RunOptions for each member


@dataclass
class MemberRecord:
    name: str
    stack: str
    nodes: int
    status: str = "pending"  # pending, succeeded, failed, deadline, stalled, interrupted, ...
    exit_code: int | None = None
    message: str = ""
    run_dir: str = ""


@dataclass
class CampaignState:
    campaign: str
    run_id: str
    started_at: float
    deadline_at: float
    members: dict[str, MemberRecord]
    status: str = "running"
    exit_code: int | None = None
    message: str = ""
    attempts: int = 1
    stopped_before: str = ""  # the member the campaign stopped in front of, and why
    stop_reason: str = ""
    destroyed: dict[str, bool] = field(default_factory=dict)
    spent_usd: float = 0.0  # between members (clears, resizes): price per hour x clock time

    def to_json(self) -> bytes:
        doc = asdict(self)
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, text: str) -> CampaignState:
        doc = json.loads(text)
        doc["members"] = {k: MemberRecord(**v) for k, v in doc["members"].items()}
        return cls(**doc)


@dataclass
class CampaignOutcome:
    state: CampaignState
    run_dir: Path
    exit_code: int
    message: str
    details: list[str] = field(default_factory=list)


def campaign_root(results_root: Path, name: str) -> Path:
    return results_root / "campaigns" / name


def latest_state(results_root: Path, name: str) -> tuple[Path, CampaignState] | None:
    root = campaign_root(results_root, name)
    runs = sorted(p for p in root.glob("*") if (p / STATE_FILE).is_file())
    if not runs:
        return None
    return runs[-1], CampaignState.from_json((runs[-1] / STATE_FILE).read_text())


def run_campaign(campaign: Campaign, cs: CampaignServices, resume: bool = False
                 ) -> CampaignOutcome:
    return _Campaign(campaign, cs, resume).execute()


class _Campaign:
    def __init__(self, campaign: Campaign, cs: CampaignServices, resume: bool):
        self.c, self.cs, self.resume = campaign, cs, resume
        self.lock = threading.Lock()
        self.signals: list[int] = []
        self.lines: list[str] = []

    # -- state ----------------------------------------------------------------------------------
    def save(self) -> None:
        with self.lock:
            writer = self.cs.lifecycle(self.c.spec.stacks()[0]).writer
            try:
                writer.write_bytes(self.run_dir / STATE_FILE, self.state.to_json())
            except OSError as exc:  # never blocks a destroy
                self.log(f"could not save {STATE_FILE}: {exc}")

    def log(self, msg: str, stack: str | None = None) -> None:
        sv = self.cs.lifecycle(stack or self.c.spec.stacks()[0])
        sv.progress.line(f"campaign {self.c.name}: {msg}")
        self.lines.append(msg)

    def _open(self) -> None:
        first = self.cs.lifecycle(self.c.spec.stacks()[0])
        now = first.clock.now()
        if self.resume:
            found = latest_state(self.cs.results_root, self.c.name)
            if found is None or found[1].status in FINISHED:
                what = "no run" if found is None else f"run {found[1].run_id} succeeded"
                msg = (f"nothing to resume for campaign {self.c.name}: {what}; start a new "
                       "run without --resume")
                raise StudyError(msg)
            self.run_dir, self.state = found
            st = self.state
            st.attempts += 1
            st.status, st.exit_code, st.message = "running", None, ""
            st.stopped_before = st.stop_reason = ""
            st.destroyed = {}
            # A new cluster: the campaign's clock for what is left starts again, its money not.
            st.deadline_at = now + self._hours_left() * 3600
            for rec in st.members.values():
                if rec.status not in FINISHED:
                    rec.status, rec.exit_code, rec.message = "pending", None, ""
            return
        from study.lifecycle.state import new_run_id

        root = campaign_root(self.cs.results_root, self.c.name)
        run_id = new_run_id(now, root)
        self.run_dir = root / run_id
        b = self.c.spec.budget
        members = {m.name: MemberRecord(m.name, m.stack, m.nodes) for m in self.c.members()}
        self.state = CampaignState(self.c.name, run_id, now, now + b.max_hours * 3600, members)

    def _hours_left(self) -> float:
        st = self.state
        used = 0.0
        for rec in st.members.values():
            if rec.status in FINISHED and rec.run_dir:
                used += _member_window(Path(rec.run_dir))[0]
        return max(0.0, self.c.spec.budget.max_hours - used)

    # -- main -----------------------------------------------------------------------------------
    def execute(self) -> CampaignOutcome:
        self._open()
        seqs = self.c.sequences()
        # Every member's plan before anything is created (and in this thread: the mock engine
        # that renders them needs the main thread's event loop).
        planner = self.cs.member_planner or _default_planner(self.cs.now)
        self.plans: dict[str, Any] = {}
        for stack, members in seqs.items():
            seq = _Sequence(self, stack, self.cs.lifecycle(stack))
            for m in members:
                if self.state.members[m.name].status not in FINISHED:
                    self.plans[m.name] = planner(stack, seq.config(m))
        unfit = next((n for n, p in self.plans.items()
                      if any(v.startswith("study:quota.") for v in p.violations)), None)
        if unfit is not None:  # said before anything is created
            self.log(f"{unfit} does not fit the declared quota: the campaign stops before it")
        self.save()
        if self.c.spec.parallel and len(seqs) > 1:
            self._parallel(seqs)
        else:
            for stack, members in seqs.items():
                self._sequence(stack, members)
                if self.signals or (self.state.stop_reason and self.state.stop_reason != "quota"
                                    and self.state.stop_reason != "budget"):
                    # an interrupt or failure stops the campaign; later stacks never start
                    for later in list(seqs)[list(seqs).index(stack) + 1:]:
                        self.state.destroyed.setdefault(later, True)
                    break
        return self._conclude()

    def _parallel(self, seqs: dict[str, list[Member]]) -> None:
        """Each stack in its own thread; signals reach the main thread and are relayed."""
        from study.campaign.relay import SignalRelay, WorkerClock, WorkerSignals

        workers = {s: WorkerSignals() for s in seqs}
        main = self.cs.lifecycle(next(iter(seqs))).signals
        main.install(SignalRelay(list(workers.values())))
        try:
            threads = []
            for stack, members in seqs.items():
                base = self.cs.lifecycle(stack)
                sv = replace(base, signals=workers[stack],
                             clock=WorkerClock(base.clock, workers[stack]))
                threads.append(threading.Thread(target=self._sequence, args=(stack, members, sv),
                                                name=f"campaign-{stack}"))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            main.restore()

    def _sequence(self, stack: str, members: list[Member], sv=None) -> None:
        sv = sv or self.cs.lifecycle(stack)
        seq = _Sequence(self, stack, sv)
        handler = seq.on_signal
        sv.signals.install(handler)
        try:
            for m in members:
                if self.state.members[m.name].status in FINISHED:
                    continue
                if not seq.member(m):
                    break
                sv.signals.install(handler)  # run_stack restored its own on the way out
        except CampaignInterrupted as exc:
            self._signal(exc.signum)
        except BaseException as exc:  # noqa: BLE001 - the destroy below runs whatever happened
            self.state.stop_reason = self.state.stop_reason or "failed"
            self.state.message = self.state.message or f"{stack}: {type(exc).__name__}: {exc}"
            self.log(f"{stack}: {type(exc).__name__}: {exc}", stack)
        finally:
            seq.cleanup = True
            try:
                seq.destroy()
            finally:
                sv.signals.restore()
                self.save()

    def _signal(self, signum: int) -> None:
        if signum not in self.signals:
            self.signals.append(signum)
        self.state.stop_reason = self.state.stop_reason or "interrupted"

    def _conclude(self) -> CampaignOutcome:
        st = self.state
        recs = list(st.members.values())
        done = [r for r in recs if r.status in FINISHED]
        details = [f"{r.name}: {r.status}" + (f" ({r.message})" if r.message and r.status
                                              not in FINISHED else "") for r in recs]
        leftovers = [s for s, ok in st.destroyed.items() if not ok]
        worst = max((r.exit_code or 0 for r in recs), default=0)
        if leftovers:
            code, status = EXIT_LEFTOVERS, "destroy-incomplete"
            msg = f"campaign {self.c.name}: destroy did not complete for {', '.join(leftovers)}"
        elif self.signals:
            code, status = EXIT_SIGNAL.get(self.signals[0], 130), "interrupted"
            msg = f"campaign {self.c.name} interrupted after {len(done)} member(s)"
        elif st.stop_reason in ("quota", "budget"):
            code, status = EXIT_CHECK, st.stop_reason
            msg = (f"campaign {self.c.name} stopped before {st.stopped_before}: "
                   f"{st.message or st.stop_reason}")
        elif st.stop_reason == "deadline":
            code, status = EXIT_STOPPED, "deadline"
            msg = f"campaign {self.c.name} stopped at its deadline"
        elif st.stop_reason:
            code, status = max(worst, EXIT_FAILED), "failed"
            msg = f"campaign {self.c.name} failed: {st.message or st.stop_reason}"
        else:
            code, status = EXIT_OK, "succeeded"
            msg = f"campaign {self.c.name} succeeded: {len(done)} member(s)"
        if status != "succeeded":
            details.append(f"continue with: study campaign run {self.c.name} --resume")
        st.status, st.exit_code = status, code
        st.message = st.message or msg
        self.save()
        self._write_provenance()
        return CampaignOutcome(st, self.run_dir, code, msg, details)

    def _write_provenance(self) -> None:
        doc = {
            "campaign": self.c.name,
            "file": f"campaigns/{self.c.path.name}",
            "spec": self.c.spec.model_dump(mode="json"),
            "run_id": self.state.run_id,
            "members": [
                {"name": r.name, "stack": r.stack, "nodes": r.nodes, "status": r.status,
                 "run_dir": _relative(r.run_dir, self.run_dir)}
                for r in self.state.members.values()
            ],
            "status": self.state.status,
            "started_at": datetime.fromtimestamp(self.state.started_at, UTC).isoformat(),
        }
        writer = self.cs.lifecycle(self.c.spec.stacks()[0]).writer
        try:
            writer.write_bytes(self.run_dir / "provenance.json",
                               (json.dumps(doc, indent=2) + "\n").encode())
        except OSError as exc:
            self.log(f"provenance.json not written: {exc}")


def _relative(path: str, root: Path) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return path


def _member_window(run_dir: Path) -> tuple[float, float]:
    """(hours, USD per hour) of a member's run, from its run state; (0, 0) if unreadable.

    From the member's start, not its first created resource: its update resizes the pool
    before it creates anything, and the resize bills too."""
    from study.lifecycle.state import STATE_FILE as RUN_STATE

    try:
        doc = json.loads((run_dir / RUN_STATE).read_text())
    except (OSError, json.JSONDecodeError):
        return 0.0, 0.0
    start, end = doc.get("started_at"), doc.get("ended_at")
    hours = (end - start) / 3600 if start and end else 0.0
    return hours, doc.get("usd_per_hour") or 0.0


class _Sequence:
    """One stack's cluster through its members: at most one cluster, always destroyed."""

    def __init__(self, camp: _Campaign, stack: str, sv):
        self.camp, self.stack, self.sv = camp, stack, sv
        self.held: Member | None = None  # the member whose size the cluster has now
        self.held_spec: Any = None
        self.cleanup = False
        self.outputs: dict = {}
        self.deadline_at = camp.state.deadline_at  # this member's: the campaign's time or money

    @property
    def state(self) -> CampaignState:
        return self.camp.state

    def on_signal(self, signum: int) -> None:
        self.camp._signal(signum)
        if self.cleanup:
            self.camp.log(f"{signal.Signals(signum).name} received: the destroy continues",
                          self.stack)
            return
        raise CampaignInterrupted(signum)

    @functools.cached_property
    def base_config(self) -> dict[str, str]:
        """The stack's own config, read once for all its members."""
        return (self.camp.cs.stack_config or _read_config)(self.stack)

    def config(self, member: Member) -> dict[str, str]:
        from core import overrides

        return overrides.apply(self.base_config, self.overrides(member))

    def overrides(self, member: Member) -> dict[str, Any]:
        return self.camp.c.overrides_of(member, self.base_config)

    def member(self, m: Member) -> bool:
        """Run member M; False when the campaign stops here (its reason is in the state)."""
        from infra.spec import load_spec

        rec = self.state.members[m.name]
        spec = load_spec(self.config(m))
        plan = self.camp.plans[m.name]
        why = self.fits(m, spec, plan)
        if why is not None:
            kind, text = why
            rec.status, rec.message = f"not-run ({kind})", text
            self.state.stopped_before, self.state.stop_reason = m.name, kind
            self.state.message = text
            self.camp.log(f"stopping before {m.name}: {text}", self.stack)
            return False
        if self.held is not None:
            self.clear(self.held)
        self.camp.log(f"{m.name}: {m.nodes} nodes" + (
            f" (resized in place from {self.held.nodes})" if self.held else ""), self.stack)
        outcome = self.run(m, plan)
        self.held, self.held_spec = m, spec
        rec.status, rec.exit_code = outcome.status, outcome.exit_code
        rec.message, rec.run_dir = outcome.message, str(outcome.run_dir)
        self.camp.save()
        if outcome.exit_code == EXIT_OK:
            return True
        code = outcome.exit_code
        if code in EXIT_SIGNAL.values():
            self.camp._signal(next(s for s, c in EXIT_SIGNAL.items() if c == code))
        else:
            self.state.stop_reason = "deadline" if outcome.status == "deadline" else "failed"
            self.state.message = outcome.message
        return False

    def fits(self, m: Member, spec, plan) -> tuple[str, str] | None:
        """('quota'|'budget'|'deadline'|'invalid', why) when member M must not start."""
        from study.lifecycle.preflight import quota_needs

        if plan.violations:
            own = [v for v in plan.violations if not v.startswith("study:budget.")]
            quota = [v for v in own if v.startswith("study:quota.")]
            if quota:
                return "quota", f"{m.name}: " + "; ".join(quota)
            if own:
                return "invalid", f"{m.name}: " + "; ".join(own)
        reading = self.sv.inventory.quota(spec)
        held = quota_needs(self.held_spec) if self.held_spec is not None else {}
        short = []
        for key, need in quota_needs(spec).items():
            avail = reading.available(key)
            if avail is None:
                continue
            avail += held.get(key, 0.0)  # the cluster's own nodes are the member's to reuse
            if need > avail:
                short.append(f"quota {key} ({reading.source}): {m.name} needs {need:g}, "
                             f"{avail:g} available with the cluster's own nodes")
        if short:
            return "quota", "; ".join(short)
        est = plan.report.estimate
        clock = self.sv.clock
        left_h = (self.state.deadline_at - clock.now()) / 3600
        need_h = est.experiment_hours + est.teardown_hours + (
            0.0 if self.held else est.provision_hours)
        if need_h > left_h:
            return "deadline", (f"{m.name} needs an estimated {need_h:.2f} h, the campaign has "
                                f"{max(0.0, left_h):.2f} h left")
        spent = self.camp_spent()
        left_usd = self.camp.c.spec.budget.usd - spent
        need_usd = est.price.total * need_h
        if need_usd > left_usd:
            return "budget", (f"{m.name} needs an estimated {need_usd:.2f} USD, the campaign "
                              f"has {max(0.0, left_usd):.2f} of {self.camp.c.spec.budget.usd:g}"
                              " USD left")
        # The member's watchdog stops it where the campaign's money or time runs out.
        self.deadline_at = min(self.state.deadline_at,
                               clock.now() + left_usd / est.price.total * 3600
                               if est.price.total > 0 else self.state.deadline_at)
        return None

    def camp_spent(self) -> float:
        """Every member's run, plus the clears and resizes between members (`spent_usd`)."""
        total = self.state.spent_usd
        for rec in self.state.members.values():
            if rec.run_dir:
                total += _member_spent(Path(rec.run_dir))
        return total

    def clear(self, prev: Member) -> None:
        """The finished member's steps and results volume go, the cluster keeps its size."""
        from core import overrides
        from study.lifecycle.interfaces import TransientError
        from study.lifecycle.retries import backoff

        ov = self.overrides(prev)
        ops = [o for o in json.loads(self.config(prev).get("study:operators") or "[]")
               if o != RECORDER]
        ov = {**ov, "study:experiment": None, "study:operators": ops}
        env = overrides.to_environment(ov)
        retrying = backoff(
            self.sv.clock, attempts=CLEAR_ATTEMPTS, first_wait_s=30.0,
            retry_if=lambda exc: isinstance(exc, TransientError),
            before_retry=lambda attempt: self.sv.backend.refresh(self.stack),
            on_wait=lambda attempt, wait: self.camp.log(
                f"clearing {prev.name} failed; retrying in {wait:.0f} s", self.stack),
        )
        rate = self.camp.plans[prev.name].report.estimate.price.total
        started = self.sv.clock.now()
        try:
            self.outputs = retrying(self.sv.backend.up, self.stack, lambda ev: None,
                                    lambda: False, env)
        finally:
            # The cluster bills at the held size while it is cleared or resized, between
            # members: part of what the campaign has spent, though no member's run counts it.
            self.state.spent_usd += rate * (self.sv.clock.now() - started) / 3600
            self.camp.save()

    def run(self, m: Member, plan):
        from core import overrides
        from study.lifecycle.preflight import quota_needs
        from study.lifecycle.run import RunOptions, run_stack

        config = self.config(m)
        held = quota_needs(self.held_spec) if self.held_spec is not None else {}
        sv = replace(
            self.sv,
            inventory=HeldNodesInventory(self.sv.inventory, held),
            planner=lambda stack: plan,
            config_reader=lambda stack: config,
            run_dir=self.camp.run_dir / m.name,
            program_env=overrides.to_environment(self.overrides(m)),
        )
        opts = self.camp.cs.run_options or RunOptions(now=self.camp.cs.now)
        opts = replace(opts, keep=True, resume=False, deadline_at=self.deadline_at)
        return run_stack(self.stack, sv, opts)

    # -- the end --------------------------------------------------------------------------------
    def scale_in(self) -> None:
        """Shrink to one node before the destroy, whose minutes then bill one node; best
        effort: whatever happens, the destroy follows."""
        from study.campaign.plan import SCALE_IN_NODES

        if self.held is None or self.held.nodes <= SCALE_IN_NODES or self.camp.signals:
            return
        try:
            self.clear(_scale_in_member(self.held))
        except Exception as exc:  # noqa: BLE001 - the destroy below removes it all anyway
            self.camp.log(f"scale-in before the destroy failed ({exc}); destroying as is",
                          self.stack)

    def destroy(self) -> None:
        from study.lifecycle.destroy import DestroyPolicy, destroy_stack, volume_release

        if not self.sv.backend.exists(self.stack):
            self.state.destroyed[self.stack] = True
            return
        spec = self.held_spec
        if spec is None:
            from infra.spec import load_spec

            first = self.camp.c.sequences()[self.stack][0]
            spec = load_spec(self.config(first))
        opts = self.camp.cs.run_options
        policy = opts.destroy if opts is not None else DestroyPolicy()
        self.scale_in()
        self.camp.log(f"destroying {self.stack}", self.stack)
        out = destroy_stack(
            self.stack, spec, self.sv.backend, self.sv.inventory, self.sv.clock, policy,
            on_event=lambda ev: None, log=lambda msg: self.camp.log(msg, self.stack),
            release=volume_release(self.stack, self.sv.backend, self.sv.reader_factory,
                                   self.outputs or None),
            owns_stack=True,
        )
        if out.interrupted:
            self.camp._signal(int(signal.SIGINT))
        self.state.destroyed[self.stack] = out.ok
        self.camp.save()


class HeldNodesInventory:
    """The stack's inventory, with the quota the cluster's current nodes use counted as free:
    the member resizes that cluster, it does not add one beside it (`study run`'s preflight
    would otherwise count the nodes twice)."""

    def __init__(self, inner, held: dict[str, float]):
        self.inner, self.held = inner, held

    def quota(self, spec):
        from study.lifecycle.interfaces import QuotaReading

        r = self.inner.quota(spec)
        if not self.held:
            return r
        usage = {k: max(0.0, v - self.held.get(k, 0.0)) for k, v in r.usage.items()}
        note = "; ".join(filter(None, [r.note, "the cluster's own nodes counted as available"]))
        return QuotaReading(r.source, dict(r.limits), usage, note)

    def labelled(self, spec, stack: str):
        return self.inner.labelled(spec, stack)

    def expiring_stacks(self, spec_hint=None):
        return self.inner.expiring_stacks(spec_hint)


def _scale_in_member(m: Member) -> Member:
    from study.campaign.plan import SCALE_IN_NODES

    return replace(m, nodes=SCALE_IN_NODES)


def _member_spent(run_dir: Path) -> float:
    hours, rate = _member_window(run_dir)
    return hours * rate


def _read_config(stack: str) -> dict[str, str]:
    from core.stacks import read_stack_config

    return read_stack_config(stack)


def _default_planner(now: datetime | None):
    def plan(stack: str, config: dict[str, str]):
        from study.plan import make_plan

        return make_plan(stack, now=now, config=config)

    return plan
