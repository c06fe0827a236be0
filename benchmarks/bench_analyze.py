"""Whole `study analyze` on a ~230 MB kubelet event stream, against a json.loads yardstick.

    .venv/bin/python benchmarks/bench_analyze.py [SEED_DIR] [--size-mb 230] [--repeat 3]

The stream is the seed's pulling event files (SEED_DIR/pulling/.../events-*.json, default
../shared/data/operator-experiments next to the repository, else tests/fixtures/seed)
concatenated until it reaches the size: real lines, as a user who cats their runs together
would have them. Three things run side by side, each in its own process, `--repeat` times in
turn (the best of each is kept: other jobs on a shared machine only ever add time):

* the yardstick: a plain `json.loads` of every line of the file, nothing else;
* the ingest alone: `analysis.events.ingest_files`, then `pull_table` timed apart;
* the whole `study analyze FILE --out DIR`: interpreter start, imports, ingest, every table
  (Parquet + CSV) and every figure (PNG + SVG), as a user runs it.

Peak memory is sampled from /proc every 5 ms, of the analyze process and its workers together,
three ways: PSS (shared pages split between the processes mapping them), RSS (every page
touched: what the process needs alone, whoever else maps its libraries) and anonymous (heap,
no library text). Beside it, the floor that merely importing the libraries analyze uses takes
(pandas, which imports pyarrow, pyarrow.parquet and matplotlib), since only what lies above it
grows with the input: on its own that floor is about 0.6x the 230 MB input (RSS), above the
0.5x target, before a byte is read.
Wall and CPU seconds are both reported: on a machine shared with other jobs, wall time also
counts waiting for a core. The ingest is the pass over the events (`ingest_files`); building
the pull table (which imports pandas) is reported on its own. Targets: analyze <= 2x the
yardstick, ingest <= 0.5x, peak memory <= 0.5x the input. Not a test: the numbers depend on
the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / ".venv" / "bin" / "study"

YARDSTICK = """
import json, sys, time
start = time.perf_counter()
with open(sys.argv[1], "rb") as fh:
    for line in fh:
        try:
            json.loads(line)
        except ValueError:
            pass
print(json.dumps({"seconds": time.perf_counter() - start}))
"""
INGEST = """
import json, sys, time
start = time.perf_counter()
from analysis.events import ingest_files, pull_table
ingest = ingest_files([sys.argv[1]])
middle = time.perf_counter()
table = pull_table(ingest, "bench", None, release=True)  # imports pandas
print(json.dumps({"seconds": middle - start, "table_seconds": time.perf_counter() - middle,
                  "rows": len(table)}))
