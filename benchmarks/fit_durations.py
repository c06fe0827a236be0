"""Fit the experiment step-duration model to the seed studies; write `infra/data/durations.yaml`.

    .venv/bin/python benchmarks/fit_durations.py [SEED_DIR] [--check] [--stacks]
    .venv/bin/python benchmarks/fit_durations.py --runs RUN_DIR... [--write-harness]

SEED_DIR defaults to ../shared/data/operator-experiments next to the repository (the raw seed
data, byte-identical to the upstream blobs its README names). `--check` fits, prints the tables
and exits 1 when the committed file differs from the fit, without writing it.

Why a script: every constant the plan uses for a step's duration is data with its source, and
anyone can re-derive it. What it reads, per kind:

* topology: every `topology-experiment.out` of raw-max-6, raw-exact-30 (GKE c2d-standard-32),
  raw-exact-6-aws and raw-exact-30-aws (EKS c5a.4xlarge): the bash `real` of each event; and the
  256-node EKS run, whose raw logs are upstream only, from its parse in this repository
  (tests/fixtures/seed/topology/data/parsed-exact-256-aws). raw-max-6-10gb is left out, as the
  seed README says (pip errors, 0.0 s rows). Per machine, event and node count: seconds =
  a + b * GB, least squares (distribution per GB is flat from 6 to 30 nodes and 5-7x at 256,
  which no single curve in N fits; the harness interpolates between fitted node counts).
* MiniCluster start: the app-image study (pulling/metadata/without-streaming/4 events, four
  MiniClusters of 4 pods run one after the other by the seed's loop, with their lead-broker
  logs' `FLUXTIME fluxstart wall time`): one MiniCluster's cycle (first pod Scheduled to the next
  MiniCluster's first Scheduled) less the flux run inside it and its image pulls.
* pulling: the run1-run4 events at 4 and 16 nodes: per image the slowest node's pull (a step
  waits for it) against GB, per configuration (plain disk, local SSD, image streaming) and node
  count, and the Job's `Completed` after the last `Pulled` (containers start, run and exit; it
  grows with the image, most under streaming). What is left of the gap between one image's
  last `Pulled` and the next image's first `Pulling` is the seed loop's own turn-around (~1 s).
* harness: what the harness adds to a step (cache clear, recorder, upload), piece by piece: the
  run1-run4 events where they time the same mechanism (a pod's sandbox, a cached image's
  container start), the harness's own constants (the recorder's poll, the kubelet's PLEG
  relist), and the rest stated as assumed until harness runs are collected.
* OSU: every launcher log `size-N.log` (the `real` of each `time mpirun`): pair benchmarks their
  mean, collectives t = a * N^b in log-log space.

Fit and test are split so the error reported is on data the fit did not see: topology on every
other design (sorted), pulling at 4 nodes (tested at 16), OSU at 4-16 nodes (tested at 32 and
64). The committed model is then fitted on all of it.

`--runs` reads collected harness run directories instead (`results/<stack>/<run-id>/`): the
step timeline of each (`analysis.timeline`: the recorders' status.json and the run's events)
gives the harness's own pieces of each measured step (the recorder after the workload; the
cache clear, each pull pod's Scheduled to its Pulling, what the model's `pieces.cache_clear`
adds up; the upload, which runs beside the next step; Pulumi's turn-around, which the model
does not charge), printed as medians next to the committed `harness:` figures;
`--write-harness` writes the ones the model has into `infra/data/durations.yaml` (each then a
single measured piece), the runs named as their source, and a later fit from the seed data
keeps them.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from experiments.duration_model import event_seconds  # noqa: E402
from experiments.kinds.osu.parse import parse_osu_log  # noqa: E402
from experiments.kinds.topology.parse import parse_topology_log, seed_context  # noqa: E402

OUT = ROOT / "infra" / "data" / "durations.yaml"
SEED_256 = (ROOT / "tests" / "fixtures" / "seed" / "topology" / "data" / "parsed-exact-256-aws"
            / "topologies-events.csv")
TOPOLOGY_RUNS = {  # seed directory -> (cloud, machine)
    "raw-max-6": ("gke", "c2d-standard-32"),
    "raw-exact-30": ("gke", "c2d-standard-32"),
    "raw-exact-6-aws": ("eks", "c5a.4xlarge"),
    "raw-exact-30-aws": ("eks", "c5a.4xlarge"),
}
# The seed's event names -> the harness's (experiments/data/topology.sh). The seed re-creates
# the archive for the leaf and middle distributions (create-leaf-nodes, create-middle-nodes).
EVENT_NAMES = {
    "create-archive": "create-archive", "create-leaf-nodes": "create-archive",
    "create-middle-nodes": "create-archive",
    "distribute-all-nodes": "distribute-all-nodes",
    "distribute-leaf-nodes": "distribute-leaf-nodes",
    "distribute-middle-nodes-0": "distribute-middle-nodes",
    "distribute-middle-nodes-1": "distribute-middle-then-leaf-nodes",
    "clean-all-nodes": "clean-all-nodes", "clean-leaf-nodes": "clean-leaf-nodes",
    "clean-middle-nodes": "clean-middle-nodes",
    "delete-archive-all-nodes": "delete-archive", "delete-archive-leaf-nodes": "delete-archive",
    "delete-archive-middle-nodes": "delete-archive",
}
PULL_RUNS = {"run1": "plain", "run2": "plain", "run3": "local_ssd", "run4": "streaming"}
# The whole seed topology runs, as their author timed them ("total time to run is ... seconds",
# run-experiment.py's own clock around every MiniCluster: apply, wait, log, delete):
# converged-computing/flux-distribute@78e9b06 topology/cloud-experiment/README.md. The raw logs
# time only the events inside each MiniCluster; raw-exact-256-aws is upstream only.
SEED_TOPOLOGY_TOTALS = {  # seed directory -> (seconds, MiniClusters)
    "raw-max-6": (5793.205878019333, 45),
    "raw-exact-30": (9767.250812530518, 80),
    "raw-exact-6-aws": (9715.973370552063, 12),
    "raw-exact-30-aws": (12480.895931243896, 16),
    "raw-exact-256-aws": (4008.657091140747, 2),
}
# Seed-mirror stacks -> what they reproduce.
SEED_STACKS = {
    **{f"seed-topology-{k}": ("topology", d) for k, d in (
        ("gke-6", "raw-max-6"), ("gke-30", "raw-exact-30"), ("eks-6", "raw-exact-6-aws"),
        ("eks-30", "raw-exact-30-aws"), ("eks-256", "raw-exact-256-aws"))},
    **{f"seed-pulling-{r}-{n}": ("pulling", (r, n)) for r in PULL_RUNS for n in (4, 16)},
    **{f"seed-osu-gke-{n}": ("osu", n) for n in (4, 8, 16, 32, 64)},
}


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _events(path: Path) -> Iterator[tuple[dict, dict]]:
    """(event, its involvedObject or {}) per JSON line of a seed events file; others skipped."""
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        yield e, e.get("involvedObject") or {}


# --- topology ---------------------------------------------------------------------------------

def topology_runs(seed: Path) -> list[dict]:
    """One record per seed MiniCluster: where, design, iteration, nodes, machine, timed events."""
    base = seed / "topology" / "topology" / "cloud-experiment" / "data"
    out = []
    for run, (cloud, machine) in TOPOLOGY_RUNS.items():
        for path in sorted((base / run).glob("*/*/*/topology-experiment.out")):
            nodes, design, iteration = seed_context(path)
            log = parse_topology_log(path.read_text(errors="replace"), path)
            events = [(EVENT_NAMES[name], size, secs) for name, size, secs in log.timings
                      if secs is not None]
            out.append({"run": run, "cloud": cloud, "machine": machine, "nodes": nodes,
                        "design": design, "iteration": iteration, "events": events})
    out += parsed_runs(SEED_256, "raw-exact-256-aws", "eks", "c5a.4xlarge")
    return out


def parsed_runs(path: Path, run: str, cloud: str, machine: str) -> list[dict]:
    """MiniCluster records from a seed `topologies-events.csv` (its own parse of the raw logs)."""
    import csv

    groups: dict[tuple[str, int, int], list] = defaultdict(list)
    with path.open() as f:
        for row in csv.DictReader(f):
            key = (row["topology"].replace("-", ":"), int(row["nodes"]), int(row["iteration"]))
            groups[key].append((EVENT_NAMES[row["event"]], int(row["size_gb"]),
                                float(row["time_seconds"])))
    return [{"run": run, "cloud": cloud, "machine": machine, "nodes": n, "design": d,
             "iteration": i, "events": ev} for (d, n, i), ev in sorted(groups.items())]


def fit_topology(runs: list[dict]) -> dict:
    """Per machine, event and node count: [a, b] of seconds = a + b * GB (least squares)."""
    rows: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    for r in runs:
        for event, size, secs in r["events"]:
            rows[(r["machine"], event, r["nodes"])].append((float(size), secs))
    out: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(dict))
    for (machine, event, nodes), pts in sorted(rows.items()):
        if len({gb for gb, _ in pts}) < 2:
            continue
        out[machine][event][nodes] = _line([gb for gb, _ in pts], [s for _, s in pts])
    return {m: dict(ev) for m, ev in out.items()}


def fit_minicluster_start(seed: Path) -> dict:
    """The seed's cost of one MiniCluster beyond its flux run and image pulls (seconds)."""
    meta = seed / "pulling" / "experiments" / "pulling" / "metadata" / "without-streaming" / "4"
    scheduled: dict[str, float] = {}
    pulls: dict[str, float] = defaultdict(float)
    for path in sorted(meta.glob("events-size-4-*.json")):
        for e, obj in _events(path):
            if obj.get("kind") != "Pod" or not obj.get("name", "").startswith("flux-sample-"):
                continue
            uid = obj.get("uid", "")
            when = _ts(e.get("firstTimestamp") or e["metadata"]["creationTimestamp"])
            if e.get("reason") == "Scheduled":
                scheduled[uid] = min(when, scheduled.get(uid, when))
            m = re.search(r"in (\d+\.?\d*)s \(", e.get("message", ""))
            if e.get("reason") == "Pulled" and m:
                pulls[uid] = max(pulls[uid], float(m.group(1)))
    # Pods of one MiniCluster are scheduled within seconds; MiniClusters minutes apart.
    starts = sorted(scheduled.items(), key=lambda kv: kv[1])
    clusters: list[list[str]] = []
    for uid, when in starts:
        if clusters and when - scheduled[clusters[-1][0]] < 20:
            clusters[-1].append(uid)
        else:
            clusters.append([uid])
    flux = []
    for log in sorted((meta / "logs").glob("*.log")):
        m = re.search(r"FLUXTIME fluxstart wall time (\d+):(\d+\.\d+)", log.read_text())
        if m:
            flux.append((log.name, int(m.group(1)) * 60 + float(m.group(2))))
    # The logs' order is the seed's loop order (amg2023, lammps, minife, osu: alphabetical).
    cycles = []
    for i in range(len(clusters) - 1):
        cycle = scheduled[clusters[i + 1][0]] - scheduled[clusters[i][0]]
        pull = max(pulls[u] for u in clusters[i])
        cycles.append(cycle - flux[i][1] - pull)
    return {"seconds": round(statistics.median(cycles), 1),
            "samples": [round(c, 1) for c in cycles]}


