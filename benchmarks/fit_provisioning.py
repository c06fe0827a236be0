"""Recompute the seed-derived provisioning figures from the raw seed data; exit 1 on drift.

    .venv/bin/python benchmarks/fit_provisioning.py [SEED_DIR]

SEED_DIR defaults to ../shared/data/operator-experiments next to the repository. For each of
the seed pulling study's runs (run1-run4: a 4-node cluster, deleted, then a 16-node one) it
prints the teardown + create cycle (last event of size 4 -> first RegisteredNode of size 16),
the spread of node registration within a size and the exporter's delay after registration, and
from the node inventories (run3, run4) how close together a pool's nodes were created, then
checks `infra/data/provisioning.yaml` against them: its `seed_fit` cycle is the median of the
runs, and its GKE create(16) + teardown(4) equals that cycle.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra.provisioning import phase, table  # noqa: E402

TOLERANCE_S = 1.0


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def scan(path: Path) -> dict[str, float]:
    """First and last event times, node registrations, and the capture's start (its name)."""
    stamps: list[float] = []
    registered: list[float] = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(ev, dict) or "reason" not in ev:
            continue
        when = ev.get("lastTimestamp") or ev.get("firstTimestamp")
        if not when:
            continue
        stamps.append(_ts(when))
        node = (ev.get("involvedObject") or {}).get("kind") == "Node"
        if ev["reason"] == "RegisteredNode" and node:
            registered.append(_ts(ev.get("firstTimestamp") or when))
    epoch = float(re.search(r"-(\d+)\.json$", path.name).group(1))  # type: ignore[union-attr]
    return {"last": max(stamps), "reg_first": min(registered), "reg_last": max(registered),
            "capture": epoch}


def main() -> int:
    seed = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / \
        "operator-experiments"
    meta = seed / "pulling" / "experiments" / "pulling" / "metadata"
    if not meta.is_dir():
        sys.stderr.write(f"no seed data at {meta}\n")
        return 1
    cycles = []
    for run in ("run1", "run2", "run3", "run4"):
        small = scan(next((meta / run / "4").glob("events-size-4-*.json")))
        big = scan(next((meta / run / "16").glob("events-size-16-*.json")))
        cycle = big["reg_first"] - small["last"]
        cycles.append(cycle)
        spread = big["reg_last"] - big["reg_first"]
        delay = big["capture"] - big["reg_first"]
        when = datetime.fromtimestamp(small["last"], UTC).isoformat(timespec="seconds")
        sys.stdout.write(f"{run}: teardown(4) + create(16) = {cycle:.0f} s (from {when}); "
                         f"16 nodes registered within {spread:.0f} s; exporter "
                         f"{delay:.0f} s after\n")
    for inv in sorted(meta.glob("run*/*/nodes-*.json")):
        items = json.loads(inv.read_text())["items"]
        created = [_ts(i["metadata"]["creationTimestamp"]) for i in items]
        ready = [_ts(c["lastTransitionTime"]) for i in items for c in i["status"]["conditions"]
                 if c["type"] == "Ready"]
        sys.stdout.write(f"{inv.parent.parent.name} inventory: {len(items)} nodes created within "
                         f"{max(created) - min(created):.0f} s, Ready "
                         f"{max(ready) - max(created):.0f} s after the last\n")
    median = statistics.median(cycles)
    declared = float(table()["seed_fit"]["gke_cycle_4_to_16_s"])
    modelled = phase("gke", "create").seconds(16) + phase("gke", "teardown").seconds(4)
    sys.stdout.write(f"median cycle {median:.0f} s; table {declared:.0f} s; "
                     f"model create(16) + teardown(4) = {modelled:.0f} s\n")
    bad = []
    if abs(median - declared) > TOLERANCE_S:
        bad.append(f"seed_fit.gke_cycle_4_to_16_s is {declared:g}, the seed gives {median:.0f}")
    if abs(modelled - median) > TOLERANCE_S:
        bad.append(f"gke create(16) + teardown(4) is {modelled:.0f} s, the seed gives "
                   f"{median:.0f} s; refit gke.create.base_s")
    for line in bad:
        sys.stderr.write(f"drift: {line}\n")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
