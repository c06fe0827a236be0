"""Flux topology experiment logs (`topology-experiment.out`) to step times and tree shapes.

The seed log has sections `NODES`, `TOPOLOGY diagram` (the `flux overlay status` tree),
`TOPOLOGY description`, then `EVENT <name>-<size>` each followed by bash `time` output, and
finally the rendered `SCRIPT entrypoint`, which echoes the same markers and must be ignored.
The harness's own step script (experiments/data/topology.sh) prints the same NODES and TOPOLOGY
sections, then one machine-readable line per timed event instead of `EVENT` + `time`:

    STUDY-TIMING {"event": "distribute-all-nodes", "design": "kary:2", "nodes": 6,
                  "size_bytes": 1000000000, "payload": "random", "occurrence": 1, "rc": 0,
                  "seconds": 2.269}

Both produce rows of `TOPOLOGY_COLUMNS`; `seconds` is always the event's wall time. An event
whose command failed (`rc` not 0) keeps its row with no time, and says so as a problem: a failed
distribution's seconds are not a distribution time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from experiments.durations import parse_real_time
from experiments.parse_errors import BadInput

TIMING_PREFIX = "STUDY-TIMING "
GB = 1_000_000_000  # the script's sizes are bytes of decimal GB, as the kind renders them
TOPOLOGY_COLUMNS = [
    "uid", "topology", "iteration", "nodes", "event", "size_gb", "time_seconds",
    "tree_depth", "max_fanout",
]
_EVENT = re.compile(r"EVENT (?P<name>\S+)-(?P<size>\d+)")
_REAL = re.compile(r"real\s+(\S+)")
_TREE_LINE = re.compile(r"^(?P<indent>[│ ]*)(?P<branch>[├└]─ )?(?P<rank>\d+) \S+?:")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class TopologyLog:
    """One parsed log: the cluster it ran on and the (event, size, seconds) it timed."""

    nodes: int | None = None
    description: str | None = None
    tree: list[tuple[int, int]] = field(default_factory=list)  # (rank, depth) in diagram order
    timings: list[tuple[str, int, float | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each: where, what, expected

    @property
    def depth(self) -> int | None:
        """Levels below the root (kary:1 on 6 nodes is 5; binomial on 30 is 4)."""
        return max(d for _, d in self.tree) if self.tree else None

    @property
    def max_fanout(self) -> int | None:
        """Most children of any broker in the overlay."""
        if not self.tree:
            return None
        children: dict[int, int] = {}
        stack: list[tuple[int, int]] = []  # (depth, rank) of the current ancestors
        for rank, depth in self.tree:
            while stack and stack[-1][0] >= depth:
                stack.pop()
            if stack:
                children[stack[-1][1]] = children.get(stack[-1][1], 0) + 1
            stack.append((depth, rank))
        return max(children.values(), default=0)


def parse_topology_log(text: str, source: str | Path = "<log>") -> TopologyLog:
    """Parse one log; a timed event without a `real` line gets None (the run was cut short).

    It never raises: a line it cannot read is a problem recorded with its line number, and
    the rest of the log still counts.
    """
    log = TopologyLog()
    lines = [_ANSI.sub("", line).rstrip("\r") for line in text.splitlines()]
    section = None
    pending: tuple[str, int] | None = None
    for number, line in enumerate(lines, start=1):
        if line == "SCRIPT entrypoint":
            break
        if line in ("NODES", "TOPOLOGY diagram", "TOPOLOGY description"):
            section = line
            continue
        if line.startswith(TIMING_PREFIX):
            try:
                timing, failed = _parse_timing_line(line, f"{source}:{number}")
            except BadInput as exc:
                log.problems.append(str(exc))
                continue
            log.timings.append(timing)
            if failed:
                log.problems.append(failed)
            continue
        event = _EVENT.fullmatch(line)
        if event:
            if pending:
                log.timings.append((*pending, None))
            pending = (event.group("name"), int(event.group("size")))
            section = "EVENT"
            continue
        if section == "NODES" and line.strip():
            if line.strip().isdecimal() and line.strip().isascii():
                log.nodes = int(line)
            else:
                log.problems.append(str(BadInput(f"{source}:{number} (NODES)", line,
                                                 "a node count")))
            section = None
        elif section == "TOPOLOGY diagram":
            node = _TREE_LINE.match(line)
            if node:
                # Each level indents by three columns ("│  " or "   ") before its "├─ ".
                depth = len(node.group("indent")) // 3 + (1 if node.group("branch") else 0)
                log.tree.append((int(node.group("rank")), depth))
        elif section == "TOPOLOGY description" and line.strip():
            log.description = line.strip()
            section = None
        elif section == "EVENT" and pending:
            real = _REAL.match(line)
            if real:
                try:
                    seconds: float | None = parse_real_time(real.group(1))
                except ValueError:
                    where = f"{source}:{number}"
                    allowed = "bash time output like 'real\\t0m9.090s'"
                    log.problems.append(str(BadInput(where, line, allowed)))
                    seconds = None
                log.timings.append((*pending, seconds))  # type: ignore[arg-type]
                pending = None
    if pending:
        log.timings.append((*pending, None))
    if section == "TOPOLOGY diagram":
        # The log stops inside the overlay tree: the shape seen so far is not the design's.
        log.problems.append(f"{source}: the log ends inside its TOPOLOGY diagram (after "
                            f"{len(log.tree)} broker line(s)); the run was cut short, so tree "
                            "depth and fan-out are unknown and no step was timed")
        log.tree = []
    return log


def _parse_timing_line(line: str, where: str
                       ) -> tuple[tuple[str, int, float | None], str | None]:
    """((event, whole GB, seconds or None), why it has no time or None) of one STUDY-TIMING
    line; BadInput if the line cannot be read. A failed event keeps its row without a time."""
    allowed = ('STUDY-TIMING {"event": str, "size_bytes": whole GB in bytes, "rc": int, '
               '"seconds": float}')
    try:
        data = json.loads(line[len(TIMING_PREFIX):])
        event, size_bytes, rc = str(data["event"]), int(data["size_bytes"]), int(data["rc"])
        seconds = float(data["seconds"])
    except (ValueError, KeyError, TypeError, OverflowError):
        raise BadInput(where, line, allowed) from None
    if size_bytes <= 0 or size_bytes % GB:
        raise BadInput(where, line, allowed)
    gb = size_bytes // GB
    if rc != 0:
        return (event, gb, None), (f"{where}: {event} at {gb} GB exited {rc}; its time is left "
                                   "out (a failed event is not timed)")
    return (event, gb, seconds), None


def topology_label(description: str | None) -> str | None:
    """`kary:2` -> `kary-2`, the spelling the seed uses in directory names and its csv."""
    return description.replace(":", "-") if description else None


def topology_rows(log: TopologyLog, topology: str | None, iteration: int | None,
                  nodes: int | None) -> list[dict]:
    """Rows of `TOPOLOGY_COLUMNS` for one log; directory context wins over the log's own lines."""
    topo = topology or topology_label(log.description)
    count = nodes if nodes is not None else log.nodes
    depth, fanout = log.depth, log.max_fanout
    return [
        {"uid": f"{topo}-{count}", "topology": topo, "iteration": iteration, "nodes": count,
         "event": name, "size_gb": size, "time_seconds": seconds,
         "tree_depth": depth, "max_fanout": fanout}
        for name, size, seconds in log.timings
    ]


def seed_context(path: Path) -> tuple[int | None, str | None, int | None]:
    """(nodes, topology, iteration) from the seed layout `<nodes>/<topo>/<iter>/<log>`."""
    parts = path.parts
    if len(parts) >= 4 and _count(parts[-4]) and _count(parts[-2]):
        return int(parts[-4]), parts[-3], int(parts[-2])
    return None, None, None


def _count(text: str) -> bool:
    return text.isascii() and text.isdecimal()


def topology_table(paths: list[Path]):
    """The topology table of many seed-layout logs (columns `TOPOLOGY_COLUMNS`)."""
    rows: list[dict] = []
    for path in sorted(paths):
        nodes, topo, iteration = seed_context(path)
        log = parse_topology_log(path.read_text(errors="replace"), path)
        rows.extend(topology_rows(log, topo, iteration, nodes))
    return frame(rows)


def frame(rows: list[dict]):
    """Typed DataFrame of topology rows."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=TOPOLOGY_COLUMNS)
    for col in ("iteration", "nodes", "size_gb", "tree_depth", "max_fanout"):
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    df["time_seconds"] = pd.to_numeric(df["time_seconds"]).astype("float64")
    return df