def _max_ratio(runs: list[dict], model: dict, start: float) -> float:
    worst = 0.0
    for r in runs:
        observed = start + sum(s for *_, s in r["events"])
        worst = max(worst, observed / topology_estimate(model, start, r))
    return round(worst, 3)


def fit_start_from_totals(runs: list[dict], dirs: list[str]) -> float:
    """Seconds per MiniCluster beyond its timed events: (total - summed events) / MiniClusters,
    pooled over the seed runs `dirs` (the GKE ones: no sleeps, no image re-pulls in them)."""
    extra = count = 0.0
    for d in dirs:
        total, n = SEED_TOPOLOGY_TOTALS[d]
        extra += total - sum(s for r in runs if r["run"] == d for *_, s in r["events"])
        count += n
    return round(extra / count, 1)


def topology_estimate(model: dict, start: float, run: dict) -> float:
    """One seed MiniCluster as the model prices it: its start plus each of its events."""
    coef = model[run["machine"]]
    return start + sum(event_seconds(coef[event], size, run["nodes"])
                       for event, size, _ in run["events"])


# --- pulling ----------------------------------------------------------------------------------

def job_completions(path: Path) -> list[float]:
    """Times of the seed's pull Jobs' `Completed` events, in order (one Job per image)."""
    out = []
    for e, obj in _events(path):
        if obj.get("kind") == "Job" and e.get("reason") == "Completed":
            out.append(_ts(e.get("lastTimestamp") or e["metadata"]["creationTimestamp"]))
    return sorted(out)


