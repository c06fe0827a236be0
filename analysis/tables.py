"""Writing tidy tables (Parquet through pyarrow, and CSV) and the summaries printed from them.

Parquet keeps types (timestamps with time zone, nullable integers) for the next analysis; CSV is
for eyes and spreadsheets. Both are written for every table so neither is the odd one out.
"""

from __future__ import annotations

from pathlib import Path

# The pull tables, from the run's event stream (analysis.events), come first, then the
# harness's own timeline (analysis.timeline); then each registered kind's tables in
# registration order (`table_names`).
PULL_TABLES = ["pulls", "pull_medians", "completeness", "event_spread", "ingest_stats"]


def table_names() -> list[str]:
    """Tables in the order `study analyze` writes and reports them."""
    from analysis.timeline import TIMELINE_TABLES
    from experiments.registry import results_kinds

    names = [*PULL_TABLES, *TIMELINE_TABLES]
    for kind in results_kinds():
        names += [t for t in kind.tables if t not in names]  # type: ignore[attr-defined]
    return names


def write_table(df, out_dir: Path, name: str) -> list[Path]:
    """Write `name.parquet` and `name.csv` into out_dir; returns both paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    parquet = out_dir / f"{name}.parquet"
    csv = out_dir / f"{name}.csv"
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), parquet)
    df.to_csv(csv, index=False)
    return [parquet, csv]


def combine(datas) -> dict:
    """Concatenate each table across runs (every table already has a `run` column)."""
    import pandas as pd

    names: list[str] = []
    for data in datas:
        names += [n for n in data.tables if n not in names]
    combined = {}
    for name in names:
        frames = [d.tables[name] for d in datas if name in d.tables and not d.tables[name].empty]
        if frames:
            combined[name] = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    from experiments.registry import results_kinds

    if "pulls" in combined:
        combined["pull_medians"] = pull_medians(combined["pulls"])
    for kind in results_kinds():
        combined.update(kind.summarize(combined))  # type: ignore[attr-defined]
    return {n: combined[n] for n in table_names() if n in combined}


def pull_medians(pulls):
    """Median pull time and time to Started per run and studied image (fresh pulls only).

    `n_started` and `missing_started` sit beside the medians: a median of time to Started over
    fewer pods than pulled is a median of the pods that started, and the reader must see that.
    """
    fresh = pulls[(pulls["role"] == "studied") & (pulls["cached"] == False)]  # noqa: E712
    keys = ["run", "nodes", "image", "layers", "size_bytes"]
    table = (fresh.assign(_started=fresh["started_at"].notna())
             .groupby(keys, dropna=False)
             .agg(n=("pull_seconds", "size"),
                  median_pull_seconds=("pull_seconds", "median"),
                  median_time_to_started_seconds=("time_to_started_seconds", "median"),
                  n_started=("_started", "sum"))
             .reset_index()
             .sort_values(["run", "layers", "size_bytes"]))
    table["n_started"] = table["n_started"].astype("int64")
    table["missing_started"] = table["n"] - table["n_started"]
    return table
