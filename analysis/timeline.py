"""Where a run's time went, step by step: the measured work, and what the harness added.

Why: the plan's per-step overhead (`infra/data/durations.yaml` `harness:`) is assumed until a
harness run measures it, and a researcher should see for every run how much of it was the
harness rather than the work. Everything here is derived from what a collected run already
holds, never from the clock of the analysis:

* `steps/<step>/status.json` (written by the step recorder, `experiments/recorder.py`):
  `started_at` and `finished_at` of the step's workload (its Jobs' own times),
  `recorder_started_at` and `recorder_finished_at`; where a step has no status.json (collected
  from the cluster rather than the bucket) the `steps.json` row gives the workload's times only;
* the run's events (`events.jsonl`, the event recorder's): the step upload Job
  `upload-<step>`'s first `SuccessfulCreate` and its `Completed` (`experiments.upload`), and
  where its pod ran, which `analysis.upload_overlap` meets with the pulls' windows;
* the `pulls` table: per studied pull its pod's `Scheduled`, its first `Pulling` and its step.
  The pulling kind clears the caches in each pull pod's `clear` init container, and the kubelet
  pulls the pod's image only after that exited (`experiments.kinds.pulling.pull_pod`), so a pull
  pod's `Scheduled` -> `Pulling` is its clear: the pod's start, the clear container's start,
  its script and the pull's start (the model's `harness.pieces.cache_clear`). It lies inside the
  step's workload span. Per consecutive pair of studied images (per step in a harness run), the
  gap from image k's last `Pulled` to image k+1's first `Pulling`, which the seed's own loop
  measured too (`benchmarks/fit_durations.py` `seed_gap_seconds`).

How steps run (`experiments.component`, `experiments.schedule`): a measured step's workload
starts when the previous step's recorder has finished; that step's upload runs beside it, and
only the next recorder waits for the upload. So a step's turn-around (its recorder's end to the
next workload's start) is Pulumi's own reaction alone, and its overhead is its recording, that
turn-around and its own cache clear; the upload is timed, but beside the next step. The
preparation steps (pre-pull, mirror, priming) run beside the operators and are recorded side by
side; the first measured step waits for all of them, so only the one recorded last has a
turn-around.

A value the data cannot give is blank, and the row's `note` says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from analysis.stats import median_known
from analysis.upload_overlap import OVERLAP_TABLE, Overlaps, overlap_summary, overlaps, uploads

TIMELINE_TABLES = ["step_timeline", "pull_gaps", OVERLAP_TABLE]
TIMELINE_COLUMNS = [
    "run", "step", "step_kind", "step_status", "harness_step", "workload_started_at",
    "workload_finished_at", "recorder_started_at", "recorder_finished_at",
    "next_workload_started_at", "work_seconds", "recording_seconds", "turnaround_seconds",
    "overhead_seconds", "cache_clear_seconds", "upload_seconds", "upload_node",
    "upload_overlap_pulls", "upload_overlap_seconds", "pulumi_seconds", "note",
]
GAP_COLUMNS = ["run", "step", "next_step", "image", "next_image", "last_pulled_at",
               "next_first_pulling_at", "gap_seconds"]
_TIMES = ("workload_started_at", "workload_finished_at", "recorder_started_at",
          "recorder_finished_at", "next_workload_started_at")
_SECONDS = ("work_seconds", "recording_seconds", "turnaround_seconds", "overhead_seconds",
            "cache_clear_seconds", "upload_seconds", "upload_overlap_seconds", "pulumi_seconds")
# Only events of these reasons can mark a harness Job's start or end, or say where an upload
# pod ran; a line without one is skipped before it is parsed (the event stream of a big run is
# hundreds of MB), and a pod's line without an upload Job's name in it too.
_OBJECT_REASONS = re.compile(
    rb'"reason":\s*"(SuccessfulCreate|Completed|Scheduled|Pulled|Created|Started)"')
_JOB_REASONS = frozenset([b"SuccessfulCreate", b"Completed"])
# The Job controller's message on each pod it creates (kubernetes/kubernetes
# pkg/controller/controller_utils.go, `RealPodControl.createPods`: "Created pod: %v").
_CREATED_POD = re.compile(r"Created pod: (\S+)")
_ASSIGNED = re.compile(r"Successfully assigned \S+ to (\S+)")  # the scheduler's Scheduled
_JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # on a Job's pods (the exporter copies labels)


def harness_steps() -> frozenset[str]:
    """Steps that measure nothing (`Step.preparation`): the pre-pull, the registry mirror, the
    priming pull. By their names, the only ones the harness gives such steps: a run directory
    records each step's kind (the study's, for these too) but not whether it was preparation."""
    from experiments.images import MIRROR_STEP
    from experiments.kinds.pulling import PRIME_STEP
    from experiments.pernode import PREPULL_STEP

    return frozenset([PREPULL_STEP, MIRROR_STEP, PRIME_STEP])


def clears_caches(kind: str | None, step: str) -> bool:
    """Whether the step's pods clear the caches before their pull: the pulling kind's measured
    steps (each pull pod's `clear` init container); its preparation steps pull warm on purpose."""
    from experiments.kinds.pulling import Pulling

    return kind == Pulling.name and step not in harness_steps()


@dataclass
class ObjectTimes:
    """First and last sight of the harness's own Jobs, and where its upload pods ran, from the
    run's events."""

    first: dict[str, float]  # Job name -> earliest event time
    completed: dict[str, float]  # Job name -> its `Completed` event
    pod_job: dict[str, str] = field(default_factory=dict)  # upload pod -> its Job
    pod_node: dict[str, str] = field(default_factory=dict)  # upload pod -> its node

    def nodes_of(self, job: str) -> frozenset[str]:
        """The nodes the Job's pods ran on (one, unless a retry was placed elsewhere)."""
        return frozenset(node for pod, node in self.pod_node.items()
                         if self.pod_job.get(pod) == job)


def object_times(paths: list[Path]) -> ObjectTimes:
    """The Job events of the event files, and the upload pods' events that say their node (the
    rest of the Pod events are the pull table's)."""
    from experiments.upload import upload_name

    prefix = upload_name("").encode()
    times = ObjectTimes({}, {})
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                match = _OBJECT_REASONS.search(line)
                if match is None:
                    continue
                reason = match.group(1)
                if reason not in _JOB_REASONS and prefix not in line:
                    continue  # a pod event of no upload Job
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # counted by the pull ingest, which reads every line
                obj = event.get("involvedObject") if isinstance(event, dict) else None
                if not isinstance(obj, dict):
                    continue
                if reason in _JOB_REASONS:
                    _job_event(times, event, obj, reason)
                elif obj.get("kind") == "Pod":
                    _upload_pod_event(times, event, obj, reason)
    return times


def _job_event(times: ObjectTimes, event: dict, obj: dict, reason: bytes) -> None:
    when = _event_time(event)
    if when is None or obj.get("kind") != "Job":
        return
    name = str(obj.get("name"))
    times.first[name] = min(when, times.first.get(name, when))
    if reason == b"Completed":
        times.completed[name] = max(when, times.completed.get(name, when))
    created = _CREATED_POD.match(str(event.get("message") or ""))
    if reason == b"SuccessfulCreate" and created:
        times.pod_job[created.group(1)] = name


def _upload_pod_event(times: ObjectTimes, event: dict, obj: dict, reason: bytes) -> None:
    """Where a pod ran: the scheduler's `Scheduled` names the node; the kubelet's own events
    come from it (`source.host`, events.k8s.io's `reportingInstance`)."""
    pod = str(obj.get("name"))
    labels = obj.get("labels")
    job = labels.get(_JOB_NAME_LABEL) if isinstance(labels, dict) else None
    if isinstance(job, str) and job:
        times.pod_job.setdefault(pod, job)
    if reason == b"Scheduled":
        assigned = _ASSIGNED.search(str(event.get("message") or ""))
        node = assigned.group(1) if assigned else None
    else:
        source = event.get("source")
        node = (source.get("host") if isinstance(source, dict) else None) or (
            event.get("reportingInstance") if event.get("reportingComponent") == "kubelet"
            else None)
    if isinstance(node, str) and node:
        if reason == b"Scheduled":
            times.pod_node[pod] = node  # the scheduler's word over any kubelet's
        else:
            times.pod_node.setdefault(pod, node)


def cache_clears(pulls) -> dict[str, float]:
    """Per step, the median over its pull pods of the pod's `Scheduled` to its studied image's
    first `Pulling`: the pod's own cache clear (see the module docstring)."""
    if pulls.empty or "step" not in pulls:
        return {}
    timed = pulls[(pulls["role"] == "studied") & pulls["step"].notna()
                  & pulls["scheduled_at"].notna() & pulls["pulling_at"].notna()]
    if timed.empty:
        return {}
    pods = timed.groupby(["step", "pod"]).agg(scheduled=("scheduled_at", "min"),
                                              pulling=("pulling_at", "min"))
    seconds = (pods["pulling"] - pods["scheduled"]).dt.total_seconds()
    return {str(step): round(float(v), 3)
            for step, v in seconds.groupby(level="step").median().items()}


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


def _next_workload(steps: list[dict], i: int, own: frozenset[str]) -> tuple[dict | None, str]:
    """The step whose workload waited for step i's recorder, and why none did ("" if one did).

    A measured step's next step waits for it. The preparation steps are recorded side by side
    and the first measured step waits for all of them: for the one whose recorder finished last.
    """
    name = str(steps[i]["step"])
    if name not in own:
        return (steps[i + 1], "") if i + 1 < len(steps) else (None, "last step: no turn-around")
    measured = next((s for s in steps[i + 1:] if str(s["step"]) not in own), None)
    if measured is None:
        return None, "last preparation step: no measured step after it"
    prepared = {str(s["step"]): _ts(s.get("recorder_finished_at"))
                for s in steps if str(s["step"]) in own}
    ends = [t for t in prepared.values() if t is not None]
    latest = next((n for n, t in prepared.items() if ends and t == max(ends)), None)
    if latest is not None and latest != name:
        return None, (f"preparation step recorded beside {latest}: {measured['step']} waited for "
                      "that recorder, the last to finish")
    return measured, ""


def step_timeline(label: str, root: Path, rows: list[dict], events: ObjectTimes, pulls=None,
                  beside: Overlaps | None = None):
    """One row per step (columns `TIMELINE_COLUMNS`) of a harness run directory; `pulls` is the
    run's pull table (its pods' `Scheduled` and `Pulling` time each step's cache clear, and its
    windows meet the uploads': `beside`, computed here when not given)."""
    import pandas as pd

    from experiments.upload import upload_name

    steps = step_statuses(root, rows)
    own = harness_steps()
    pulls = pulls if pulls is not None else pd.DataFrame()
    clears = cache_clears(pulls)
    found = {u.job: u for u in uploads(events, [str(s["step"]) for s in steps])}
    if beside is None:
        beside = overlaps(pulls, list(found.values()))
    records = []
    for i, st in enumerate(steps):
        name = str(st["step"])
        notes: list[str] = []
        start, end = _ts(st.get("started_at")), _ts(st.get("finished_at"))
        rec_start, rec_end = _ts(st.get("recorder_started_at")), _ts(st.get("recorder_finished_at"))
        nxt, why_none = _next_workload(steps, i, own)
        next_start = _ts(nxt.get("started_at")) if nxt else None
        if not st["_has_status"]:
            notes.append(f"no steps/{name}/status.json (not collected from the bucket): no "
                         "recorder times")
        elif rec_end is None:
            notes.append(f"recorder did not finish (status {st.get('status', 'unknown')})")
        if start is None or end is None:
            notes.append("workload start or end not recorded")
        elif rec_start is not None and rec_start > end:
            notes.append(f"recorder started {rec_start - end:.0f} s after the workload ended "
                         "(it waits for the previous upload, a preparation step's for the "
                         "operators): the recording includes that wait")
        recording = _span(end, rec_end)
        turnaround = _span(rec_end, next_start)
        if why_none:
            notes.append(why_none)
        elif nxt is not None and next_start is None:
            notes.append(f"next step {nxt['step']} has no workload start")
        # A kind without a cache clear (topology, OSU, a preparation pull) has none to add;
        # a pulling step whose clear is not timed has an overhead that cannot be known.
        clearing = clears_caches(st.get("kind"), name)
        clear = clears.get(name) if clearing else None
        if clearing and clear is None:
            notes.append(f"no Scheduled and Pulling events of {name}'s pull pods: cache clear "
                         "not timed")
        overhead = (None if recording is None or (nxt is not None and turnaround is None)
                    or (clearing and clear is None)
                    else round(recording + (turnaround or 0.0) + (clear or 0.0), 3))
        up = upload_name(name)
        upload = _span(events.first.get(up), events.completed.get(up))
        if upload is None:
            notes.append(f"no {up} Job events: upload not timed")
        elif not found[up].nodes:
            notes.append(f"no Scheduled or kubelet event of {up}'s pod: its node, and so its "
                         "overlap with the pulls, unknown")
        shared = beside.per_upload.get(up)
        records.append({
            "run": label, "step": name, "step_kind": st.get("kind"),
            "step_status": st.get("status"), "harness_step": name in own,
            "workload_started_at": start, "workload_finished_at": end,
            "recorder_started_at": rec_start, "recorder_finished_at": rec_end,
            "next_workload_started_at": next_start, "work_seconds": _span(start, end),
            "recording_seconds": recording, "turnaround_seconds": turnaround,
            "overhead_seconds": overhead, "cache_clear_seconds": clear,
            # The turn-around is Pulumi's reaction alone: the upload runs beside the next step.
            "upload_seconds": upload,
            "upload_node": (", ".join(sorted(found[up].nodes)) or None) if up in found else None,
            "upload_overlap_pulls": shared[0] if shared else None,
            "upload_overlap_seconds": shared[1] if shared else None,
            "pulumi_seconds": turnaround, "note": "; ".join(notes),
        })
    df = pd.DataFrame(records, columns=TIMELINE_COLUMNS)
    df["upload_node"] = df["upload_node"].astype(object)
    df["upload_overlap_pulls"] = df["upload_overlap_pulls"].astype("Int64")
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
    pulls = data.table("pulls")
    if run.layout == "study" and run.event_files:
        events = object_times(run.event_files)
        found = uploads(events, [str(s["step"]) for s in run.steps
                                 if isinstance(s, dict) and s.get("step")])
        beside = overlaps(pulls, found)
        # Only the recorders' status.json files time the harness; a run without any (collected
        # from the cluster alone) has the workload's times in steps.json and nothing else.
        if any(run.path.glob("steps/*/status.json")):
            out["step_timeline"] = step_timeline(run.label, run.path, run.steps, events, pulls,
                                                 beside)
        # Without upload Job events there is nothing to overlap (the seed's runs): no table.
        if found and not beside.table.empty:
            out[OVERLAP_TABLE] = beside.table
    if not pulls.empty:
        gaps = pull_gaps(pulls, run.label)
        if not gaps.empty:
            out["pull_gaps"] = gaps
    return out


# --- what a researcher reads -------------------------------------------------------------------

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
        # What the run waits for per step: its recording, Pulumi's turn-around and its own
        # cache clear; the last step has no turn-around, so it is left out of the median.
        cycles = measured[measured["turnaround_seconds"].notna()]
        per_step = median_known(cycles["overhead_seconds"])
        total = float(tl["overhead_seconds"].fillna(0).sum()
                      + tl.loc[tl["harness_step"], "work_seconds"].fillna(0).sum())
        first, last = tl["workload_started_at"].min(), tl["recorder_finished_at"].max()
        span = (last - first).total_seconds() if first == first and last == last else None
        known = int(cycles["overhead_seconds"].notna().sum())
        if per_step is None:
            parts.append(f"harness overhead not measurable ({tl['note'].iloc[0]})")
        else:
            share = f", {total / span:.0%} of the steps' {span:.0f} s" if span else ""
            parts.append(f"harness overhead (recording, Pulumi's turn-around, cache clear) "
                         f"median {per_step:.1f} s per step (the {known} of {len(measured)} "
                         f"steps with a next step), {total:.0f} s in all{share}")
            upload = median_known(measured["upload_seconds"])
            if upload is not None:
                parts.append(f"upload median {upload:.0f} s, beside the next step")
    elif data.run.layout != "study":
        parts.append("harness overhead not recorded (no step statuses in this layout)")
    elif data.run.steps:
        parts.append("harness overhead not recorded (no steps/*/status.json: the run was "
                     "collected from the cluster, not the results bucket)")
    beside = overlap_summary(data.table(OVERLAP_TABLE))
    if beside:
        parts.append(beside)
    gaps = data.table("pull_gaps")
    if not gaps.empty:
        med = median_known(gaps["gap_seconds"])
        ref = seed_gap_range(data)
        seed = (f" (seed loop, {ref[0]} at this node count: {ref[1][0]:.0f}-{ref[1][1]:.0f} s)"
                if ref else "")
        pairs = "pair" if len(gaps) == 1 else "pairs"
        parts.append(f"pull gap (last Pulled to next image's first Pulling) median {med:.0f} s "
                     f"over {len(gaps)} {pairs}{seed}")
    return "; ".join(parts) if parts else None
