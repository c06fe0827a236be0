"""`study collect` and `study destroy` outside a run: same collector, same retrying destroy.

Both record what they did in the stack's latest run state (or start one), so `study runs`, a
later `--resume` and the janitor see a consistent picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import StudyError
from harness.lifecycle.collect import Collection, collect, finalize_provenance
from harness.lifecycle.destroy import (
    DestroyOutcome,
    DestroyPolicy,
    destroy_stack,
    volume_release,
)
from harness.lifecycle.interfaces import LifecycleError, PrerequisiteMissing
from harness.lifecycle.state import STATE_FILE, RunState, latest_state, load_state, new_run_id


@dataclass
class CollectOutcome:
    run_dir: Path
    collection: Collection | None
    message: str


def load_spec_of(stack: str, config: dict[str, str]):
    """The stack's typed spec (structure only: an expired stack must still be collectable)."""
    from infra.spec import load_spec

    return load_spec(config)


def _state_for(stack: str, services, spec, run_id: str | None) -> RunState:
    root = services.results_root
    if run_id:
        return load_state(root / stack / run_id)
    st = latest_state(root, stack)
    if st is not None:
        return st
    # A stack brought up by plain `pulumi up`: start a record for it.
    from infra.estimate import estimate

    now = services.clock.now()
    st = RunState(stack=stack, run_id=new_run_id(now, root / stack), started_at=now,
                  status="collected", stage="done", resources_may_exist=True)
    est = estimate(spec)
    st.usd_per_hour, st.estimated_usd = est.price.total, est.usd
    st.node_count, st.machine_type = spec.cluster.node_count, spec.cluster.machine_type
    st.budget_usd = spec.budget.usd
    if services.environment is not None:
        st.environment = services.environment()
    else:
        from harness.lifecycle.run import _default_environment

        st.environment = _default_environment(services.backend)()
    return st


def collect_stack(stack: str, services, config: dict[str, str], run_id: str | None = None
                  ) -> CollectOutcome:
    """Collect the stack's cluster into its latest run directory (or a new one)."""
    spec = load_spec_of(stack, config)
    try:  # without a usable CLI every stack would look like "nothing was brought up"
        services.backend.check()
    except PrerequisiteMissing:
        raise
    except LifecycleError as exc:
        msg = f"cannot collect {stack}: {exc}"
        raise StudyError(msg) from None
    st = _state_for(stack, services, spec, run_id)
    run_dir = services.results_root / stack / st.run_id
    try:
        outputs = services.backend.outputs(stack)
    except LifecycleError as exc:
        msg = f"cannot read the outputs of {stack}: {exc}; is the stack up?"
        raise StudyError(msg) from None
    if not outputs:
        if (run_dir / "provenance.json").is_file():
            return CollectOutcome(run_dir, None, f"{stack} is down; {run_dir} is already collected")
        msg = f"{stack} has no outputs: nothing was brought up; run `study run {stack}` first"
        raise StudyError(msg)
    try:
        reader = services.reader_factory(outputs)
    except Exception as exc:  # noqa: BLE001 - one line, and keep what is on disk
        if (run_dir / "provenance.json").is_file():
            return CollectOutcome(run_dir, None, f"cluster unreachable ({exc}); kept {run_dir}")
        msg = f"cluster of {stack} is unreachable: {exc}"
        raise StudyError(msg) from None
    exp = spec.experiment.model_dump() if spec.experiment else None
    try:
        result = collect(run_dir, st, reader, outputs, config, exp, services.writer,
                         services.clock.now())
    finally:
        reader.close()
    st.finished_steps = sorted(
        set(st.finished_steps)
        | {r["step"] for r in result.steps if r["status"] in ("succeeded", "failed", "invalid")}
    )
    services.writer.write_bytes(run_dir / STATE_FILE, st.to_json())
    finalize_provenance(run_dir, st, services.writer, services.clock.now())
    what = "partial: " + "; ".join(result.problems) if result.partial else "complete"
    return CollectOutcome(run_dir, result, f"collected {stack} into {run_dir} ({what})")


def destroy_command(stack: str, services, config: dict[str, str],
                    policy: DestroyPolicy | None = None) -> DestroyOutcome:
    """Destroy STACK and record it in its latest run state (if any).

    A stack whose state holds nothing (never created here, or already destroyed) is not
    destroyed again; what carries its labels is still listed, so a cluster whose state was lost
    is reported rather than called gone.
    """
    spec = load_spec_of(stack, config)
    services.backend.check()
    if not services.backend.exists(stack):
        outcome = _nothing_to_destroy(stack, spec, services)
    else:
        outcome = destroy_stack(stack, spec, services.backend, services.inventory,
                                services.clock, policy or DestroyPolicy(),
                                log=services.progress.line,
                                release=volume_release(stack, services.backend,
                                                       services.reader_factory))
    st = latest_state(services.results_root, stack)
    # An empty state after a run that left resources (finished by hand with `pulumi destroy`)
    # is recorded too: else the run still says resources may exist, and a --resume keeps the
    # old cluster's deadline.
    if st is not None and (not outcome.never_created or st.resources_may_exist):
        st.destroy_started_at = st.destroy_started_at or outcome.started_at
        if outcome.ok:
            st.resources_may_exist = False
            st.destroyed_at = outcome.finished_at
            if st.status == "destroy-incomplete":
                st.status = "destroyed"
        st.leftovers = [str(r) for r in outcome.leftovers]
        try:
            run_dir = services.results_root / stack / st.run_id
            services.writer.write_bytes(run_dir / STATE_FILE, st.to_json())
            finalize_provenance(run_dir, st, services.writer, services.clock.now())
        except OSError as exc:
            services.progress.line(f"warning: run state not updated: {exc}")
    return outcome


def _nothing_to_destroy(stack: str, spec, services) -> DestroyOutcome:
    from harness.lifecycle.destroy import verify_gone

    now = services.clock.now()
    # Listed once, without waiting for eventual consistency: nothing was deleted just now.
    leftovers, verified, err = verify_gone(stack, spec, services.inventory, services.clock,
                                           DestroyPolicy(verify_timeout_seconds=0))
    return DestroyOutcome(ok=not leftovers, attempts=0, started_at=now,
                          finished_at=services.clock.now(), errors=[err] if err else [],
                          leftovers=leftovers, verified=verified, never_created=True)
