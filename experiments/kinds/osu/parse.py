"""OSU micro-benchmark logs from the metrics-operator launcher, and the seed's `times.log`.

A launcher log holds a header (`Number of tasks total (across N nodes)`), a `METADATA START
{json}` line, then for each benchmark a `time mpirun ... osu_<name>` line, the OSU table and
bash `time` output. Tables come in several shapes (size/value rows, a single average, a header
without `#` for the non-blocking tests, free text for init/hello); all become tidy rows of
(benchmark, nodes, size_bytes, metric, value). A log cut short mid-benchmark (size-64 in the
seed) keeps the rows it has and a missing wall time.

`classify_scaling` states, in code, when a benchmark's wall time is flat, noisy or growing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from experiments.durations import parse_real_time
from experiments.parse_errors import BadInput

_TASKS = re.compile(r"Number of tasks total \(across (\d+) nodes\)")
_MPIRUN = re.compile(r"^time mpirun .*?-np (?P<np>\d+) .*?(?P<bench>osu_\w+)\s*$")
_REAL = re.compile(r"^real\s+(\S+)")
_SPLIT = re.compile(r"\s{2,}")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_INIT = re.compile(r"nprocs: (\d+), min: ([\d.]+) ms, max: ([\d.]+) ms, avg: ([\d.]+) ms")

WALL_COLUMNS = ["benchmark", "nodes", "np", "wall_seconds", "complete"]
METRIC_COLUMNS = ["benchmark", "nodes", "np", "size_bytes", "metric", "value"]


def metric_name(header: str) -> str:
    """`Latency (us)` -> `latency_us`, `Bandwidth (MB/s)` -> `bandwidth_mb_s`."""
    name = re.sub(r"[^0-9a-z]+", "_", header.lower().replace("%", "pct"))
    return name.strip("_")


@dataclass
class OsuLog:
    """One launcher log, parsed."""

    nodes: int | None = None
    metadata: dict = field(default_factory=dict)
    wall: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each: where, what, expected


def parse_osu_log(text: str, source: str | Path = "<log>") -> OsuLog:
    """Parse a metrics-operator OSU launcher log.

    It never raises: a line it cannot read is a problem recorded with its line number.
    """
    log = OsuLog()
    bench: str | None = None
    np_ = 0
    columns: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if log.nodes is None and (tasks := _TASKS.search(line)):
            log.nodes = int(tasks.group(1))
            continue
        if line.startswith("METADATA START "):
            try:
                metadata = json.loads(line[len("METADATA START "):])
            except ValueError:
                metadata = None
            if isinstance(metadata, dict):
                log.metadata = metadata
            else:
                log.problems.append(str(BadInput(f"{source}:{number}", line,
                                                 "METADATA START {json object}")))
            continue
        if mpirun := _MPIRUN.match(line):
            if bench is not None:
                log.wall.append(_wall(bench, log.nodes, np_, None))
            bench, np_, columns = mpirun.group("bench"), int(mpirun.group("np")), []
            continue
        if bench is None:
            continue
        if real := _REAL.match(line):
            try:
                seconds: float | None = parse_real_time(real.group(1))
            except ValueError:
                log.problems.append(str(BadInput(f"{source}:{number}", line,
                                                 "bash time output like 'real\\t0m48.187s'")))
                seconds = None
            log.wall.append(_wall(bench, log.nodes, np_, seconds))
            bench = None
            continue
        _table_line(log, bench, np_, line, columns)
    if bench is not None:
        log.wall.append(_wall(bench, log.nodes, np_, None))
    return log


def _wall(bench: str, nodes: int | None, np_: int, seconds: float | None) -> dict:
    return {"benchmark": bench, "nodes": nodes, "np": np_, "wall_seconds": seconds,
            "complete": seconds is not None}


def _table_line(log: OsuLog, bench: str, np_: int, line: str, columns: list[str]) -> None:
    """Header lines set `columns` in place; value lines become metric rows."""
    stripped = line.strip()
    if not stripped or stripped.startswith(("user", "sys", "METRICS OPERATOR")):
        return
    if init := _INIT.search(stripped):
        for name, value in zip(("min_ms", "max_ms", "avg_ms"), init.groups()[1:], strict=True):
            log.metrics.append(_metric(bench, log.nodes, np_, None, name, float(value)))
        return
    body = stripped.lstrip("#").strip()
    cells = _SPLIT.split(body)
    if all(_NUMBER.fullmatch(c) for c in cells):
        if not stripped.startswith("#"):
            _value_row(log, bench, np_, [float(c) for c in cells], columns)
        return
    # Headers: "# Size  Latency (us)", "# Avg Latency(us)", and the non-blocking tests'
    # "Overall(us)  Compute(us) ..." without a leading '#'. Other '#' lines are prose.
    if stripped.startswith("#"):
        if not any(mark in body for mark in (":", "=", "[")) and not body.startswith("OSU"):
            columns[:] = [metric_name(c) for c in cells]
    elif all(c.endswith(")") for c in cells):
        columns[:] = [metric_name(c) for c in cells]


def _value_row(log: OsuLog, bench: str, np_: int, values: list[float], columns: list[str]) -> None:
    size = None
    names = columns
    if columns[:1] == ["size"]:
        if not math.isfinite(values[0]):
            return  # not a message size; nothing to attach the values to
        size, values, names = int(values[0]), values[1:], columns[1:]
    if len(names) != len(values):
        return  # a row whose header we did not see; the wall time still counts
    for name, value in zip(names, values, strict=True):
        log.metrics.append(_metric(bench, log.nodes, np_, size, name, value))


def _metric(bench: str, nodes: int | None, np_: int, size: int | None, name: str,
            value: float) -> dict:
    return {"benchmark": bench, "nodes": nodes, "np": np_, "size_bytes": size, "metric": name,
            "value": value}


def osu_tables(paths: list[Path], problems: list[str] | None = None,
               steps: Mapping[Path, str | None] | None = None):
    """(wall, metrics, metadata) DataFrames of many launcher logs.

    A log's problems (and a log without its node count, which is left out) are appended to
    `problems` when given. With `steps` (each log's harness step), wall and metrics end with a
    column `step` saying which step each row came from.
    """
    import pandas as pd

    wall, metrics, meta = [], [], []
    for path in sorted(paths):
        log = parse_osu_log(path.read_text(errors="replace"), path)
        if problems is not None:
            problems += log.problems
        if log.nodes is None:
            if problems is None:
                raise BadInput(path, "no 'Number of tasks total (across N nodes)' line",
                               "a metrics-operator OSU launcher log")
            problems.append(f"{path}: no 'Number of tasks total (across N nodes)' line, so its "
                            "node count is unknown; left out")
            continue
        if steps is not None:
            for row in (*log.wall, *log.metrics):
                row["step"] = steps.get(path)
        wall.extend(log.wall)
        metrics.extend(log.metrics)
        meta.append({"nodes": log.nodes, "source": path.name, "metadata": json.dumps(log.metadata)})
    extra = ["step"] if steps is not None else []
    wall_df = pd.DataFrame(wall, columns=[*WALL_COLUMNS, *extra])
    metrics_df = pd.DataFrame(metrics, columns=[*METRIC_COLUMNS, *extra])
    for df in (wall_df, metrics_df):
        df["nodes"] = pd.to_numeric(df["nodes"]).astype("Int64")
        df["np"] = pd.to_numeric(df["np"]).astype("Int64")
    wall_df["wall_seconds"] = pd.to_numeric(wall_df["wall_seconds"]).astype("float64")
    metrics_df["size_bytes"] = pd.to_numeric(metrics_df["size_bytes"]).astype("Int64")
    metrics_df["value"] = pd.to_numeric(metrics_df["value"]).astype("float64")
    return wall_df, metrics_df, pd.DataFrame(meta, columns=["nodes", "source", "metadata"])


def read_times_log(path: Path, problems: list[str] | None = None):
    """The seed's hand-assembled `times.log` (`METRIC,TIME_SECONDS,SIZE_NODES`).

    An empty file or another header is a one-line error; a row whose time or node count is not
    a number is left out and said in `problems` (when given), with its line number.
    """
    import pandas as pd

    expected = ["METRIC", "TIME_SECONDS", "SIZE_NODES"]
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise BadInput(path, "an empty file", f"a CSV table with the header {','.join(expected)}"
                       ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise BadInput(path, str(exc).splitlines()[0], f"a CSV table ({','.join(expected)})"
                       ) from None
    if list(df.columns) != expected:
        where = f"{path} (header)"
        raise BadInput(where, ",".join(map(str, df.columns)), ",".join(expected))
    seconds = pd.to_numeric(df["TIME_SECONDS"], errors="coerce")
    nodes = pd.to_numeric(df["SIZE_NODES"], errors="coerce")
    whole = nodes.notna() & (nodes == nodes.round()) & (nodes > 0)
    good = seconds.notna() & whole
    for index in df.index[~good]:
        if problems is not None:
            row = ",".join(df.loc[index, expected])
            problems.append(str(BadInput(f"{path}:{index + 2}", row,
                                         "METRIC,<seconds>,<node count>; row left out")))
    df, seconds, nodes = df[good], seconds[good], nodes[good]
    out = pd.DataFrame({
        "benchmark": df["METRIC"],
        "nodes": nodes.astype("Int64"),
        "wall_seconds": seconds.astype("float64"),
        # Kept as written: "2776" was truncated by hand from 46m16.204s, so equality with a
        # parsed time only holds at the precision the file records.
        "decimals": [len(v.split(".", 1)[1]) if "." in v else 0 for v in df["TIME_SECONDS"]],
    })
    return out.reset_index(drop=True)


# --- Scaling classes -------------------------------------------------------------------------
# Wall time t against node count n is fitted as log2 t = a + b log2 n (least squares). Then:
#   flat:        the whole range stays within FLAT_RATIO (max/min), whatever the fit says;
#   superlinear: b > SUPERLINEAR_SLOPE and the fit explains the data (r^2 >= TREND_R2);
#   growing:     b > 0 and the fit explains the data (up to about linear);
#   noisy:       anything else - it moves, but not along a trend in n.
# Point-to-point tests run on 2 ranks whatever the cluster size, so they should be flat; a
# collective that is superlinear is the one that will not survive a larger cluster.
FLAT_RATIO = 1.5
SUPERLINEAR_SLOPE = 1.1
TREND_R2 = 0.9
SCALING_RULE = (
    f"flat: max/min wall time <= {FLAT_RATIO}; else fit log2(t) = a + b*log2(nodes): "
    f"superlinear if b > {SUPERLINEAR_SLOPE} and r^2 >= {TREND_R2}; "
    f"growing if b > 0 and r^2 >= {TREND_R2}; noisy otherwise"
)


def classify_scaling(nodes: list[float], seconds: list[float]) -> tuple[str, float, float]:
    """(class, slope b, r^2) of one benchmark's wall times; see `SCALING_RULE`."""
    from scipy import stats

    pairs = [(n, t) for n, t in zip(nodes, seconds, strict=True)
             if t is not None and not math.isnan(t) and t > 0]
    if len(pairs) < 3 or len({n for n, _ in pairs}) < 3:
        return "insufficient", math.nan, math.nan
    times = [t for _, t in pairs]
    fit = stats.linregress([math.log2(n) for n, _ in pairs], [math.log2(t) for t in times])
    r2 = fit.rvalue ** 2
    if max(times) / min(times) <= FLAT_RATIO:
        return "flat", fit.slope, r2
    if r2 >= TREND_R2 and fit.slope > SUPERLINEAR_SLOPE:
        return "superlinear", fit.slope, r2
    if r2 >= TREND_R2 and fit.slope > 0:
        return "growing", fit.slope, r2
    return "noisy", fit.slope, r2


def scaling_table(wall):
    """One row per benchmark: its class, fitted slope, r^2 and the node counts it covers."""
    import pandas as pd

    rows = []
    for bench, group in wall.dropna(subset=["wall_seconds"]).groupby("benchmark"):
        group = group.sort_values("nodes")
        cls, slope, r2 = classify_scaling(group["nodes"].astype(float).tolist(),
                                          group["wall_seconds"].tolist())
        rows.append({"benchmark": bench, "class": cls, "slope": slope, "r2": r2,
                     "nodes": ",".join(str(n) for n in group["nodes"]),
                     "min_seconds": group["wall_seconds"].min(),
                     "max_seconds": group["wall_seconds"].max()})
    return pd.DataFrame(rows, columns=["benchmark", "class", "slope", "r2", "nodes",
                                       "min_seconds", "max_seconds"])
