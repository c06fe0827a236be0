"""`study collect`: copy a run's evidence out of the cluster into `results/<stack>/<run-id>/`.

Files (the analysis code reads exactly these): `events.jsonl` (every event, deduplicated by
`metadata.uid`, the latest version of each kept), `steps/<step>/{log.txt,status.json}`,
`steps.json`, `nodes.json`, `outputs.json` (stack outputs minus secrets), `provenance.json`.

Every write is atomic and skipped when the content is unchanged, so collecting twice changes
nothing and a crash or a full disk never leaves a torn file. What is already on disk is merged,
never dropped: a resumed run on a fresh cluster keeps the earlier steps' logs and events. Any
failure marks the collection partial and keeps everything written so far.

The results bucket comes first when there is one (`study.lifecycle.bucket_results`): every
file that matches its step's manifest is written (`steps/<step>/{log.txt,status.json,
checks.json}`, the events merged, `guard/*.json`), with `bucket.json` saying what the bucket
holds and what it lacks; then the cluster, if it still exists, adds what only it has (steps not
yet uploaded, nodes, images). A step verified from the bucket keeps the bucket's log. Each bad
object is a problem naming it, and costs nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from study.lifecycle.bucket_results import RunInBucket
from study.lifecycle.interfaces import ClusterReader, OutputValue, Writer
from study.lifecycle.state import RunState
from study.paths import is_step_name

TERMINAL = ("succeeded", "failed", "invalid", "deadline")


def is_finished(row: dict) -> bool:
    """A step that need not run again: it ended, and did not stop the run.

    A step whose recorder stopped the run (`stop`: a cache clear that failed) ended too, but its
    measurement is void and the fix is on the node: `--resume` runs it again."""
    return row.get("status") in TERMINAL and not row.get("stop")
# Output names that never reach disk even if a program forgets to mark them secret.
SECRET_NAMES = ("kubeconfig", "token", "password", "secret", "credential", "private_key")


@dataclass
class Collection:
    files: list[str] = field(default_factory=list)  # written or unchanged, relative paths
    problems: list[str] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    bucket: dict | None = None  # RunInBucket.summary(): what the results bucket holds
    notes: list[str] = field(default_factory=list)  # worth saying, not a loss

    @property
    def partial(self) -> bool:
        return bool(self.problems)


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def public_outputs(outputs: dict[str, OutputValue]) -> dict[str, Any]:
    """Stack outputs without secrets: marked secret, or named like a credential."""
    return {
        k: v.value
        for k, v in sorted(outputs.items())
        if not v.secret and not any(s in k.lower() for s in SECRET_NAMES)
    }


def redact_config(config: dict[str, str]) -> dict[str, Any]:
    """Stack config for provenance; `secure:` values (ciphertext) are replaced by a marker."""
    out: dict[str, Any] = {}
    for key, value in sorted(config.items()):
        parsed: Any = value
        if isinstance(value, str) and value[:1] in "{[":
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                parsed = value
        if isinstance(parsed, dict) and set(parsed) == {"secure"}:
            parsed = "[secret]"
        out[key] = parsed
    return out


def declared_operators(config: dict[str, str]) -> list[dict[str, Any]]:
    """The stack's operators with their pinned versions and controller images (as deployed)."""
    from core.versions import OPERATORS
    from infra.spec import config_to_sections

    names = config_to_sections(config).get("operators") or []
    out = []
    for name in names:
        op = OPERATORS.get(name)
        img = op.controller if op else None
        out.append({
            "name": name,
            "version": op.version if op else None,
            "controller_image": img.ref if img else None,
            "digest_pinned": bool(img and img.digest),
        })
    return out


