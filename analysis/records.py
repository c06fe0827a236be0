"""One record type for every measurement: metric, value, unit and the labels that say whose.

A record is one observed value of a metric declared by a kind (`experiments.base.Metric`, which
also says its unit and whether lower or higher is better), labelled with the run's identity
(stack, run id, run label) and, where the data knows them, the step, node and image it came
from. `study compare` compares records; its (metric, key, value) observations are a view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

RECORD_COLUMNS = ["metric", "value", "unit", "direction", "key", "stack", "run_id", "run",
                  "step", "node", "image"]


@dataclass(frozen=True)
class Record:
    metric: str
    value: float
    unit: str
    labels: Mapping[str, str | None] = field(default_factory=dict)


def records(data, matcher=None, by: str | None = None):
    """Every comparable measurement of one run as a records table (`RECORD_COLUMNS`).

    Values the data lacks (a pull that never finished) are left out, as compare leaves them.
    """
    import pandas as pd

    from analysis.compare import ImageMatcher
    from experiments.registry import metric, results_kinds

    matcher = matcher or ImageMatcher()
    frames = _pull_records(data.table("pulls"), matcher)
    for kind in results_kinds():
        frames += kind.observations(data.tables, by)  # type: ignore[attr-defined]
    if not frames:
        return pd.DataFrame(columns=RECORD_COLUMNS)
    out = pd.concat(frames, ignore_index=True).dropna(subset=["value"])
    meta = {name: metric(name) for name in out["metric"].unique()}
    out["unit"] = out["metric"].map(lambda m: meta[m].unit)
    out["direction"] = out["metric"].map(lambda m: meta[m].direction)
    run = data.run
    out["stack"] = run.stack
    out["run_id"] = run.provenance.get("run_id")
    out["run"] = data.label
    for col in ("step", "node", "image"):
        out[col] = out[col].astype(object).where(out[col].notna(), None) if col in out else None
    return out[RECORD_COLUMNS].reset_index(drop=True)


def _pull_records(pulls, matcher) -> list:
    import pandas as pd

    if pulls.empty:
        return []
    fresh = pulls[(pulls["role"] == "studied") & (pulls["cached"] == False)]  # noqa: E712
    keys = [matcher.key(ref, image) for ref, image in zip(fresh["image_ref"], fresh["image"],
                                                           strict=True)]
    step = fresh["step"].to_numpy() if "step" in fresh else None
    return [pd.DataFrame({"metric": name, "key": keys, "value": fresh[name].to_numpy(),
                          "node": fresh["node"].to_numpy(), "image": fresh["image"].to_numpy(),
                          "step": step})
            for name in ("pull_seconds", "time_to_started_seconds")]


def as_records(table) -> list[Record]:
    """The rows of a records table as `Record`s (labels: every identity column)."""
    labels = [c for c in RECORD_COLUMNS if c not in ("metric", "value", "unit", "direction")]
    return [Record(r["metric"], float(r["value"]), r["unit"],
                   {c: r[c] for c in labels})
            for r in table.to_dict("records")]
