"""What a run directory holds, whichever layout wrote it.

Two layouts are read:

* the harness's: `results/<stack>/<run-id>/` with `provenance.json`, `events.jsonl`,
  `nodes.json`, `steps.json` and `steps/<step>/log.txt`;
* the seed studies' raw trees: a directory of `events-size-N-*.json` (+ `nodes-N-*.json`,
  `logs/*.log`), a tree of `<nodes>/<topo>/<iter>/topology-experiment.out`, or a directory of
  OSU `size-N.log` files (+ `times.log`);
* event streams as users have them: an event file of any name given directly, or a directory of
  JSON-lines event files of any name (recognised by content, not by name).

`RunDir.open` only finds files and reads the small JSON documents; parsing the bulky data is
`analysis.load`'s job, through each kind's parser. A harness step's kind is what its recorder
wrote in the step's status (`steps.json`, `steps/<step>/status.json`); only the seed studies'
raw trees, which record none, have their logs classified by content (`sniff_log`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import AnalysisError, BadInput

_EVENTS_SIZE = re.compile(r"events-size-(\d+)-")
_OSU_SIZE = re.compile(r"size-(\d+)\.log$")
_SNIFF_BYTES = 1 << 20
_SNIFF_EVENTS_BYTES = 64 << 10  # the first events follow the exporter's few log lines


@dataclass
class StepLog:
    """A step's log with what steps.json says about it."""

    path: Path
    kind: str  # the experiment kind that wrote it (experiments.registry)
    step: str = ""
    params: dict = field(default_factory=dict)