def merge_events(existing: list[dict], new: list[dict]) -> list[dict]:
    """Union by metadata.uid in first-seen order; a re-emitted (updated) event replaces the old."""
    order: list[str] = []
    by_uid: dict[str, dict] = {}
    for ev in [*existing, *new]:
        uid = str((ev.get("metadata") or {}).get("uid") or json.dumps(ev, sort_keys=True))
        if uid not in by_uid:
            order.append(uid)
        by_uid[uid] = ev
    return [by_uid[u] for u in order]


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def read_steps(run_dir: Path) -> list[dict]:
    """The run's steps.json rows as collected so far (none before the first collection)."""
    rows = _read_json(run_dir / "steps.json", [])
    return rows if isinstance(rows, list) else []


def step_rows(
    statuses: dict[str, dict], previous: list[dict], stop_reason: str | None
) -> list[dict]:
    """steps.json rows; a step the harness stopped is marked `deadline`, earlier results kept.

    A newer row of a step replaces the old one whole, so a step that stopped a run and then
    ended again on resume keeps no `stop` of the earlier attempt: the verdict reads only what
    the latest attempt of each step recorded."""
    rows = {r["step"]: r for r in previous}
    for name, st in statuses.items():
        row = {
            "step": name,
            "kind": st.get("kind"),
            "status": st.get("status", "pending"),
            "started_at": st.get("started_at"),
            "finished_at": st.get("finished_at"),
            "params": st.get("params", {}),
        }
        if st.get("stop"):  # the step's recorder stopped the run (experiments.recorder)
            row["stop"] = st["stop"]
        old = rows.get(name)
        if old and old["status"] in TERMINAL and row["status"] not in TERMINAL:
            continue  # resumed on a fresh cluster: the earlier result stands
        if stop_reason and row["status"] == "running":
            row["status"] = "deadline"
            row["stopped_by"] = stop_reason
        rows[name] = row
    order = list(statuses) + [n for n in rows if n not in statuses]
    seen: set[str] = set()
    out = []
    for n in order:
        if n not in seen:
            seen.add(n)
            out.append(rows[n])
    return out


class Collector:
    """One collection pass into `run_dir`; every step is independent so one failure loses little."""

    def __init__(self, run_dir: Path, writer: Writer):
        self.run_dir = run_dir
        self.writer = writer
        self.result = Collection()
        self.info: dict[str, Any] = {}

    def write(self, rel: str, data: bytes) -> None:
        self.writer.write_bytes(self.run_dir / rel, data)
        self.result.files.append(rel)

    def attempt(self, what: str, fn) -> Any:
        try:
            return fn()
        except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - recorded, collection goes on
            self.result.problems.append(f"{what}: {type(exc).__name__}: {exc}")
            if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC: stop writing at once
                raise
            return None


def collect(
    run_dir: Path,
    state: RunState,
    reader: ClusterReader | None,
    outputs: dict[str, OutputValue],
    config: dict[str, str],
    experiment: dict | None,
    writer: Writer,
    now: float,
    stop_reason: str | None = None,
    fetch: Callable[[], RunInBucket] | None = None,
    expected_steps: list[str] | None = None,
) -> Collection:
    """Collect into run_dir; returns what was written and every problem (partial when any).

    `fetch` reads the run from the results bucket (first); `expected_steps` are the stack's
    steps, so a step that never reached the bucket is named."""
    c = Collector(run_dir, writer)
    try:
        bucket = _collect_bucket(c, fetch, expected_steps) if fetch is not None else None
        _collect(c, state, reader, outputs, stop_reason, bucket)
    except OSError:
        pass  # ENOSPC, already recorded by Collector.attempt: stop writing data files
    except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - recorded, partial
        c.result.problems.append(f"collect: {type(exc).__name__}: {exc}")
    try:
        prov = provenance(state, config, experiment, c.result, now, reader_info=c.info)
        c.write("provenance.json", _dump(prov))
    except OSError as exc:
        c.result.problems.append(f"provenance.json: {exc}")
    return c.result