def pull_runs(seed: Path) -> list[dict]:
    """Per seed pull run and node count, per image in run order: GB, the slowest node's pull,
    the Job's completion after the last `Pulled` (containers start, run, exit: the harness's
    Job pays it too) and the loop's turn-around from that to the next image's first `Pulling`.
    The run's real duration: first studied pod `Scheduled` to the last Job `Completed`."""
    from analysis.pipeline import load_runs

    meta = seed / "pulling" / "experiments" / "pulling" / "metadata"
    out = []
    for run, config in PULL_RUNS.items():
        for nodes in (4, 16):
            (data,) = load_runs([meta / run / str(nodes)])
            (events,) = sorted((meta / run / str(nodes)).glob("events-size-*.json"))
            done = job_completions(events)
            p = data.table("pulls")
            p = p[p["role"] == "studied"]
            g = p.groupby("image").agg(
                gb=("size_bytes", "first"), first_sched=("scheduled_at", "min"),
                first_pulling=("pulling_at", "min"), last_pulled=("pulled_at", "max"),
                slowest=("pull_seconds", "max"),
            ).sort_values("first_pulling")
            assert len(done) == len(g), (run, nodes, len(done), len(g))
            images = []
            for i, (_, row) in enumerate(g.iterrows()):
                turn = None
                if i + 1 < len(g):
                    turn = g["first_pulling"].iloc[i + 1].timestamp() - done[i]
                gap = None if turn is None else (
                    g["first_pulling"].iloc[i + 1] - row["last_pulled"]).total_seconds()
                images.append({"gb": int(row["gb"]) / 1e9, "slowest": float(row["slowest"]),
                               "completion": done[i] - row["last_pulled"].timestamp(),
                               "turnaround": turn, "gap": gap})
            first = (g["first_pulling"].iloc[0] - g["first_sched"].min()).total_seconds()
            real = done[-1] - g["first_sched"].min().timestamp()
            out.append({"run": run, "config": config, "nodes": nodes, "images": images,
                        "first_pull": first, "real": real})
    return out


