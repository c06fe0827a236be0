"""Where a run's time went, step by step: the measured work, and what the harness added.

Why: the plan's per-step overhead (`infra/data/durations.yaml` `harness:`) is assumed until a
harness run measures it, and a researcher should see for every run how much of it was the
harness rather than the work. Everything here is derived from what a collected run already
holds, never from the clock of the analysis:

* `steps/<step>/status.json` (written by the step recorder, `experiments/recorder.py`):
  `started_at` and `finished_at` of the step's workload (its Jobs' own times),
  `recorder_started_at` and `recorder_finished_at`; where a step has no status.json (collected
  from the cluster rather than the bucket) the `steps.json` row gives the workload's times only;
* the run's events (`events.jsonl`, the event recorder's): the cache-clear DaemonSet
  `clr-<step>`'s first event (the clear starts) and the step upload Job `upload-<step>`'s first
  `SuccessfulCreate` and its `Completed` (names from `experiments.component`,
  `experiments.upload` and the pulling kind's renderer);
* the `pulls` table: per consecutive pair of studied images (per step in a harness run), the gap
  from image k's last `Pulled` to image k+1's first `Pulling`, which the seed's own loop measured
  too (`benchmarks/fit_durations.py` `seed_gap_seconds`).

A value the data cannot give is blank, and the row's `note` says why.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

TIMELINE_TABLES = ["step_timeline", "pull_gaps"]
TIMELINE_COLUMNS = [
    "run", "step", "step_kind", "step_status", "harness_step", "workload_started_at",
    "workload_finished_at", "recorder_started_at", "recorder_finished_at",
    "next_workload_started_at", "work_seconds", "recording_seconds", "turnaround_seconds",
    "overhead_seconds", "cache_clear_seconds", "upload_seconds", "pulumi_seconds", "note",
]
GAP_COLUMNS = ["run", "step", "next_step", "image", "next_image", "last_pulled_at",
               "next_first_pulling_at", "gap_seconds"]
_TIMES = ("workload_started_at", "workload_finished_at", "recorder_started_at",
          "recorder_finished_at", "next_workload_started_at")
_SECONDS = ("work_seconds", "recording_seconds", "turnaround_seconds", "overhead_seconds",
            "cache_clear_seconds", "upload_seconds", "pulumi_seconds")
# Only events of these reasons can mark a harness object's start or end; a line without one
# is skipped before it is parsed (the event stream of a big run is hundreds of MB).
_OBJECT_REASONS = re.compile(rb'"reason":\s*"(SuccessfulCreate|Completed)"')


def clear_name(step: str) -> str:
    """The pulling kind's cache-clear DaemonSet of `step` (experiments/kinds/pulling)."""
    return f"clr-{step}"


def harness_steps() -> frozenset[str]:
    """Steps that are the harness's own (no measured work): the pre-pull and the mirror."""
    from experiments.images import MIRROR_STEP
    from experiments.pernode import PREPULL_STEP

    return frozenset([PREPULL_STEP, MIRROR_STEP])


@dataclass
class ObjectTimes:
    """First and last sight of the harness's own objects, from the run's events."""

    first: dict[tuple[str, str], float]  # (kind, name) -> earliest event time
    completed: dict[str, float]  # Job name -> its `Completed` event


def object_times(paths: list[Path]) -> ObjectTimes:
    """The DaemonSet and Job events of the event files (Pod events are the pull table's)."""
    first: dict[tuple[str, str], float] = {}
    completed: dict[str, float] = {}
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                match = _OBJECT_REASONS.search(line)
                if match is None:
                    continue
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # counted by the pull ingest, which reads every line
                obj = event.get("involvedObject") if isinstance(event, dict) else None
                when = _event_time(event) if isinstance(obj, dict) else None
                if when is None or obj is None or obj.get("kind") not in ("Job", "DaemonSet"):
                    continue
                key = (str(obj["kind"]), str(obj.get("name")))
                first[key] = min(when, first.get(key, when))
                if match.group(1) == b"Completed" and obj["kind"] == "Job":
                    completed[key[1]] = max(when, completed.get(key[1], when))
    return ObjectTimes(first, completed)


def _event_time(event: dict) -> float | None:
    """When an event happened: core/v1's firstTimestamp, else events.k8s.io's eventTime."""
    meta = event.get("metadata")
    for text in (event.get("firstTimestamp"), event.get("eventTime"),
                 meta.get("creationTimestamp") if isinstance(meta, dict) else None):
        when = _ts(text)
        if when is not None:
            return when
    return None


