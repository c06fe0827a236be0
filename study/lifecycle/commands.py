"""`study collect` and `study destroy` outside a run: same collector, same retrying destroy.

Both record what they did in the stack's latest run state (or start one), so `study runs`, a
later `--resume` and the janitor see a consistent picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import StudyError
from study.lifecycle.collect import Collection, collect, finalize_provenance
from study.lifecycle.destroy import (
    DestroyOutcome,
    DestroyPolicy,
    destroy_stack,
    volume_release,
)
from study.lifecycle.interfaces import LifecycleError, OutputValue, PrerequisiteMissing
from study.lifecycle.stages import Stage, Status
from study.lifecycle.state import STATE_FILE, RunState, latest_state, load_state, new_run_id


@dataclass
class CollectOutcome:
    run_dir: Path
    collection: Collection | None
    message: str


def load_spec_of(stack: str, config: dict[str, str]):
    """The stack's typed spec (structure only: an expired stack must still be collectable)."""
    from infra.spec import load_spec

    return load_spec(config)


def results_store(services, spec, log=None):
    """The stack's results bucket, or None (no bucket configured for these services, or it
    cannot be reached: then the cluster alone is collected, and `log` says why)."""
    factory = getattr(services, "results_store", None)
    if factory is None or spec is None:
        return None
    try:
        return factory(spec)
    except Exception as exc:  # noqa: BLE001 - credentials, network: collect the cluster anyway
        if log is not None:
            log(f"warning: results bucket not readable ({type(exc).__name__}: {exc})")
        return None


def ensure_results_bucket(services, spec) -> list[str]:
    """Create the stack's results bucket on first use; what was done or falls short.

    CheckFailed when it cannot be reached or made: the steps would have nowhere to upload."""
    factory = getattr(services, "results_store", None)
    if factory is None:
        return []
    from core.errors import CheckFailed
    from study.lifecycle.object_store import settings_for

    try:
        store = factory(spec)
        return [f"results bucket: {line}" for line in store.ensure(settings_for(spec))] or [
            f"results bucket: {store.url}"]
    except Exception as exc:  # noqa: BLE001 - one line: credentials, permissions, a bad name
        msg = f"preflight: results bucket: {exc}"
        raise CheckFailed(msg) from None


def expected_steps(spec) -> list[str]:
    from infra.estimate import experiment_steps

    return [s.name for s in experiment_steps(spec)] if spec.experiment is not None else []


def bucket_fetch(stack: str, services, spec, run_id: str, log=None):
    """(fetch, expected step names) for `collect`, or (None, None) without a bucket."""
    store = results_store(services, spec, log)
    if store is None:
        return None, None
    from study.lifecycle.bucket_results import fetch_run

    return (lambda: fetch_run(store, stack, run_id)), expected_steps(spec)


def _state_for(stack: str, services, spec, run_id: str | None, known: bool = False) -> RunState:
    """The run's record: `run_id`'s (a new one when only the cluster or the bucket `known`s
    it), else the stack's latest, else a new one."""
    root = services.results_root
    if run_id and (known is False or (root / stack / run_id / STATE_FILE).is_file()):
        return load_state(root / stack / run_id)
    st = None if run_id else latest_state(root, stack)
    if st is not None:
        return st
    # A stack brought up by plain `pulumi up`: start a record for it.
    from infra.estimate import estimate

    now = services.clock.now()
    st = RunState(stack=stack, run_id=run_id or new_run_id(now, root / stack), started_at=now,
                  status=Status.COLLECTED, stage=Stage.DONE, resources_may_exist=True)
    est = estimate(spec)
    st.usd_per_hour, st.estimated_usd = est.price.total, est.usd
    st.node_count, st.machine_type = spec.cluster.node_count, spec.cluster.machine_type
    st.budget_usd = spec.budget.usd
    if services.environment is not None:
        st.environment = services.environment()
    else:
        from study.lifecycle.run import _default_environment

        st.environment = _default_environment(services.backend)()
    return st