def fit_helper_pulls(seed: Path) -> dict:
    """The first pull of a small helper image (< 500 MB compressed) on a node, from every
    non-studied cold pull in run1-run4 (system and operator images): the pod's wait from
    `Scheduled` to `Pulling`, and per image its pull plus its start."""
    import pandas as pd

    from analysis.pipeline import load_runs

    meta = seed / "pulling" / "experiments" / "pulling" / "metadata"
    frames = []
    for run in PULL_RUNS:
        for nodes in (4, 16):
            (data,) = load_runs([meta / run / str(nodes)])
            frames.append(data.table("pulls"))
    p = pd.concat(frames)
    h = p[(p["role"] != "studied") & (p["cached"] == False) & p["pull_seconds"].notna()  # noqa: E712
          & (p["compressed_bytes"] < 5e8)]
    wait = (h["pulling_at"] - h["scheduled_at"]).dt.total_seconds().dropna()
    start = (h["started_at"] - h["pulled_at"]).dt.total_seconds().dropna()
    return {"pulls": len(h), "start_seconds": round(float(wait.median()), 2),
            "per_image_seconds": round(float(h["pull_seconds"].median() + start.median()), 2)}


def seed_pod_starts(dirs: list[Path]) -> dict:
    """What the seed's events measure of the mechanisms the harness's clear pays per pull pod:
    a pod's sandbox (`Scheduled` to its first `Pulling`, over every studied pull pod) and a
    container of a cached image starting (`Pulled ... already present` to `Started`, over every
    cached pull), in the pull runs `dirs`. The events carry whole seconds, so a sub-second wait
    reads as 0 or 1: the mean of the differences is the unbiased estimate, the median only says
    which is more common."""
    import pandas as pd

    from analysis.pipeline import load_runs

    p = pd.concat([data.table("pulls") for data in load_runs(dirs)])
    studied = p[p["role"] == "studied"]
    sandbox = (studied["pulling_at"] - studied["scheduled_at"]).dt.total_seconds().dropna()
    cached = p[p["cached"] == True]  # noqa: E712 - a pandas column
    start = (cached["started_at"] - cached["pulled_at"]).dt.total_seconds().dropna()
    return {
        "sandbox": {"n": len(sandbox), "median": round(float(sandbox.median()), 2),
                    "mean": round(float(sandbox.mean()), 2)},
        "cached_start": {"n": len(start), "median": round(float(start.median()), 2),
                         "mean": round(float(start.mean()), 2)},
    }


# The kubelet's generic PLEG relists the runtime every second (kubernetes/kubernetes
# pkg/kubelet/kubelet.go genericPlegRelistPeriod; the evented PLEG is off by default): a
# container's exit is seen, and the pod's next container started, half a second later on average.
PLEG_RELIST_SECONDS = 1.0


def harness_model(seed: Path, pulls: list[dict]) -> dict:
    """What the harness adds to a step, piece by piece, each with its source: the seed's events
    where they measure the same mechanism, the harness's own constants, and what remains an
    assumption until harness runs are collected (said so)."""
    from experiments import recorder

    meta = seed / "pulling" / "experiments" / "pulling" / "metadata"
    pods = seed_pod_starts([meta / run / str(n) for run in PULL_RUNS for n in (4, 16)])
    poll = float(recorder.POLL_SECONDS)
    soonest = min(i["completion"] for r in pulls for i in r["images"])
    pieces = {
        # From the step's Job's end to the recorder Job's Complete (experiments/recorder.py).
        "recorder": {
            "notice": (0.0, "own code: a watch from the resourceVersion read delivers the end "
                            f"as it is committed (polls every {poll:g} s only without a watch)"),
            "records": (1.0, "assumed: one pod list and 2 log reads per pod, 8 at a time"),
            "events_flush": (0.0, f"seed: the last Pulled comes {soonest:.0f} s or more before "
                                  "the Job ends (run1-4), and the event recorder writes each "
                                  "event within about 1 s: they are on disk at the first read"),
            "cleanup": (1.5, "assumed: the kubelet confirms the finished pull pods deleted "
                             "(foreground deletion: the Job goes after its pods)"),
            "cleanup_notice": (0.0, "own code: a watch for the Job's DELETED (foreground: it "
                                    f"goes after its pods); polls every {poll:g} s only without "
                                    "a watch"),
            "own_exit": (PLEG_RELIST_SECONDS / 2,
                         "kubelet: the recorder's exit is seen at the next PLEG relist (every 1 s, "
                         "pkg/kubelet/kubelet.go), half of it on average"),
            "own_complete": (0.5, "assumed: the Job controller marks the recorder's Job Complete "
                                  "and pulumi-kubernetes' watch of it sees that"),
        },
        "upload": {
            "upload": (9.0, "assumed: pod start next to the results volume (its image cached "
                            "after the first step), gcloud / aws start-up, four small objects "
                            "and the manifest"),
        },
        # Between the pull Job's creation and its pods' first studied `Pulling`: each pull pod's
        # own `clear` init container (experiments/kinds/pulling), the step's critical path.
        "cache_clear": {
            "pod_start": (pods["sandbox"]["mean"],
                          f"seed: mean Scheduled -> first Pulling of {pods['sandbox']['n']} "
                          f"studied pull pods, run1-4 (median {pods['sandbox']['median']}; "
                          "whole-second events)"),
            "clear_start": (pods["cached_start"]["mean"],
                            f"seed: mean Pulled (already present) -> Started of "
                            f"{pods['cached_start']['n']} cached images, run1-4 (median "
                            f"{pods['cached_start']['median']}): the clear's image is pre-pulled"),
            "clear_script": (2.0, "assumed: the ctr/crictl calls of clear_script over the "
                                  "studied images (tens of calls of tens of ms each)"),
            "pull_start": (PLEG_RELIST_SECONDS / 2,
                           "kubelet: the clear's exit is seen at the next PLEG relist (every "
                           "1 s, pkg/kubelet/kubelet.go), half of it on average"),
        },
    }
    out: dict[str, Any] = {
        "source": "per piece below: the seed's events for the same mechanism, the harness's own "
                  "constants, and stated assumptions; no harness run has been collected yet",
    }
    for part, items in pieces.items():
        out[f"{part}_seconds"] = round(sum(sec for sec, _ in items.values()), 2)
    out["pieces"] = {part: {name: {"seconds": round(sec, 2), "source": src}
                            for name, (sec, src) in items.items()}
                     for part, items in pieces.items()}
    return out


