"""Runs against a baseline: every metric they share, with the statistics of `analysis.stats`.

Metrics are (metric, key) pairs with one value per observation: pull seconds per image, topology
step seconds per design/event/size, OSU wall seconds per benchmark and node count, app wall
times and figures of merit. OSU per-message-size values are single observations per run and are
left to the figures. Runs of different experiment definitions are refused unless forced; the
stacks' configuration differences are reported beside the numbers because they are the
explanation of any difference.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from analysis.errors import AnalysisError, ExperimentMismatch
from analysis.stats import compare_samples

if TYPE_CHECKING:
    import pandas as pd

COMPARE_COLUMNS = [
    "run", "metric", "key", "n_a", "median_a", "ci_low_a", "ci_high_a", "n_b", "median_b",
    "ci_low_b", "ci_high_b", "ratio", "p_value", "effect_size",
]


def observations(data):
    """Long table (metric, key, value) of one run's comparable observations."""
    import pandas as pd

    frames = []
    pulls = data.table("pulls")
    if not pulls.empty:
        fresh = pulls[(pulls["role"] == "studied") & (pulls["cached"] == False)]  # noqa: E712
        for metric in ("pull_seconds", "time_to_started_seconds"):
            frames.append(pd.DataFrame({"metric": metric, "key": fresh["image"],
                                        "value": fresh[metric]}))
    topo = data.table("topology")
    if not topo.empty:
        key = (topo["event"] + " size_gb=" + topo["size_gb"].astype(str) + " "
               + topo["uid"].astype(str))
        frames.append(pd.DataFrame({"metric": "topology_seconds", "key": key,
                                    "value": topo["time_seconds"]}))
    wall = data.table("osu_wall")
    if not wall.empty:
        key = wall["benchmark"] + " nodes=" + wall["nodes"].astype(str)
        frames.append(pd.DataFrame({"metric": "osu_wall_seconds", "key": key,
                                    "value": wall["wall_seconds"]}))
    times = data.table("app_times")
    if not times.empty:
        frames.append(pd.DataFrame({"metric": "app_seconds",
                                    "key": times["app"] + " " + times["kind"],
                                    "value": times["seconds"]}))
    fom = data.table("app_fom")
    if not fom.empty:
        frames.append(pd.DataFrame({"metric": "app_fom", "key": fom["app"] + " " + fom["metric"],
                                    "value": fom["value"]}))
    if not frames:
        return pd.DataFrame(columns=["metric", "key", "value"])
    obs = pd.concat(frames, ignore_index=True)
    return obs.dropna(subset=["value"])


def flatten(doc: object, prefix: str = "") -> dict[str, object]:
    """`{"a": {"b": 1}}` -> `{"a.b": 1}`; lists stay values."""
    if not isinstance(doc, dict):
        return {prefix: doc} if prefix else {}
    flat: dict[str, object] = {}
    for key, value in doc.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def differences(docs: dict[str, dict]) -> dict[str, dict[str, object]]:
    """Keys whose values differ between documents: key -> {run label: value or None}."""
    flat = {label: flatten(doc) for label, doc in docs.items()}
    keys = sorted(set().union(*flat.values())) if flat else []
    diff = {}
    for key in keys:
        values = {label: f.get(key) for label, f in flat.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            diff[key] = values
    return diff


@dataclass
class CompareResult:
    """What `study compare` prints."""

    runs: list[str]
    baseline: str
    rows: pd.DataFrame  # COMPARE_COLUMNS, one row per (run, metric, key) shared with the baseline
    experiment_differences: dict = field(default_factory=dict)
    config_differences: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        rows = self.rows.to_dict(orient="records")
        return {
            "runs": self.runs,
            "baseline": self.baseline,
            "experiment_match": not self.experiment_differences,
            "experiment_differences": self.experiment_differences,
            "config_differences": self.config_differences,
            "metrics": [{k: _json_value(v) for k, v in row.items()} for row in rows],
        }


def _json_value(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def compare_runs(datas, force: bool = False) -> CompareResult:
    """Compare runs 2..n with run 1 on every (metric, key) they share."""
    import pandas as pd

    labels = [d.label for d in datas]
    if len(datas) < 2:
        msg = "compare needs at least two run directories"
        raise AnalysisError(msg)
    if len(set(labels)) != len(labels):
        msg = f"run labels repeat ({', '.join(labels)}); pass distinct run directories"
        raise AnalysisError(msg)
    exp_diff = differences({d.label: d.experiment() for d in datas})
    if exp_diff and not force:
        keys = ", ".join(sorted(exp_diff))
        msg = (f"experiment definitions differ between {', '.join(labels)} (keys: {keys}); "
               "compare runs of one experiment, or pass --force")
        raise ExperimentMismatch(msg)
    configs = differences({d.label: d.stack_config() for d in datas})
    base = observations(datas[0])
    base_groups = {k: g["value"].to_numpy() for k, g in base.groupby(["metric", "key"])}
    rows = []
    for data in datas[1:]:
        other = observations(data)
        for (metric, key), group in other.groupby(["metric", "key"]):
            if (metric, key) not in base_groups:
                continue
            c = compare_samples(base_groups[(metric, key)], group["value"].to_numpy())
            rows.append([data.label, metric, key, c.a.n, c.a.median, c.a.ci_low, c.a.ci_high,
                         c.b.n, c.b.median, c.b.ci_low, c.b.ci_high, c.ratio, c.p_value,
                         c.effect_size])
    return CompareResult(runs=labels, baseline=labels[0],
                         rows=pd.DataFrame(rows, columns=COMPARE_COLUMNS),
                         experiment_differences=exp_diff, config_differences=configs)