def collect_stack(stack: str, services, config: dict[str, str], run_id: str | None = None
                  ) -> CollectOutcome:
    """Collect the stack's cluster into its latest run directory (or a new one)."""
    spec = load_spec_of(stack, config)
    log = services.progress.line
    store = results_store(services, spec, log)
    bucket_ids: list[str] = []
    if store is not None:
        from study.lifecycle.bucket_results import runs_of

        try:
            bucket_ids = runs_of(store, stack)
        except LifecycleError as exc:  # no bucket yet, no permission: the cluster still counts
            log(f"warning: {exc}; collecting from the cluster only")
            store = None
    outputs: dict[str, OutputValue] = {}
    try:  # without a usable CLI every stack would look like "nothing was brought up"
        services.backend.check()
    except PrerequisiteMissing:
        raise
    except LifecycleError as exc:
        if store is None:
            msg = f"cannot collect {stack}: {exc}"
            raise StudyError(msg) from None
        log(f"warning: no Pulumi CLI ({exc}); collecting from {store.url}")
    else:
        try:
            outputs = services.backend.outputs(stack)
        except LifecycleError as exc:
            if store is None:
                msg = f"cannot read the outputs of {stack}: {exc}; is the stack up?"
                raise StudyError(msg) from None
            log(f"warning: no stack outputs ({exc}); collecting from {store.url}")
    rid, known = _run_id(stack, services, bucket_ids, outputs, run_id)
    st = _state_for(stack, services, spec, rid, known)
    run_dir = services.results_root / stack / st.run_id
    from study.lifecycle.bucket_results import fetch_run

    in_bucket = store is not None and st.run_id in bucket_ids
    if not outputs and not in_bucket:
        if (run_dir / "provenance.json").is_file():
            return CollectOutcome(run_dir, None, f"{stack} is down; {run_dir} is already collected")
        where = f" and {store.url} has no run of it" if store is not None else ""
        msg = (f"{stack} has no outputs{where}: nothing was brought up; "
               f"run `study run {stack}` first")
        raise StudyError(msg)
    reader = None
    if outputs:
        try:
            reader = services.reader_factory(outputs)
        except Exception as exc:  # noqa: BLE001 - one line, and keep what is on disk
            if in_bucket:
                log(f"warning: cluster unreachable ({exc}); collecting from {store.url}")
            elif (run_dir / "provenance.json").is_file():
                return CollectOutcome(run_dir, None, f"cluster unreachable ({exc}); kept {run_dir}")
            else:
                msg = f"cluster of {stack} is unreachable: {exc}"
                raise StudyError(msg) from None
    exp = spec.experiment.model_dump() if spec.experiment else None
    fetch = (lambda: fetch_run(store, stack, st.run_id)) if in_bucket else None
    try:
        result = collect(run_dir, st, reader, outputs, config, exp, services.writer,
                         services.clock.now(), fetch=fetch,
                         expected_steps=expected_steps(spec) if fetch else None)
    finally:
        if reader is not None:
            reader.close()
    st.finished_steps = sorted(
        set(st.finished_steps)
        | {r["step"] for r in result.steps if r["status"] in ("succeeded", "failed", "invalid")}
    )
    services.writer.write_bytes(run_dir / STATE_FILE, st.to_json())
    finalize_provenance(run_dir, st, services.writer, services.clock.now())
    what = "partial: " + "; ".join(result.problems) if result.partial else "complete"
    what = "; ".join([what, *result.notes])
    return CollectOutcome(run_dir, result, f"collected {stack} into {run_dir} ({what})")


def bucket_runs(services, stacks: list[str], read_config, log=None) -> dict[tuple[str, str], dict]:
    """(stack, run id) -> what the results bucket holds of that run (`RunInBucket.summary`),
    for every run of `stacks` found there. Stacks whose bucket cannot be read are skipped, and
    `log` gets one line for all of them (no credentials would otherwise say it per stack)."""
    from study.lifecycle.bucket_results import fetch_run, runs_of

    out: dict[tuple[str, str], dict] = {}
    failed: dict[str, list[str]] = {}  # reason -> stacks
    for stack in stacks:
        try:
            spec = load_spec_of(stack, read_config(stack))
            store = services.results_store(spec)
            for rid in runs_of(store, stack):
                out[(stack, rid)] = fetch_run(store, stack, rid).summary(expected_steps(spec))
        except Exception as exc:  # noqa: BLE001 - one stack's bucket hides no other run
            failed.setdefault(f"{type(exc).__name__}: {exc}", []).append(stack)
    if log is not None:
        for reason, names in failed.items():
            log(f"warning: results bucket not read for {', '.join(names)} ({reason})")
    return out


def _run_id(stack: str, services, bucket_ids: list[str], outputs: dict[str, OutputValue],
            given: str | None) -> tuple[str | None, bool]:
    """Which run to collect, and whether the cluster or the bucket (not results/) names it:
    `--run-id`, else the cluster's own (`run_id` output), else the latest local record, else
    the bucket's latest run of the stack (the cluster is gone and nobody collected it)."""
    if given:
        return given, True
    out = outputs.get("run_id")
    if out is not None and out.value:
        return str(out.value), True
    if latest_state(services.results_root, stack) is not None:
        return None, False
    if bucket_ids:
        return bucket_ids[-1], True
    return None, False


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
            if st.status == Status.DESTROY_INCOMPLETE:
                st.status = Status.DESTROYED
        st.leftovers = [str(r) for r in outcome.leftovers]
        try:
            run_dir = services.results_root / stack / st.run_id
            services.writer.write_bytes(run_dir / STATE_FILE, st.to_json())
            finalize_provenance(run_dir, st, services.writer, services.clock.now())
        except OSError as exc:
            services.progress.line(f"warning: run state not updated: {exc}")
    return outcome


def _nothing_to_destroy(stack: str, spec, services) -> DestroyOutcome:
    from study.lifecycle.destroy import verify_gone

    now = services.clock.now()
    # Listed once, without waiting for eventual consistency: nothing was deleted just now.
    leftovers, verified, err = verify_gone(stack, spec, services.inventory, services.clock,
                                           DestroyPolicy(verify_timeout_seconds=0))
    return DestroyOutcome(ok=not leftovers, attempts=0, started_at=now,
                          finished_at=services.clock.now(), errors=[err] if err else [],
                          leftovers=leftovers, verified=verified, never_created=True)