def _line(xs: list[float], ys: list[float]) -> list[float]:
    b, a = np.polyfit(np.array(xs), np.array(ys), 1)
    return [round(float(a), 4), round(float(b), 4)]


def fit_pulling(runs: list[dict]) -> dict:
    """Per configuration and node count: slowest pull = a + b GB; completion = a + b GB; the
    study's first `Scheduled` to `Pulling`; the seed loop's turn-around and its whole gap from
    one image's last `Pulled` to the next image's first `Pulling` (medians)."""
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for config, nodes in sorted({(r["config"], r["nodes"]) for r in runs}):
        mine = [r for r in runs if r["config"] == config and r["nodes"] == nodes]
        imgs = [i for r in mine for i in r["images"]]
        out[config][nodes] = {
            "pull": _line([i["gb"] for i in imgs], [i["slowest"] for i in imgs]),
            "completion": _line([i["gb"] for i in imgs], [i["completion"] for i in imgs]),
            "first_pull_seconds": round(statistics.median(r["first_pull"] for r in mine), 1),
            "seed_turnaround_seconds": round(statistics.median(
                i["turnaround"] for i in imgs if i["turnaround"] is not None), 1),
            "seed_gap_seconds": [round(min(i["gap"] for i in imgs if i["gap"] is not None), 1),
                                 round(max(i["gap"] for i in imgs if i["gap"] is not None), 1)],
        }
    return dict(out)


def nearest_nodes(fitted: dict, nodes: int) -> dict:
    """The fit at the node count nearest `nodes` (in log scale)."""
    return fitted[min(fitted, key=lambda n: (abs(math.log(n / nodes)), n))]


def pulling_estimate(model: dict, run: dict) -> float:
    """A seed pull run as the model prices it: the study's first pull, then per image its
    slowest pull and the time after it (container start, then the loop's next image)."""
    m = nearest_nodes(model[run["config"]], run["nodes"])
    total = m["first_pull_seconds"] + m["seed_turnaround_seconds"] * (len(run["images"]) - 1)
    for img in run["images"]:
        total += max(0.0, m["pull"][0] + m["pull"][1] * img["gb"])
        total += max(0.0, m["completion"][0] + m["completion"][1] * img["gb"])
    return total


# --- OSU --------------------------------------------------------------------------------------

def osu_runs(seed: Path) -> list[dict]:
    """Per launcher log: node count, the benchmarks it timed and their `real` seconds."""
    base = seed / "osu-scale" / "google" / "kubecon" / "run1"
    out = []
    for path in sorted(base.glob("size-*.log")):
        log = parse_osu_log(path.read_text(), path)
        wall = [(w["benchmark"], w["wall_seconds"]) for w in log.wall
                if w["wall_seconds"] is not None]
        out.append({"nodes": log.nodes, "wall": wall, "sleep": 60.0})
    return out


def fit_osu(runs: list[dict], pair: tuple[str, ...]) -> dict:
    """Per benchmark: {mean} for pairs (2 ranks whatever N), {a, b} of t = a N^b otherwise."""
    pts: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in runs:
        for bench, secs in r["wall"]:
            pts[bench].append((r["nodes"], secs))
    out: dict[str, dict[str, float]] = {}
    for bench, p in sorted(pts.items()):
        if bench in pair or len({n for n, _ in p}) < 2:
            out[bench] = {"mean": round(statistics.fmean(s for _, s in p), 3)}
            continue
        b, loga = np.polyfit(np.log([n for n, _ in p]), np.log([s for _, s in p]), 1)
        out[bench] = {"a": round(float(math.exp(loga)), 6), "b": round(float(b), 6)}
    return out


