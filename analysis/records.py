"""One record type for every measurement: metric, value, unit and the labels that say whose.

A record is one observed value of a metric declared by a kind (`experiments.base.Metric`, which
also says its unit and whether lower or higher is better), labelled with the run's identity
(stack, run id, run label) and, where the data knows them, the step, node and image it came
from, plus the dimensions of the row it was parsed from (design, message size, app...).

Parsers yield rows; `to_records` is the one place rows become records, and `view` is the one
function that turns records back into a tidy table, by the `Pivot` a kind declares for it
(`experiments.views`). `study analyze` writes a run's records as one long table
(`write_records`). `study compare` compares records keyed for matching (`records`): pulls from
the pull records, other kinds through their `observations` of the tables those records make.
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


def to_records(frame: Any, pivot: Pivot, identity: Mapping[str, Any] | None = None) -> Any:
    """A parser's rows as records (one per row and metric), in row order within each metric.

    The only place rows become records: `observation` numbers the row, so a view can put a
    row's metrics back side by side; a value the row lacks stays a record with a NaN value.
    `identity` (stack, run id, run label) labels every record. Text labels are categorical:
    a row's labels repeat once per metric, and codes keep that repetition cheap.
    """
    import numpy as np
    import pandas as pd

    from experiments.registry import metrics as declared

    known = declared()
    frame = frame.reset_index(drop=True)
    n = len(frame)
    if pivot.metric_column is not None:
        names = pd.Categorical(pivot.metric_prefix + frame[pivot.metric_column].astype(object))
        values = pd.to_numeric(frame[pivot.value_column]).astype("float64").to_numpy()
        repeat = 1
    else:
        repeat = len(pivot.metrics)
        names = pd.Categorical.from_codes(np.repeat(np.arange(repeat), n),
                                          categories=list(pivot.metrics))
        values = np.concatenate([pd.to_numeric(frame[c]).astype("float64").to_numpy()
                                 for c in pivot.metrics.values()] or [np.empty(0)])
    meta = [known.get(m) for m in names.categories]
    if pivot.unit_column is not None:
        unit: Any = _repeat(frame[pivot.unit_column], repeat)
    else:
        unit = pd.Categorical(np.array([m.unit if m else None for m in meta] + [None],
                                       dtype=object)[names.codes])
    direction = np.array([m.direction if m else None for m in meta] + [None],
                         dtype=object)[names.codes]
    labels = {pivot.rename.get(col, col): _repeat(frame[col], repeat)
              for col in [*pivot.labels, *(c for c in pivot.labels_only if c in frame)]}
    same = {**dict.fromkeys(("stack", "run_id", "run", "step", "node", "image")),
            **(identity or {})}
    for key, value in same.items():
        if key not in labels:
            labels[key] = (pd.Categorical.from_codes(np.zeros(n * repeat, dtype="int8"), [value])
                           if value is not None else np.full(n * repeat, None, dtype=object))
    out = {
        "table": pd.Categorical.from_codes(np.zeros(n * repeat, dtype="int8"), [pivot.table]),
        "observation": np.tile(np.arange(n, dtype="int64"), repeat),
        "metric": names, "value": values, "unit": unit, "direction": direction,
    }
    out.update({c: labels.pop(c) for c in LONG_COLUMNS if c in labels})
    out.update(labels)
    return pd.DataFrame(out)


def _repeat(series: Any, times: int) -> Any:
    """A column repeated `times` over, text as categorical codes, other types as they are."""
    import numpy as np
    import pandas as pd

    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        cat = pd.Categorical(series)
        return pd.Categorical.from_codes(np.tile(cat.codes, times), cat.categories)
    if times == 1:
        return series.array
    return series.take(np.tile(np.arange(len(series)), times)).array


def _plain(values: Any, dtype: str) -> Any:
    """A records column back as the table's dtype (missing text as None, as parsers give it)."""
    import numpy as np
    import pandas as pd

    if dtype == "str" and not len(values):
        dtype = "object"  # as pandas types the text columns of a table built from no rows
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat = values.array
        texts = np.array([*cat.categories.to_numpy(dtype=object), None], dtype=object)
        return pd.Series(texts[cat.codes], dtype=dtype)
    out = pd.Series(values.array, dtype=dtype)
    if dtype == "object" and out.hasnans:
        out = out.astype(object).where(out.notna(), None)  # text read back from a file
    return out


