"""One record type for every measurement: metric, value, unit and the labels that say whose.

A record is one observed value of a metric declared by a kind (`experiments.base.Metric`, which
also says its unit and whether lower or higher is better), labelled with the run's identity
(stack, run id, run label) and, where the data knows them, the step, node and image it came
from. `study compare` compares records; its (metric, key, value) observations are a view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.views import Pivot

RECORD_COLUMNS = ["metric", "value", "unit", "direction", "key", "stack", "run_id", "run",
                  "step", "node", "image"]


@dataclass(frozen=True)
class Record:
    metric: str
    value: float
    unit: str
    labels: Mapping[str, str | None] = field(default_factory=dict)


# The columns every record of a run's long records table has; each table's labels follow.
LONG_COLUMNS = ["table", "observation", "metric", "value", "unit", "direction", "stack",
                "run_id", "run", "step", "node", "image"]


def to_records(frame: Any, pivot: Pivot) -> Any:
    """A parser's rows as records (one per row and metric), in row order within each metric.

    The only place rows become records: `observation` numbers the row, so a view can put a
    row's metrics back side by side; a value the row lacks stays a record with a NaN value.
    """
    import numpy as np
    import pandas as pd

    from experiments.registry import metrics as declared

    known = declared()
    frame = frame.reset_index(drop=True)
    n = len(frame)
    labels = {pivot.rename.get(c, c): frame[c] for c in pivot.labels}
    observation = np.arange(n, dtype="int64")
    if pivot.metric_column is not None:
        names = pivot.metric_prefix + frame[pivot.metric_column].astype(object)
        pairs = [(names, frame[pivot.value_column])]
    else:
        pairs = [(pd.Series([m] * n, dtype=object), frame[c]) for m, c in pivot.metrics.items()]
    parts = []
    for names, values in pairs:
        meta = [known.get(m) for m in names]
        unit = (frame[pivot.unit_column].astype(object) if pivot.unit_column
                else pd.Series([m.unit if m else None for m in meta], dtype=object))
        parts.append(pd.DataFrame({
            "table": pd.Series([pivot.table] * n, dtype=object),
            "observation": observation,
            "metric": names.to_numpy(dtype=object),
            "value": pd.to_numeric(values).astype("float64").to_numpy(),
            "unit": unit.to_numpy(dtype=object),
            "direction": np.array([m.direction if m else None for m in meta], dtype=object),
            **{k: v.to_numpy() if not _extension(v) else v.array for k, v in labels.items()},
        }))
    if not parts:
        return pd.DataFrame(columns=["table", "observation", "metric", "value", "unit",
                                     "direction", *labels])
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _extension(series: Any) -> bool:
    import pandas as pd

    return isinstance(series.dtype, pd.api.extensions.ExtensionDtype)


def view(records: Any, pivot: Pivot) -> Any:
    """The tidy table `pivot` declares, from a records table (a run's, or several runs').

    A metric the records lack gives its column NaN (every row of the table has it blank), as
    a row without that value did before the records existed.
    """
    import pandas as pd

    rows = records[records["table"] == pivot.table] if len(records) else records
    if pivot.metric_column is not None:
        base = rows
    else:
        first = next(iter(pivot.metrics))
        base = rows[rows["metric"] == first]
        if base.empty and len(rows):
            # The first metric is absent: the rows are those of whatever metric is there.
            base = rows.drop_duplicates("observation")
    base = base.reset_index(drop=True)
    columns: dict[str, Any] = {}
    for col in pivot.columns:
        if col in pivot.labels:
            label = pivot.rename.get(col, col)
            values = base[label] if label in base else pd.Series([None] * len(base))
        elif col == pivot.metric_column:
            values = base["metric"].str.slice(len(pivot.metric_prefix))
        elif col == pivot.unit_column:
            values = base["unit"]
        elif pivot.metric_column is not None and col == pivot.value_column:
            values = base["value"]
        else:
            metric = next(m for m, c in pivot.metrics.items() if c == col)
            of = rows[rows["metric"] == metric]
            values = base["observation"].map(pd.Series(of["value"].to_numpy(),
                                                       index=of["observation"].to_numpy()))
        columns[col] = pd.Series(values.to_numpy() if not _extension(values) else values.array,
                                 dtype=pivot.dtypes[col])
    return pd.DataFrame(columns, columns=list(pivot.columns))


def run_records(data: Any) -> Any:
    """A run's records as one long table: `LONG_COLUMNS`, then every table's labels."""
    import pandas as pd

    frames = [f for f in data.records if len(f)]
    if not frames:
        return pd.DataFrame(columns=LONG_COLUMNS)
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    out.insert(6, "stack", data.run.stack)
    out.insert(7, "run_id", data.run.provenance.get("run_id"))
    out.insert(8, "run", data.label)
    for at, col in enumerate(("step", "node", "image"), start=9):
        if col not in out:
            out.insert(at, col, None)
    return out[[*LONG_COLUMNS, *(c for c in out if c not in LONG_COLUMNS)]]


def combined_records(datas: list) -> Any:
    """The records of several runs as one long table (labels a run lacks are blank)."""
    import pandas as pd

    frames = [run_records(d) for d in datas]
    frames = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


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