def osu_bench_seconds(model: dict, bench: str, nodes: int) -> float:
    m = model[bench]
    return m["mean"] if "mean" in m else m["a"] * nodes ** m["b"]


# --- report -----------------------------------------------------------------------------------

def _err(real: float, est: float) -> float:
    return (est - real) / real


def report(seed: Path) -> tuple[dict, list[tuple[str, str, float, float]]]:
    """(the model fitted on everything, rows of (seed run, split, real, estimate))."""
    from experiments.kinds.osu import PAIR

    rows: list[tuple[str, str, float, float]] = []
    topo = topology_runs(seed)
    app_start = fit_minicluster_start(seed)
    gke = ["raw-max-6", "raw-exact-30"]
    start = fit_start_from_totals(topo, gke)
    designs = sorted({r["design"] for r in topo})
    fit_designs = set(designs[::2])
    held_model = fit_topology([r for r in topo if r["design"] in fit_designs])
    names = {"raw-max-6": "gke-6", "raw-exact-30": "gke-30", "raw-exact-6-aws": "eks-6",
             "raw-exact-30-aws": "eks-30", "raw-exact-256-aws": "eks-256"}
    for run, label in names.items():
        test = [r for r in topo if r["run"] == run and r["design"] not in fit_designs]
        real = sum(sum(s for *_, s in r["events"]) for r in test)
        est = sum(topology_estimate(held_model, 0.0, r) for r in test)
        if test:
            rows.append((f"topology {label} events", "held-out designs", real, est))
    for run in ("raw-exact-6-aws", "raw-exact-30-aws", "raw-exact-256-aws"):
        # EKS slept 2 s after each of 3 events per size (10 sizes): not the MiniCluster start.
        total, n = SEED_TOPOLOGY_TOTALS[run]
        sleeps = 2.0 * 3 * 10 * n
        events = sum(s for r in topo if r["run"] == run for *_, s in r["events"])
        rows.append((f"topology {names[run]} total", "start fitted on GKE totals", total,
                     events + sleeps + n * start))

    pulls = pull_runs(seed)
    held_pull = fit_pulling([r for r in pulls if r["nodes"] == 4])
    for r in pulls:
        if r["nodes"] == 16:
            rows.append((f"pulling {r['run']}-16", "fit at 4 nodes", r["real"],
                         pulling_estimate(held_pull, r)))

    osu = osu_runs(seed)
    held_osu = fit_osu([r for r in osu if r["nodes"] <= 16], PAIR)
    for r in osu:
        if r["nodes"] > 16:
            real = r["sleep"] + sum(s for _, s in r["wall"])
            est = r["sleep"] + sum(osu_bench_seconds(held_osu, b, r["nodes"]) for b, _ in r["wall"])
            rows.append((f"osu gke-{r['nodes']}", "fit at 4-16 nodes", real, est))

    model = {
        "generated_by": "benchmarks/fit_durations.py",
        "sources": {
            "topology": "converged-computing/flux-distribute@685caa7 topology/cloud-experiment/"
                        "data/raw-{max-6,exact-30,exact-6-aws,exact-30-aws}/*/*/*/"
                        "topology-experiment.out (bash real of each EVENT)",
            "minicluster_start": "converged-computing/flux-distribute@78e9b06 topology/"
                                 "cloud-experiment/README.md ('total time to run' of "
                                 "raw-max-6, raw-exact-30); cross-check: container-chonks"
                                 "@fa06749 experiments/pulling/metadata/without-streaming/4",
            "pulling": "converged-computing/container-chonks@fa06749 experiments/pulling/"
                       "metadata/run{1,2,3,4}/{4,16}/events-size-*.json",
            "helper_images": "the same events: every cold pull of a non-studied image under "
                             "500 MB compressed",
            "osu": "converged-computing/operator-experiments@234ab98 google/kubecon/run1/"
                   "size-{4,8,16,32,64}.log (real of each time mpirun)",
        },
        "topology": {
            "form": "seconds = a + b * GB per machine, event and node count; a and b "
                    "interpolated linearly between fitted node counts, flat beyond them",
            # (README total - summed events) / MiniClusters over the GKE runs; the app-image
            # study's MiniCluster cycles (less flux run and pulls) agree: see the samples.
            "minicluster_start_seconds": fit_start_from_totals(topo, gke),
            "minicluster_start_app_study_samples": app_start["samples"],
            "events": fit_topology(topo),
        },
        # The deadline margin's evidence: the largest observed / fitted time of one seed
        # MiniCluster (its start plus every event), over every MiniCluster of every run.
        "topology_max_observed_over_fitted": _max_ratio(topo, fit_topology(topo),
                                                        fit_start_from_totals(topo, gke)),
        "helper_images": fit_helper_pulls(seed),
        "pulling": {
            "form": "slowest node's pull = a + b * GB; completion (the Job's Completed after "
                    "the last Pulled: containers start, run, exit) = a + b * GB",
            "configs": fit_pulling(pulls),
        },
        # What the harness adds to a step beyond the seed's own loop (`harness_model`).
        "harness": harness_model(seed, pulls),
        "osu": {
            "form": "pairs: mean seconds; collectives: seconds = a * N^b",
            "network_sleep_seconds": 60,
            "benchmarks": fit_osu(osu, PAIR),
        },
    }
    return model, rows