def view(records: Any, pivot: Pivot) -> Any:
    """The tidy table `pivot` declares, from a records table (a run's, or several runs').

    A metric the records lack gives its column NaN (every row of the table has it blank), as
    a row without that value did before the records existed.
    """
    import pandas as pd

    tables = records["table"]
    only = isinstance(tables.dtype, pd.CategoricalDtype) and list(tables.cat.categories) == [
        pivot.table]
    rows = records if only or not len(records) else records[tables == pivot.table]
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
            values = (base[label] if label in base
                      else pd.Series([None] * len(base), dtype=object))
        elif col == pivot.metric_column:
            names = base["metric"].astype(object)
            values = names.str.slice(len(pivot.metric_prefix))
        elif col == pivot.unit_column:
            values = base["unit"]
        elif pivot.metric_column is not None and col == pivot.value_column:
            values = base["value"]
        else:
            metric = next(m for m, c in pivot.metrics.items() if c == col)
            of = rows[rows["metric"] == metric]
            values = base["observation"].map(pd.Series(of["value"].to_numpy(),
                                                       index=of["observation"].to_numpy()))
        columns[col] = _plain(values.reset_index(drop=True), pivot.dtypes[col])
    return pd.DataFrame(columns, columns=list(pivot.columns))


def combined_records(datas: list) -> Any:
    """The records of one or more runs as one long table: `LONG_COLUMNS`, then every label.

    Labels a table lacks are blank in its rows (a pull has no design, a topology step no node).
    """
    import pandas as pd

    frames = [f for d in datas for f in d.records if len(f)]
    if not frames:
        return pd.DataFrame(columns=LONG_COLUMNS)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def write_records(datas: list, out_dir: Any) -> list:
    """`records.parquet` and `records.csv` of the runs into out_dir; returns both paths.

    A pull's timestamps repeat once per metric (and across pods): the CSV formats each distinct
    time once, in the text pandas writes for the column, which is most of what writing costs.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = combined_records(datas)
    out_dir.mkdir(parents=True, exist_ok=True)
    parquet, csv = out_dir / "records.parquet", out_dir / "records.csv"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), parquet)
    text = {}
    for col in table.columns:
        if isinstance(table[col].dtype, pd.DatetimeTZDtype):
            codes, uniques = pd.factorize(table[col])
            formatted = pd.Series(uniques).to_csv(index=False, header=False).splitlines()
            text[col] = pd.Categorical.from_codes(codes, formatted) if len(formatted) else (
                table[col])
    (table.assign(**text) if text else table).to_csv(csv, index=False)
    return [parquet, csv]


def records(data, matcher=None, by: str | None = None):
    """Every comparable measurement of one run as a records table (`RECORD_COLUMNS`).

    Values the data lacks (a pull that never finished) are left out, as compare leaves them.
    """
    import pandas as pd

    from analysis.compare import ImageMatcher
    from experiments.registry import metric, results_kinds

    matcher = matcher or ImageMatcher()
    frames = _pull_records(data, matcher)
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


def _pull_records(data, matcher) -> list:
    """The compared pull records: fresh pulls of studied images, keyed by the matcher."""
    import pandas as pd

    frames = [f for f in data.records if len(f) and (f["table"] == "pulls").all()]
    if not frames:
        return []
    recs = frames[0]
    keep = (recs["metric"].isin(["pull_seconds", "time_to_started_seconds"])
            & (recs["role"] == "studied") & (recs["cached"] == False))  # noqa: E712
    keep = keep.fillna(False).to_numpy(dtype=bool)  # an unknown cache state is not fresh
    fresh = recs[keep]
    refs = fresh["image_ref"].astype(object).to_numpy()
    images = fresh["image"].astype(object).to_numpy()
    keys = {(r, i): matcher.key(r, i) for r, i in set(zip(refs, images, strict=True))}
    return [pd.DataFrame({"metric": fresh["metric"].astype(object).to_numpy(),
                          "key": [keys[r, i] for r, i in zip(refs, images, strict=True)],
                          "value": fresh["value"].to_numpy(),
                          "node": fresh["node"].astype(object).to_numpy(),
                          "image": images,
                          "step": fresh["step"].astype(object).to_numpy()})]


def as_records(table) -> list[Record]:
    """The rows of a records table as `Record`s (labels: every identity column)."""
    labels = [c for c in RECORD_COLUMNS if c not in ("metric", "value", "unit", "direction")]
    return [Record(r["metric"], float(r["value"]), r["unit"],
                   {c: r[c] for c in labels})
            for r in table.to_dict("records")]