@dataclass
class RunDir:
    """The files of one run and the small documents describing it."""

    path: Path
    label: str
    layout: str  # harness | seed
    stack: str | None = None
    nodes: int | None = None
    provenance: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    node_list: list[dict] = field(default_factory=list)  # items of `kubectl get nodes -o json`
    event_files: list[Path] = field(default_factory=list)
    logs: list[StepLog] = field(default_factory=list)
    osu_times: Path | None = None
    # Where `nodes` came from: inventory | file name | inferred | --nodes ("" when unknown)
    nodes_source: str = ""
    notes: list[str] = field(default_factory=list)  # what was found but not read, and why

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Detect the layout of `path`; raises AnalysisError when it holds no run data."""
        root = Path(path)
        if root.is_file():
            return cls._open_file(root)
        if not root.is_dir():
            msg = (f"{root}: no such file or directory; pass a run directory "
                   "(results/<stack>/<run-id>/ or a seed data directory) or an event file")
            raise AnalysisError(msg)
        if (root / "provenance.json").is_file():
            run = cls._open_harness(root)
        else:
            run = cls._open_seed(root)
        if not (run.event_files or run.logs or run.osu_times):
            msg = (f"{root}: no run data found; expected provenance.json + events.jsonl, "
                   "events-size-N-*.json, topology-experiment.out, size-N.log or logs/*.log")
            raise AnalysisError(_uncollected(root) or msg)
        return run

    @property
    def kinds(self) -> list[str]:
        """Which kinds of data the run has: pulls, topology, osu, app."""
        from experiments.registry import get_kind

        found = ["pulls"] if self.event_files else []
        found += sorted({get_kind(log.kind).data for log in self.logs})  # type: ignore[attr-defined]
        if self.osu_times and "osu" not in found:
            found.append("osu")
        return found

    def outputs_by_kind(self) -> dict[str, list]:
        """Experiment kind -> its steps' outputs (`experiments.base.StepOutput`), run order."""
        from experiments.base import StepOutput

        seed = self.layout == "seed"
        out: dict[str, list] = {}
        for log in self.logs:
            out.setdefault(log.kind, []).append(StepOutput(log.path, log.step, log.params, seed))
        if self.osu_times:  # the seed's hand-assembled OSU wall times
            out.setdefault("osu", []).append(StepOutput(self.osu_times, "times.log", {}, True))
        return out

    # --- harness layout ---------------------------------------------------------------------
    @classmethod
    def _open_harness(cls, root: Path) -> RunDir:
        provenance = _read_json(root / "provenance.json", dict)
        stack = provenance.get("stack")
        run = cls(path=root, label=str(provenance.get("run_id") or root.name), layout="study",
                  stack=str(stack) if stack else None, provenance=provenance)
        if (root / "events.jsonl").is_file():
            run.event_files = [root / "events.jsonl"]
        if (root / "nodes.json").is_file():
            run.node_list = _node_items(root / "nodes.json")
        if (root / "steps.json").is_file():
            run.steps = _read_json(root / "steps.json", list)
        by_name = {str(s.get("step")): s for s in run.steps if isinstance(s, dict)}
        for log in sorted(root.glob("steps/*/log.txt")):
            info = by_name.get(log.parent.name) or _step_status(log.parent)
            kind = recorded_kind(info, log)
            if _unknown_kind(info):
                run.notes.append(f"{log}: its step recorded kind '{info['kind']}', which no "
                                 "registered experiment kind is; not read")
            if kind and log.is_file():
                params = info.get("params")
                run.logs.append(StepLog(log, kind, log.parent.name,
                                        params if isinstance(params, dict) else {}))
        config = provenance.get("stack_config")
        nodes = config.get("nodes") if isinstance(config, dict) else None
        if run.node_list:
            run.nodes, run.nodes_source = len(run.node_list), "inventory"
        elif isinstance(nodes, int) and not isinstance(nodes, bool):
            run.nodes, run.nodes_source = nodes, "stack config"
        return run

    # --- event files given as they are -----------------------------------------------------
    @classmethod
    def _open_file(cls, path: Path) -> RunDir:
        """One event file of any name: the run is what it holds."""
        if sniff_log(path) is not None:
            msg = (f"{path}: a step log, not an event file; pass the directory that holds it "
                   "(topology, OSU and app logs are read from their run directory)")
            raise AnalysisError(msg)
        if path.stat().st_size and not is_event_stream(path):
            msg = (f"{path}: not an event file (no Kubernetes Event in its first 64 KB); pass "
                   "JSON lines of core/v1 Events, or the run directory that holds this file")
            raise AnalysisError(msg)
        run = cls(path=path, label=path.stem or path.name, layout="file", event_files=[path])
        _nodes_from_names(run)
        return run

    # --- seed layouts -----------------------------------------------------------------------
    @classmethod
    def _open_seed(cls, root: Path) -> RunDir:
        run = cls(path=root, label=_seed_label(root), layout="seed")
        named = sorted(root.glob("events-*.json")) + sorted(root.glob("events*.jsonl"))
        for path in named:
            if not path.is_file():
                run.notes.append(f"{path}: a directory named like an event file; skipped "
                                 "(pass it as a run directory to read what it holds)")
        run.event_files = [p for p in named if p.is_file()]
        run.event_files += [p for p in sorted(root.iterdir())
                            if p not in named and p.is_file() and is_event_stream(p)]
        nodes_files = sorted(root.glob("nodes-*.json"))
        if nodes_files:
            run.node_list = _node_items(nodes_files[-1])
        if run.node_list:
            run.nodes, run.nodes_source = len(run.node_list), "inventory"
        else:
            _nodes_from_names(run)
            if run.nodes is None and run.event_files and _is_count(root.name):
                run.nodes, run.nodes_source = int(root.name), "directory name"
        for log in sorted(p for p in root.rglob("topology-experiment.out") if p.is_file()):
            run.logs.append(StepLog(log, "topology"))
        for log in sorted(root.glob("size-*.log"), key=_osu_size):
            if log.is_file() and sniff_log(log) == "osu":
                run.logs.append(StepLog(log, "osu"))
        for log in sorted(root.glob("logs/*.log")) + sorted(root.glob("*.log")):
            if log.name.startswith("size-") or log.name == "times.log":
                continue
            if log.is_file() and sniff_log(log) == "apps":
                run.logs.append(StepLog(log, "apps"))
        if (root / "times.log").is_file():
            run.osu_times = root / "times.log"
        return run

    # --- what compare needs -----------------------------------------------------------------
    def node_labels(self) -> dict[str, dict[str, str]]:
        """Node name -> labels, from nodes.json."""
        return {
            str(meta.get("name")): dict(meta.get("labels") or {})
            for meta in (item.get("metadata") or {} for item in self.node_list)
        }

    def studied_images(self) -> frozenset[str] | None:
        """Images the experiment definition names (keys `image`/`images`), if it names any."""
        experiment = self.provenance.get("experiment")
        found: set[str] = set()
        _collect_images(experiment, found)
        return frozenset(found) if found else None