def stack_rows(seed: Path) -> list[dict]:
    """Every seed-mirror stack: the seed run's real duration and cost against the plan's.

    The plan's experiment time is what its step chain waits for (infra/estimate.py,
    experiments/schedule.py: uploads overlap the next step, pre-pull and mirror run beside the
    operators); costs are both at the stack's hourly price (the seed's own list prices, see
    infra/data/prices.yaml) over provisioning + experiment + teardown, provisioning and
    teardown from infra/estimate.py on this branch.
    """
    from core.stacks import read_stack_config
    from infra.estimate import estimate
    from infra.spec import load_spec

    pulls = {(r["run"], r["nodes"]): r for r in pull_runs(seed)}
    osu = {r["nodes"]: r for r in osu_runs(seed)}
    out = []
    for stack, (kind, which) in SEED_STACKS.items():
        if kind == "topology":
            real = SEED_TOPOLOGY_TOTALS[which][0]
        elif kind == "pulling":
            real = pulls[which]["real"]
        else:
            r = osu[which]
            real = r["sleep"] + sum(s for _, s in r["wall"])
        est = estimate(load_spec(read_stack_config(stack)))
        exp = est.experiment_hours * 3600
        work = sum(s.work_seconds or 0.0 for s in est.steps)
        fixed = est.provision_hours + est.teardown_hours
        out.append({"stack": stack, "real": real, "estimate": exp, "work": work,
                    "overhead": exp - work, "seed_usd": est.price.total * (fixed + real / 3600),
                    "plan_usd": est.usd})
    return out


# --- the harness's own overhead, from collected harness runs ----------------------------------

MEASURED = "measured on harness runs"
# The committed file's first line, as main() writes it.
HEADER = "# Generated by benchmarks/fit_durations.py from the raw seed data; do not edit.\n"
# Each measured piece: the step timeline's column (analysis/timeline.py) it is the median of,
# over the measured steps (a preparation step's recorder waits for the operators, which is no
# recorder's own time). The turn-around is Pulumi's alone now, so it is `pulumi_seconds`.
HARNESS_PIECES = {
    "recorder_seconds": "recording_seconds",
    "upload_seconds": "upload_seconds",
    "cache_clear_seconds": "cache_clear_seconds",
    "pulumi_seconds": "pulumi_seconds",
}


def measured_harness(paths: list[Path]) -> tuple[list[str], dict[str, dict], list[str]]:
    """(the runs, per piece its median, count, min and max over every measured step that has
    it, and one line per run that timed nothing) from collected harness run directories."""
    import pandas as pd

    from analysis.pipeline import load_runs
    from analysis.timeline import overhead_summary

    names, frames, untimed = [], [], []
    for data in load_runs(paths):
        prov = data.run.provenance
        name = (f"{prov['stack']}/{prov['run_id']}" if prov.get("stack") and prov.get("run_id")
                else str(data.run.path))
        table = data.table("step_timeline")
        if table.empty:
            untimed.append(f"{name}: {overhead_summary(data) or 'no step timeline'}")
            continue
        names.append(name)
        frames.append(table)
    pieces: dict[str, dict] = {}
    if frames:
        steps = pd.concat(frames, ignore_index=True)
        steps = steps[~steps["harness_step"].astype(bool)]
        for key, column in HARNESS_PIECES.items():
            values = steps[column].dropna()
            if not values.empty:
                pieces[key] = {"median": round(float(values.median()), 1), "n": len(values),
                               "min": float(values.min()), "max": float(values.max())}
    return names, pieces, untimed


def write_measured_harness(names: list[str], pieces: dict[str, dict]) -> list[str]:
    """Replace the committed `harness:` figures that the runs measured, naming the runs as the
    source; every other line of the committed file stays as it is. Returns the keys written."""
    model = yaml.safe_load(OUT.read_text())
    block = model["harness"]
    written = [k for k in block if k in pieces]
    kept = [k for k in block if k.endswith("_seconds") and k not in pieces]
    if not written:
        return []
    parts = block.get("pieces")
    for key in written:
        block[key] = pieces[key]["median"]
        # The figure is the sum of its pieces (`duration_model.harness_pieces`): a measured one
        # is a single piece, the assumed breakdown it replaces gone with it.
        part = key.removesuffix("_seconds")
        if isinstance(parts, dict) and part in parts:
            parts[part] = {"measured": {
                "seconds": pieces[key]["median"],
                "source": f"{MEASURED}: {', '.join(names)} (the median over "
                          f"{pieces[key]['n']} measured steps)"}}
    steps = max(pieces[k]["n"] for k in written)
    block["source"] = (f"{MEASURED}: {', '.join(names)} (benchmarks/fit_durations.py --runs: "
                       f"the median over up to {steps} steps)"
                       + (f"; {', '.join(kept)} still assumed" if kept else ""))
    OUT.write_text(HEADER + yaml.safe_dump(model, sort_keys=False, width=100))
    return written


