"""Event ingest throughput and peak memory on a generated ~1 GB event stream.

    .venv/bin/python benchmarks/bench_event_ingest.py [--size-mb 1024] [--keep DIR]

The stream is built from the real event lines in tests/fixtures/seed (kubelet pull events,
node registrations with their labels, exporter log lines, a torn line now and then): each
cycle re-emits every template line with fresh event and pod uids and names, so every cycle adds
real pulls rather than duplicates. The ingest (events -> tidy pull table) then runs in a child
process so its peak RSS is its own. Targets: >= 150 MB/s and peak RSS <= 0.5 x input size.
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
# The 139-byte false-start file is left out: its one line is not an event shape.
TEMPLATES = [p for p in sorted((ROOT / "tests/fixtures/seed/pulling").glob("*/*/events-*.json"))
             if p.stat().st_size > 1000]
TORN_EVERY = 500  # cycles between torn (malformed) lines, as a lost terminal would leave

CHILD = """
import json, resource, sys, time
from analysis.events import ingest_files, pull_table
start = time.perf_counter()
ingest = ingest_files([sys.argv[1]])
table = pull_table(ingest, "bench", None)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "peak_bytes": peak, "rows": len(table),
                  "stats": dict(ingest.stats)}))
"""


def templates() -> list[dict | bytes]:
    """Template events (dicts) and non-event lines (bytes) from the real fixtures."""
    lines: list[dict | bytes] = []
    for path in TEMPLATES:
        for raw in path.read_bytes().split(b"\n"):
            if not raw.strip():
                continue
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                lines.append(raw)
    return lines


def generate(target: Path, size_bytes: int) -> int:
    """Write cycles of re-identified template events until the file reaches size_bytes."""
    lines = templates()
    written = 0
    cycle = 0
    with open(target, "wb", buffering=1 << 22) as fh:
        while written < size_bytes:
            out = []
            for item in lines:
                if isinstance(item, bytes):
                    out.append(item)
                    continue
                event = item
                if "metadata" in event and "involvedObject" in event:
                    event = dict(item)
                    meta = dict(item["metadata"])
                    meta["uid"] = f"{meta.get('uid', '')[:23]}-{cycle:012x}"
                    event["metadata"] = meta
                    obj = dict(item["involvedObject"])
                    if obj.get("kind") == "Pod":
                        obj["uid"] = f"{obj.get('uid', '')[:23]}-{cycle:012x}"
                        obj["name"] = f"{obj.get('name', '')}-c{cycle}"
                    event["involvedObject"] = obj
                out.append(orjson.dumps(event))
            if cycle % TORN_EVERY == 0:
                out.append(out[-1][: len(out[-1]) // 2])
            chunk = b"\n".join(out) + b"\n"
            fh.write(chunk)
            written += len(chunk)
            cycle += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="input size in MB (1e6 bytes)")
    parser.add_argument("--keep", type=Path, help="write the input here and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        target = (args.keep or Path(tmp)) / "events.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        size = generate(target, args.size_mb * 1_000_000)
        gen_s = time.perf_counter() - t0
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-c", CHILD, str(target)], capture_output=True,
                              text=True, env=env, check=True)
        result = json.loads(proc.stdout)
        child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    mb_s = size / result["seconds"] / 1e6
    peak = max(result["peak_bytes"], child_peak)
    report = {
        "input_mb": round(size / 1e6, 1),
        "generate_seconds": round(gen_s, 1),
        "ingest_seconds": round(result["seconds"], 2),
        "throughput_mb_s": round(mb_s, 1),
        "peak_rss_mb": round(peak / 1e6, 1),
        "peak_over_input": round(peak / size, 3),
        "pull_rows": result["rows"],
        "counters": result["stats"],
        "targets_met": mb_s >= 150 and peak <= 0.5 * size,
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