def is_event_stream(path: Path) -> bool:
    """Whether a file of any name holds Kubernetes Events as JSON lines (or a JSON array)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_EVENTS_BYTES)
    except OSError:
        return False
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return head[:1] in (b"{", b"[") and b'"involvedObject"' in head


def _nodes_from_names(run: RunDir) -> None:
    """The seed's `events-size-N-*` names say the cluster size when no inventory does."""
    sizes = {int(m.group(1)) for f in run.event_files if (m := _EVENTS_SIZE.search(f.name))}
    if len(sizes) == 1:
        run.nodes, run.nodes_source = sizes.pop(), "file name"


def recorded_kind(status: dict, log: Path) -> str | None:
    """The kind the step's recorder wrote, if analysis parses that kind's output (else None).

    A kind no longer registered (a run of a plugin this checkout lacks) is left out, not
    guessed from the log's bytes; so is the pre-pull step, which records the study's kind but
    is the harness's own (it pulls helper images, it measures nothing).
    """
    from experiments.pernode import PREPULL_STEP
    from experiments.registry import results_kinds

    if log.parent.name == PREPULL_STEP:
        return None
    kind = status.get("kind") if isinstance(status, dict) else None
    parsed = {k.name for k in results_kinds()}
    return kind if isinstance(kind, str) and kind in parsed else None


def _unknown_kind(status: dict) -> bool:
    from experiments.registry import known_kinds

    kind = status.get("kind") if isinstance(status, dict) else None
    return isinstance(kind, str) and bool(kind) and kind not in known_kinds()


def _step_status(step_dir: Path) -> dict:
    """`steps/<step>/status.json` when steps.json has no row for the step."""
    try:
        data = json.loads((step_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def sniff_log(path: Path) -> str | None:
    """The kind of a seed study's raw log (`topology`, `osu` or `apps`) from its content.

    Only for the seed layouts, which record no kind; None for logs we do not parse."""
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if b"TOPOLOGY description" in head or b"STUDY_TIMING " in head:
        return "topology"
    if b"METRICS OPERATOR COLLECTION START" in head or b"time mpirun" in head and b"osu_" in head:
        return "osu"
    if b"FLUXTIME " in head:
        return "apps"
    return None


def _collect_images(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("image", "images"):
                values = value if isinstance(value, list) else [value]
                found.update(v for v in values if isinstance(v, str))
            else:
                _collect_images(value, found)
    elif isinstance(node, list):
        for item in node:
            _collect_images(item, found)


def _uncollected(root: Path) -> str | None:
    """Why a harness run directory holds no data, from its run-state.json (if any)."""
    try:
        state = json.loads((root / "run-state.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not state.get("status"):
        return None
    return (f"{root}: no run data: the run's status is '{state['status']}' and nothing was "
            "collected (run-state.json only)")


def _seed_label(root: Path) -> str:
    """`run1/16` -> `run1-16`; other directories keep their name."""
    if root.name.isdigit() and root.parent.name:
        return f"{root.parent.name}-{root.name}"
    return root.name


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdecimal()


def _osu_size(path: Path) -> int:
    match = _OSU_SIZE.search(path.name)
    return int(match.group(1)) if match else 0


def _read_json(path: Path, kind: type):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read JSON ({exc}); the collector writes it as a JSON document"
        raise AnalysisError(msg) from None
    if not isinstance(data, kind):
        raise BadInput(path, type(data).__name__, f"a JSON {'object' if kind is dict else 'list'}")
    return data


def _node_items(path: Path) -> list[dict]:
    data = _read_json(path, dict)
    items = data.get("items")
    if not isinstance(items, list):
        where = f"{path} (items)"
        raise BadInput(where, items, "the v1 List that `kubectl get nodes -o json` writes")
    return [i for i in items if isinstance(i, dict)]
