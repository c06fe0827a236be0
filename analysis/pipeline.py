"""The steps behind `study analyze`, `study compare` and `study report`, without any CLI.

Keeping them here lets the commands stay thin and lets tests and the acceptance script run the
exact same path the commands run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analysis.load import RunData, load_run
from analysis.rundir import RunDir

# Ingest counters that mean lines or messages were lost; reported as warnings.
LOSSY_COUNTERS = ("malformed", "truncated", "bad_message", "missing_fields")


@dataclass
class Analysis:
    """Runs, their combined tables and what was written."""

    datas: list[RunData]
    tables: dict
    figures: list = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def load_runs(paths: list[Path]) -> list[RunData]:
    """Open and parse each run directory; labels are made unique in argument order."""
    datas: list[RunData] = []
    seen: dict[str, int] = {}
    for path in paths:
        run = RunDir.open(path)
        count = seen.get(run.label, 0) + 1
        seen[run.label] = count
        if count > 1:
            run.label = f"{run.label}-{count}"
        datas.append(load_run(run))
    return datas


def warnings_of(data: RunData) -> list[str]:
    """One line per problem a reader of the results should know about."""
    lines = []
    stats = data.ingest_stats
    lost = {k: stats[k] for k in LOSSY_COUNTERS if stats.get(k)}
    if lost:
        detail = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in lost.items())
        lines.append(f"{data.label}: event files had {detail} line(s); they were skipped")
    completeness = data.table("completeness")
    if not completeness.empty:
        bad = completeness[completeness["status"] != "ok"]
        if not bad.empty:
            lines.append(
                f"{data.label}: {len(bad)} of {len(completeness)} image/node pairs did not see "
                f"exactly one pull ({(bad['status'] == 'missing').sum()} missing, "
                f"{(bad['status'] == 'extra').sum()} extra); see completeness table")
    return lines


def analyze(paths: list[Path], out: Path, figures: bool = True,
            datas: list[RunData] | None = None) -> Analysis:
    """Parse runs, write every table (Parquet + CSV) and figure (PNG + SVG) under `out`.

    `datas` are runs already loaded from `paths` (by `report`, which checks them first).
    """
    from analysis.tables import combine, write_table
    from harness.errors import ensure_dir

    datas = load_runs(paths) if datas is None else datas
    ensure_dir(out, "--out")  # one line, not an OSError, for an --out that cannot be a directory
    result = Analysis(datas=datas, tables=combine(datas))
    for name, df in result.tables.items():
        result.written += write_table(df, out / "tables", name)
    if figures:
        from analysis.figures import draw_all

        result.figures = draw_all(result.tables, out / "figures")
        for fig in result.figures:
            result.written += [fig.png, fig.svg]
    return result


def report(paths: list[Path], out: Path, force: bool = False) -> Path:
    """Analyse runs (and compare them when there are several) into `out/report.html`."""
    from analysis.compare import compare_runs
    from analysis.report import build_report

    datas = load_runs(paths)
    # Refuse incomparable runs before anything is written under `out`.
    comparison = compare_runs(datas, force=force) if len(datas) > 1 else None
    result = analyze(paths, out, datas=datas)
    page = build_report(result.datas, result.tables, result.figures, comparison)
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