def _collect_bucket(c: Collector, fetch, expected: list[str] | None) -> RunInBucket | None:
    """Write every verified file of the run's bucket copy; None when the bucket is unreadable."""
    run = c.attempt("results bucket", fetch)
    if run is None:
        return None
    c.result.problems.extend(run.all_problems())
    for name, step in sorted(run.steps.items()):
        for fname, data in sorted(step.files.items()):
            if fname != "events.jsonl":  # merged with every other source below
                rel = f"steps/{name}/{fname}"
                c.attempt(rel, lambda r=rel, d=data: c.write(r, d))
    for fname, data in sorted(run.guard.items()):
        c.attempt(f"guard/{fname}", lambda r=f"guard/{fname}", d=data: c.write(r, d))
    summary = run.summary(expected)
    c.result.bucket = summary
    c.attempt("bucket.json", lambda: c.write("bucket.json", _dump(summary)))
    return run


def _bucket_events(run: RunInBucket) -> list[dict]:
    """The union of every step's events snapshot (each holds the events recorded so far)."""
    out: list[dict] = []
    for _, step in sorted(run.steps.items()):
        raw = step.files.get("events.jsonl")
        for line in (raw or b"").decode(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return merge_events([], out)


def merge_statuses(bucket: dict[str, dict], cluster: dict[str, dict]) -> dict[str, dict]:
    """Cluster statuses over the bucket's, except that a finished step stays finished."""
    out = dict(bucket)
    for name, st in cluster.items():
        old = out.get(name)
        if old and old.get("status") in TERMINAL and st.get("status") not in TERMINAL:
            continue
        out[name] = st
    return out


def _collect(c: Collector, state: RunState, reader, outputs, stop_reason,
             bucket: RunInBucket | None = None) -> None:
    c.attempt("outputs.json", lambda: c.write("outputs.json", _dump(public_outputs(outputs))))
    previous = _read_json(c.run_dir / "steps.json", [])
    from_bucket = {n: st for n, s in (bucket.steps.items() if bucket else [])
                   if (st := s.status()) is not None}
    if reader is None and not from_bucket:
        c.result.problems.append("cluster: not reachable; only local records were written")
        c.result.steps = previous
        return
    if reader is None:
        rows = step_rows(from_bucket, previous, stop_reason)
        c.result.steps = rows
        c.attempt("steps.json", lambda: c.write("steps.json", _dump(rows)))
        events = _bucket_events(bucket) if bucket else []
        merged = merge_events(_read_jsonl(c.run_dir / "events.jsonl"), events)
        body = "".join(json.dumps(e, sort_keys=True) + "\n" for e in merged).encode()
        c.attempt("events.jsonl", lambda: c.write("events.jsonl", body))
        if bucket is not None and not (c.result.bucket or {}).get("complete"):
            c.result.problems.append("cluster: not reachable, and the bucket's copy is "
                                     "incomplete (named above); what was collected before is kept")
        else:
            c.result.notes.append("cluster: gone; every step's results came from the bucket")
        return
    cluster = c.attempt("step statuses", reader.step_statuses) or {}
    statuses = merge_statuses(from_bucket, cluster)
    rows = step_rows(statuses, previous, stop_reason)
    c.result.steps = rows
    c.attempt("steps.json", lambda: c.write("steps.json", _dump(rows)))
    verified = {n for n, s in (bucket.steps.items() if bucket else []) if s.complete}
    for name, st in statuses.items():
        if st.get("status", "pending") == "pending" or name in verified:
            continue  # never started (no log to expect), or the bucket's verified copy stands
        if not is_step_name(name):  # read from the cluster, joined into steps/<step>/
            c.result.problems.append(f"step {name!r}: not a step name (a DNS-1123 label); "
                                     "its log was not written")
            continue
        # The recorder's whole status (checks, timings, its own start and end), as the bucket
        # copy would have it: steps.json keeps only a summary, and the step timeline needs it.
        rel = f"steps/{name}/status.json"
        c.attempt(rel, lambda r=rel, st=st: c.write(r, _dump(st)))
        log = c.attempt(f"steps/{name}/log.txt", lambda n=name: reader.step_log(n))
        if log is not None:
            rel = f"steps/{name}/log.txt"
            c.attempt(rel, lambda r=rel, t=log: c.write(r, t.encode()))
    events = c.attempt("events", reader.events)
    if events is not None or bucket is not None:
        earlier = merge_events(_read_jsonl(c.run_dir / "events.jsonl"),
                               _bucket_events(bucket) if bucket else [])
        merged = merge_events(earlier, events or [])
        body = "".join(json.dumps(e, sort_keys=True) + "\n" for e in merged).encode()
        c.attempt("events.jsonl", lambda: c.write("events.jsonl", body))
    nodes = c.attempt("nodes", reader.nodes)
    if nodes is not None:
        c.attempt("nodes.json", lambda: c.write("nodes.json", _dump(nodes)))
    c.info = {
        "kubernetes_version": c.attempt("kubernetes version", reader.server_version),
        "images": c.attempt("images", reader.images),
        "node_count_seen": len((nodes or {}).get("items", [])) if nodes else None,
    }


def provenance(
    state: RunState,
    config: dict[str, str],
    experiment: dict | None,
    result: Collection,
    now: float,
    reader_info: dict | None = None,
) -> dict[str, Any]:
    """Everything needed to say what ran, where, with which code, and how complete it is.

    Built only from the run state and what was collected (never the wall clock of this
    collection), so collecting twice gives the same bytes.
    """
    info = reader_info or {}
    steps = result.steps
    logs = {r["step"]: f"steps/{r['step']}/log.txt" in result.files for r in steps}
    # Billing up to the later of destroy end and the collection, but only while resources exist.
    hours = state.hours_billed(now)
    env = state.environment
    return {
        "stack": state.stack,
        "run_id": state.run_id,
        "status": state.status,
        "stack_config": redact_config(config),
        "experiment": experiment,
        "repository": env.get("repository", {}),
        "harness_version": env.get("versions", {}).get("study-harness"),
        "versions": env.get("versions", {}),
        "kubernetes_version": info.get("kubernetes_version"),
        "operators": declared_operators(config),
        "operator_images": info.get("images"),
        "node_count": state.node_count,
        "node_count_seen": info.get("node_count_seen"),
        "machine_type": state.machine_type,
        "started_at": _iso(state.started_at),
        "first_resource_at": _iso(state.first_resource_at),
        "experiment_done_at": _iso(state.experiment_done_at),
        "ended_at": _iso(state.ended_at),
        "destroyed_at": _iso(state.destroyed_at),
        "kept": state.kept,
        "node_hours": round(state.node_count * hours, 4),
        "usd_per_hour": round(state.usd_per_hour, 4),
        "estimated_cost_usd": (
            None if state.estimated_usd is None else round(state.estimated_usd, 4)
        ),
        "actual_cost_usd": round(state.usd_per_hour * hours, 4),
        "steps": [
            {
                "step": r["step"],
                "status": r["status"],
                "complete": r["status"] in TERMINAL and logs.get(r["step"], False),
            }
            for r in steps
        ],
        "partial": result.partial,
        "problems": list(result.problems),
        **({"results_bucket": result.bucket} if result.bucket is not None else {}),
    }


def finalize_provenance(run_dir: Path, state: RunState, writer: Writer, now: float) -> None:
    """After destroy: fill in end time, node-hours and actual cost (local files only)."""
    path = run_dir / "provenance.json"
    prov = _read_json(path, None)
    if prov is None:
        return
    hours = state.hours_billed(now)
    prov.update(
        {
            "status": state.status,
            "ended_at": _iso(state.ended_at),
            "destroyed_at": _iso(state.destroyed_at),
            "kept": state.kept,
            "node_hours": round(state.node_count * hours, 4),
            "actual_cost_usd": round(state.usd_per_hour * hours, 4),
        }
    )
    writer.write_bytes(path, _dump(prov))
