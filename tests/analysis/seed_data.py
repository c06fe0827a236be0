"""Paths of the seed fixtures and a harness-layout run directory built from their real lines.

A plain module (not conftest) so tests/cli can load it too; tests/ has no __init__.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "seed"
PULLING = SEED / "pulling"
RUN1_4 = PULLING / "run1" / "4"
RUN4_4 = PULLING / "run4" / "4"
STREAMING = PULLING / "streaming" / "4"
WITHOUT_STREAMING = PULLING / "without-streaming" / "4"
TOPOLOGY = SEED / "topology"
OSU = SEED / "osu-scale" / "google" / "kubecon" / "run1"
TOPO_MAX6 = TOPOLOGY / "data" / "raw-max-6" / "5" / "kary-1" / "3" / "topology-experiment.out"
TOPO_AWS6 = TOPOLOGY / "data" / "raw-exact-6-aws" / "6" / "kary-2" / "0" / "topology-experiment.out"

CHONK = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-{}-bytes"


def event_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().split(b"\n") if line]


def make_harness_run(root: Path, experiment: dict | None = None, stack_config: dict | None = None,
                     run_id: str = "r-0001") -> Path:
    """results/<stack>/<run-id>/ as the collector writes it, filled with real seed lines."""
    run = root / "gke-small" / run_id
    run.mkdir(parents=True)
    source = RUN1_4 / "events-size-4-1731219229.json"
    (run / "events.jsonl").write_bytes(source.read_bytes())
    items = []
    for line in event_lines(source):
        event = json.loads(line)
        if event.get("reason") == "RegisteredNode":
            obj = event["involvedObject"]
            items.append({"kind": "Node", "metadata": {"name": obj["name"], "labels": obj["labels"]}})
    (run / "nodes.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    (run / "provenance.json").write_text(json.dumps({
        "stack": "gke-small", "run_id": run_id,
        "stack_config": stack_config or {"cluster": {"machine_type": "n1-standard-16", "nodes": 4}},
        "experiment": experiment or {"kind": "image-pull",
                                     "images": [CHONK.format(1176249324), CHONK.format(2770722493)]},
        "started_at": "2024-11-10T06:08:00Z", "finished_at": "2024-11-10T06:30:00Z",
    }))
    (run / "steps.json").write_text(json.dumps([
        {"step": "pull-small", "kind": "image-pull", "status": "succeeded",
         "started_at": "2024-11-10T06:14:20Z", "finished_at": "2024-11-10T06:14:40Z",
         "params": {"image": CHONK.format(1176249324)}},
        {"step": "topology-kary-1", "kind": "topology", "status": "succeeded",
         "started_at": "2024-11-10T06:20:00Z", "finished_at": "2024-11-10T06:25:00Z",
         "params": {"nodes": 5, "topology": "kary:1", "iteration": 3}},
        {"step": "osu", "kind": "osu", "status": "succeeded",
         "started_at": "2024-11-10T06:25:00Z", "finished_at": "2024-11-10T06:29:00Z",
         "params": {}},
    ]))
    for step, source_log in (("topology-kary-1", TOPO_MAX6), ("osu", OSU / "size-4.log")):
        (run / "steps" / step).mkdir(parents=True)
        shutil.copy(source_log, run / "steps" / step / "log.txt")
    return run


# --- Other studies' shapes, made from the real lines above ----------------------------------
# Each builder changes only what the named study shape differs in, so every other byte is still
# real exporter output.
AMG_AR = "us-central1-docker.pkg.dev/llnl-flux/converged-computing/ensemble-amg2023:spack-skylake"


def events_of(path: Path) -> list[dict]:
    """The JSON events of a seed file (its non-JSON exporter lines left out)."""
    out = []
    for line in event_lines(path):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "involvedObject" in event:
            out.append(event)
    return out


def jsonl(events: list[dict]) -> bytes:
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in events)


def without_sizes(events: list[dict]) -> list[dict]:
    """The app-image study as a Kubernetes 1.26-1.29 kubelet reports it: no `Image size`."""
    out = []
    for event in events:
        event = json.loads(json.dumps(event))
        if event.get("reason") == "Pulled" and isinstance(event.get("message"), str):
            event["message"] = re.sub(r"\. Image size: \d+ bytes\.$", "", event["message"])
        out.append(event)
    return out


def moved_image(events: list[dict], old: str, new: str) -> list[dict]:
    """The same pulls of `old` as a study that mirrored it to another registry and tag sees them."""
    return [json.loads(json.dumps(e).replace(old, new)) for e in events]


def write_run(root: Path, name: str, data: bytes) -> Path:
    """A directory holding one event file of a name the seed never used."""
    root.mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(data)
    return root