"""
# What `study analyze` imports (checked with sys.modules after a run), before any data: the
# floor of its memory. scipy is not among them: only compare and report need it.
FLOOR = "import study.cli, pandas, pyarrow.parquet, matplotlib.pyplot, orjson"


def seed_event_files(seed: Path) -> list[Path]:
    files = sorted(seed.glob("pulling/**/events-*.json"))
    if not files:
        msg = f"{seed}: no pulling/**/events-*.json; pass the seed data directory"
        raise SystemExit(msg)
    return files


def build_stream(files: list[Path], target: Path, size_bytes: int) -> int:
    """Concatenate the files, whole, until the stream reaches size_bytes."""
    written = 0
    with open(target, "wb") as out:
        while written < size_bytes:
            for path in files:
                data = path.read_bytes()
                data = data if data.endswith(b"\n") else data + b"\n"
                out.write(data)
                written += len(data)
                if written >= size_bytes:
                    break
    return written


MEMORY_KEYS = ("Pss", "Rss", "Anonymous")


def _tree_memory(pid: int) -> dict[str, int]:
    """Pss, Rss and Anonymous bytes of a process and its children, from /proc (Linux 4.14+).

    PSS splits each shared page between the processes sharing it, so forked workers (which
    share the parent's libraries copy-on-write) are not counted twice, as summed RSS would;
    but it also splits library pages with unrelated processes that map the same files (other
    jobs' interpreters on a shared machine), so it falls as the machine gets busier. RSS of
    the main process counts every page it touched whoever else maps it: the memory it would
    need alone. Anonymous is the heap, stacks and copy-on-write copies, no library text.
    """
    total = dict.fromkeys(MEMORY_KEYS, 0)
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                key = line.split(":", 1)[0]
                if key in total:
                    total[key] += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, dict[str, int], str]:
    """(wall seconds, CPU seconds, peak tree memory by kind, stdout) of one child process and
    its workers.

    CPU seconds are what the process tree used; on a machine shared with other jobs they
    say more than wall time, which also counts the time spent waiting for a core.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peak = dict.fromkeys(MEMORY_KEYS, 0)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for key, value in _tree_memory(proc.pid).items():
                peak[key] = max(peak[key], value)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode:
        msg = f"{' '.join(cmd[:3])}... failed ({proc.returncode}): {err.strip()[-500:]}"
        raise SystemExit(msg)
    return seconds, _children_cpu() - cpu, peak, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_seed = ROOT.parent / "shared" / "data" / "operator-experiments"
    parser.add_argument("seed", nargs="?", type=Path,
                        default=default_seed if default_seed.is_dir() else ROOT / "tests" /
                        "fixtures" / "seed")
    parser.add_argument("--size-mb", type=int, default=230, help="stream size in MB (1e6 B)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stream = Path(tmp) / "events-all.jsonl"
        size = build_stream(seed_event_files(args.seed), stream, args.size_mb * 1_000_000)
        python = sys.executable
        runs: dict[str, list[tuple[float, float, dict[str, int]]]] = {"yardstick": [], "ingest": [],
                                                           "analyze": []}
        table_seconds: list[float] = []
        floor = timed([python, "-c", FLOOR])[2]
        for i in range(args.repeat):
            _, cpu, peak, out = timed([python, "-c", YARDSTICK, str(stream)])
            runs["yardstick"].append((json.loads(out)["seconds"], cpu, peak))
            _, cpu, peak, out = timed([python, "-c", INGEST, str(stream)])
            runs["ingest"].append((json.loads(out)["seconds"], cpu, peak))
            table_seconds.append(json.loads(out)["table_seconds"])
            wall, cpu, peak, _ = timed([str(STUDY), "analyze", str(stream), "--out",
                                        str(Path(tmp) / f"out-{i}")])
            runs["analyze"].append((wall, cpu, peak))
        figures = sorted(p.name for p in (Path(tmp) / "out-0" / "figures").glob("*.png"))
    wall = {k: min(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: min(r[1] for r in v) for k, v in runs.items()}
    peak = {key: max(r[2][key] for r in runs["analyze"]) for key in MEMORY_KEYS}
    report = {
        "input_mb": round(size / 1e6, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other jobs skew wall time
        "wall_seconds": {k: round(v, 2) for k, v in wall.items()},
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "analyze_over_yardstick": {"wall": round(wall["analyze"] / wall["yardstick"], 2),
                                   "cpu": round(cpu["analyze"] / cpu["yardstick"], 2)},
        "ingest_over_yardstick": {"wall": round(wall["ingest"] / wall["yardstick"], 2),
                                  "cpu": round(cpu["ingest"] / cpu["yardstick"], 2)},
        "pull_table_seconds": round(min(table_seconds), 2),
        "analyze_peak_mb": {key: round(v / 1e6, 1) for key, v in peak.items()},
        "peak_over_input": {key: round(v / size, 3) for key, v in peak.items()},
        "library_floor_mb": {key: round(v / 1e6, 1) for key, v in floor.items()},
        "floor_over_input": {key: round(v / size, 3) for key, v in floor.items()},
        "peak_above_floor_over_input": {key: round((peak[key] - floor[key]) / size, 3)
                                        for key in MEMORY_KEYS},
        "every_run_wall_cpu": {k: " ".join(f"{r[0]:.2f}/{r[1]:.2f}" for r in v)
                               for k, v in runs.items()},
        "figures": figures,
        "targets_met_wall": {"analyze<=2x": wall["analyze"] <= 2 * wall["yardstick"],
                             "ingest<=0.5x": wall["ingest"] <= 0.5 * wall["yardstick"],
                             "peak<=0.5x input (PSS)": peak["Pss"] <= 0.5 * size,
                             "peak<=0.5x input (RSS)": peak["Rss"] <= 0.5 * size},
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