def keep_measured_harness(model: dict) -> None:
    """A fit from the seed data keeps the committed `harness:` block once runs measured it
    (the seed data has no harness run; its figures would be the assumptions again)."""
    try:
        committed = yaml.safe_load(OUT.read_text())
    except FileNotFoundError:
        return
    block = committed.get("harness") if isinstance(committed, dict) else None
    if isinstance(block, dict) and str(block.get("source", "")).startswith(MEASURED):
        model["harness"] = block


def refit_from_runs(paths: list[Path], write: bool) -> int:
    """`--runs`: the measured overhead pieces next to the committed ones (and `--write-harness`
    writes them); exit 1 when no run timed a step."""
    out = sys.stdout
    names, pieces, untimed = measured_harness(paths)
    for line in untimed:
        out.write(f"not timed: {line}\n")
    if not pieces:
        out.write("no run holds a step timeline (steps/<step>/status.json from the results "
                  "bucket); nothing to compare or write\n")
        return 1
    committed = yaml.safe_load(OUT.read_text())["harness"]
    out.write(f"harness overhead measured on {len(names)} run(s): {', '.join(names)}\n")
    out.write(f"committed source: {committed.get('source')}\n")
    out.write("piece | committed s | measured median s | steps | min-max s\n")
    for key in dict.fromkeys([*(k for k in committed if k.endswith("_seconds")), *pieces]):
        have = committed.get(key)
        m = pieces.get(key)
        shown = "not in the model" if have is None else f"{float(have):.1f}"
        measured = (f"{m['median']:.1f} | {m['n']} | {m['min']:.0f}-{m['max']:.0f}" if m
                    else "not measured | 0 | -")
        out.write(f"{key} | {shown} | {measured}\n")
    if write:
        keys = write_measured_harness(names, pieces)
        if not keys:
            out.write("the runs measured none of the harness: figures; nothing written\n")
            return 1
        out.write(f"wrote {', '.join(keys)} into {OUT.relative_to(ROOT)} harness:\n")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("seed", nargs="?", type=Path,
                    default=ROOT.parent / "shared" / "data" / "operator-experiments")
    ap.add_argument("--stacks", action="store_true",
                    help="also plan every seed-mirror stack against its seed run")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 when the committed file differs from the fit; write nothing")
    ap.add_argument("--runs", nargs="+", type=Path, metavar="DIR",
                    help="collected harness run directories: their measured per-step overhead "
                         "next to the committed harness: figures (no seed fit; writes nothing "
                         "without --write-harness)")
    ap.add_argument("--write-harness", action="store_true",
                    help="with --runs: write the measured figures into the harness: block")
    args = ap.parse_args()
    if args.write_harness and not args.runs:
        ap.error("--write-harness needs --runs DIR [DIR...]")
    if args.runs:
        return refit_from_runs(args.runs, args.write_harness)
    model, rows = report(args.seed)
    keep_measured_harness(model)
    out = sys.stdout
    out.write("seed run | split | real s | estimate s | error\n")
    for name, split, real, est in rows:
        out.write(f"{name} | {split} | {real:.0f} | {est:.0f} | {_err(real, est):+.1%}\n")
    errs = sorted(abs(_err(r, e)) for *_, r, e in rows)
    out.write(f"held-out median |error| {statistics.median(errs):.1%}, max {errs[-1]:.1%}\n")
    text = ("# Generated by benchmarks/fit_durations.py from the raw seed data; do not edit.\n"
            + yaml.safe_dump(model, sort_keys=False, width=100))
    if args.check:
        same = OUT.exists() and OUT.read_text() == text
        out.write(f"{OUT.relative_to(ROOT)} {'matches' if same else 'differs from'} the fit\n")
        return 0 if same else 1
    OUT.write_text(text)
    out.write(f"wrote {OUT.relative_to(ROOT)}\n")
    if args.stacks:
        out.write("\nstack | real s | plan s (work + overhead) | error | seed USD | plan USD | "
                  "error\n")
        srows = stack_rows(args.seed)
        for r in srows:
            out.write(f"{r['stack']} | {r['real']:.0f} | {r['estimate']:.0f} ({r['work']:.0f} + "
                      f"{r['overhead']:.0f}) | {_err(r['real'], r['estimate']):+.1%} | "
                      f"{r['seed_usd']:.2f} | {r['plan_usd']:.2f} | "
                      f"{_err(r['seed_usd'], r['plan_usd']):+.1%}\n")
        e = sorted(abs(_err(r["real"], r["estimate"])) for r in srows)
        within = sum(x <= 0.15 for x in e)
        out.write(f"stacks: median |error| {statistics.median(e):.1%}, max {e[-1]:.1%}, "
                  f"{within} of {len(e)} within 15%\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