def _ts(text: Any) -> float | None:
    from datetime import datetime

    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def step_statuses(root: Path, rows: list[dict]) -> list[dict]:
    """Each step of `steps.json` in run order, its status.json fields over the row's own."""
    import json

    out = []
    for row in rows:
        if not isinstance(row, dict) or not row.get("step"):
            continue
        merged = dict(row)
        path = root / "steps" / str(row["step"]) / "status.json"
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            status = None
        merged["_has_status"] = isinstance(status, dict)
        if isinstance(status, dict):
            merged.update({k: v for k, v in status.items() if v is not None})
        out.append(merged)
    return out


def _span(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


def step_timeline(label: str, root: Path, rows: list[dict], events: ObjectTimes):
    """One row per step (columns `TIMELINE_COLUMNS`) of a harness run directory."""
    import pandas as pd

    from experiments.upload import upload_name

    steps = step_statuses(root, rows)
    own = harness_steps()
    records = []
    for i, st in enumerate(steps):
        name = str(st["step"])
        notes: list[str] = []
        start, end = _ts(st.get("started_at")), _ts(st.get("finished_at"))
        rec_start, rec_end = _ts(st.get("recorder_started_at")), _ts(st.get("recorder_finished_at"))
        nxt = steps[i + 1] if i + 1 < len(steps) else None
        next_start = _ts(nxt.get("started_at")) if nxt else None
        if not st["_has_status"]:
            notes.append(f"no steps/{name}/status.json (not collected from the bucket): no "
                         "recorder times")
        elif rec_end is None:
            notes.append(f"recorder did not finish (status {st.get('status', 'unknown')})")
        if start is None or end is None:
            notes.append("workload start or end not recorded")
        recording = _span(end, rec_end)
        turnaround = _span(rec_end, next_start)
        if nxt is None:
            notes.append("last step: no turn-around")
        elif next_start is None:
            notes.append(f"next step {nxt['step']} has no workload start")
        overhead = (None if recording is None or (nxt is not None and turnaround is None)
                    else round(recording + (turnaround or 0.0), 3))
        clear_at = events.first.get(("DaemonSet", clear_name(name)))
        clear = _span(clear_at, start)
        up = upload_name(name)
        upload = _span(events.first.get(("Job", up)), events.completed.get(up))
        if upload is None:
            notes.append(f"no {up} Job events: upload not timed")
        pulumi = None
        if nxt is not None and turnaround is not None and upload is not None:
            # A kind without a cache clear (topology, OSU) has none to take off.
            next_clear_at = events.first.get(("DaemonSet", clear_name(str(nxt["step"]))))
            next_clear = _span(next_clear_at, next_start)
            pulumi = round(turnaround - upload - (next_clear or 0.0), 3)
        records.append({
            "run": label, "step": name, "step_kind": st.get("kind"),
            "step_status": st.get("status"), "harness_step": name in own,
            "workload_started_at": start, "workload_finished_at": end,
            "recorder_started_at": rec_start, "recorder_finished_at": rec_end,
            "next_workload_started_at": next_start, "work_seconds": _span(start, end),
            "recording_seconds": recording, "turnaround_seconds": turnaround,
            "overhead_seconds": overhead, "cache_clear_seconds": clear,
            "upload_seconds": upload, "pulumi_seconds": pulumi, "note": "; ".join(notes),
        })
    df = pd.DataFrame(records, columns=TIMELINE_COLUMNS)
    for col in _TIMES:
        df[col] = pd.to_datetime(df[col], unit="s", utc=True)
    for col in _SECONDS:
        df[col] = df[col].astype("float64")
    df["harness_step"] = df["harness_step"].astype(bool)
    return df


def pull_gaps(pulls, label: str):
    """Per consecutive pair of studied images in pull order: image k's last `Pulled` to image
    k+1's first `Pulling` (columns `GAP_COLUMNS`). A harness run pairs its steps (one image a
    step); the seed's raw events, which have no steps, pair the images."""
    import pandas as pd

    studied = pulls[pulls["role"] == "studied"] if not pulls.empty else pulls
    if studied.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    by_step = "step" in studied and studied["step"].notna().any()
    keys = ["step"] if by_step else ["image"]
    g = (studied.dropna(subset=keys).groupby(keys)
         .agg(image=("image", "first"), first_pulling=("pulling_at", "min"),
              last_pulled=("pulled_at", "max"))
         .reset_index(drop=not by_step)
         .sort_values("first_pulling", kind="stable").reset_index(drop=True))
    rows = []
    for k in range(len(g) - 1):
        a, b = g.iloc[k], g.iloc[k + 1]
        gap = (b["first_pulling"] - a["last_pulled"]).total_seconds()
        rows.append([label, a["step"] if by_step else None, b["step"] if by_step else None,
                     a["image"], b["image"], a["last_pulled"], b["first_pulling"], gap])
    return pd.DataFrame(rows, columns=GAP_COLUMNS).astype({"gap_seconds": "float64"})


def timeline_tables(data) -> dict:
    """`step_timeline` (harness runs) and `pull_gaps` (runs with pulls) of one loaded run."""
    run = data.run
    out = {}
    # Only the recorders' status.json files time the harness; a run without any (collected
    # from the cluster alone) has the workload's times in steps.json and nothing else.
    if run.layout == "study" and any(run.path.glob("steps/*/status.json")):
        events = object_times(run.event_files)
        out["step_timeline"] = step_timeline(run.label, run.path, run.steps, events)
    pulls = data.table("pulls")
    if not pulls.empty:
        gaps = pull_gaps(pulls, run.label)
        if not gaps.empty:
            out["pull_gaps"] = gaps
    return out


# --- what a researcher reads -------------------------------------------------------------------

def _median(values) -> float | None:
    vals = [float(v) for v in values if v == v and v is not None]
    return statistics.median(vals) if vals else None


def seed_gap_range(data) -> tuple[str, list[float]] | None:
    """The seed loop's gap range for the run's configuration and node count (the fit's
    `seed_gap_seconds`), and the configuration's name; None without a node count."""
    from analysis.compare import flatten
    from experiments import duration_model

    if data.run.nodes is None:
        return None
    flat = flatten(data.stack_config())

    def on(name: str) -> bool:
        return any(k.rsplit(".", 1)[-1] == name and str(v).lower() == "true"
                   for k, v in flat.items())

    # A harness stack says `local_ssd_count`; the seed's derived config `local_ssd`.
    ssd = on("local_ssd") or any(k.rsplit(".", 1)[-1] == "local_ssd_count"
                                 and isinstance(v, int) and v > 0 for k, v in flat.items())
    config = duration_model.pull_config(ssd, on("image_streaming"))
    fit = duration_model.pulling(config, data.run.nodes)
    return config, [float(x) for x in fit["seed_gap_seconds"]]


def overhead_summary(data) -> str | None:
    """One line: the run's harness overhead per step, in all and as a share of the run, and
    for pulls the median gap against the seed loop's; None when the run has neither."""
    parts = []
    tl = data.table("step_timeline")
    if not tl.empty:
        measured = tl[~tl["harness_step"]]
        # A whole cycle (recorder, upload, Pulumi, the next clear) is what the plan charges a
        # step; the last step has no turn-around, so it is left out of the median.
        cycles = measured[measured["turnaround_seconds"].notna()]
        per_step = _median(cycles["overhead_seconds"])
        total = float(tl["overhead_seconds"].fillna(0).sum()
                      + tl.loc[tl["harness_step"], "work_seconds"].fillna(0).sum())
        first, last = tl["workload_started_at"].min(), tl["recorder_finished_at"].max()
        span = (last - first).total_seconds() if first == first and last == last else None
        known = int(cycles["overhead_seconds"].notna().sum())
        if per_step is None:
            parts.append(f"harness overhead not measurable ({tl['note'].iloc[0]})")
        else:
            share = f", {total / span:.0%} of the steps' {span:.0f} s" if span else ""
            parts.append(f"harness overhead median {per_step:.1f} s per step (the {known} of "
                         f"{len(measured)} steps with a next step), {total:.0f} s in all{share}")
    elif data.run.layout != "study":
        parts.append("harness overhead not recorded (no step statuses in this layout)")
    elif data.run.steps:
        parts.append("harness overhead not recorded (no steps/*/status.json: the run was "
                     "collected from the cluster, not the results bucket)")
    gaps = data.table("pull_gaps")
    if not gaps.empty:
        med = _median(gaps["gap_seconds"])
        ref = seed_gap_range(data)
        seed = (f" (seed loop, {ref[0]} at this node count: {ref[1][0]:.0f}-{ref[1][1]:.0f} s)"
                if ref else "")
        pairs = "pair" if len(gaps) == 1 else "pairs"
        parts.append(f"pull gap (last Pulled to next image's first Pulling) median {med:.0f} s "
                     f"over {len(gaps)} {pairs}{seed}")
    return "; ".join(parts) if parts else None
