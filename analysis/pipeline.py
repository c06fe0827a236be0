"""The steps behind `study analyze`, `study compare` and `study report`, without any CLI.

Keeping them here lets the commands stay thin and lets tests and the acceptance script run the
exact same path the commands run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import AnalysisError
from analysis.load import RunData, load_run
from analysis.rundir import RunDir

# Ingest counters that mean lines or messages were lost, with what each one means to a reader.
LOSSY_COUNTERS = {
    "malformed": "line(s) that are not JSON objects",
    "truncated": "line(s) cut off at the end of a file",
    "bad_message": "Pulled message(s) in no known kubelet format",
    "missing_fields": "event(s) without involvedObject or metadata",
    "wrong_type": "event(s) with a field of the wrong type (e.g. a number as message or "
                  "namespace)",
    "bad_timestamp": "timestamp(s) that are not RFC 3339 (left blank)",
    "impossible_duration": "pull duration(s) longer than a Go duration can be (left blank)",
}


@dataclass
class Analysis:
    """Runs, their combined tables and what was written."""

    datas: list[RunData]
    tables: dict
    figures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # figures.Skipped: what could not be drawn, why
    written: list[Path] = field(default_factory=list)


@dataclass
class RunArg:
    """One run as the user named it: a path and, optionally, the label to show it under."""

    path: Path
    label: str | None = None


def load_runs(paths: list[Path] | list[RunArg], nodes: int | None = None) -> list[RunData]:
    """Open and parse each run; labels are the user's, else short, readable and unique."""
    args = [a if isinstance(a, RunArg) else RunArg(Path(a)) for a in paths]
    runs = [RunDir.open(a.path) for a in args]
    labels = unique_labels([r.label for r in runs], [a.path for a in args])
    datas: list[RunData] = []
    for arg, run, label in zip(args, runs, labels, strict=True):
        run.label = arg.label or label
        datas.append(load_run(run, nodes))
    given = [a.label for a in args if a.label]
    if len(set(given)) != len(given):
        msg = f"run labels repeat ({', '.join(given)}); give each run its own --label"
        raise AnalysisError(msg)
    return datas


def unique_labels(labels: list[str], paths: list[Path]) -> list[str]:
    """Labels made unique by the part of each path that tells them apart.

    `a/run1/times.log` and `b/run1/times.log` become `a` and `b`, not `times` and `times-2`;
    only paths that still collide get a counter.
    """
    out = list(labels)
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    for label, members in groups.items():
        if len(members) < 2:
            continue
        parts = [Path(paths[i]).resolve().with_suffix("").parts for i in members]
        head = 0
        while all(len(p) > head + 1 for p in parts) and len({p[head] for p in parts}) == 1:
            head += 1
        tail = 0
        while (all(len(p) > head + tail + 1 for p in parts)
               and len({p[-1 - tail] for p in parts}) == 1):
            tail += 1
        for i, p in zip(members, parts, strict=True):
            distinct = "-".join(p[head:len(p) - tail]) or label
            out[i] = distinct
    seen: dict[str, int] = {}
    for i, label in enumerate(out):
        count = seen.get(label, 0) + 1
        seen[label] = count
        if count > 1:
            out[i] = f"{label}-{count}"
    return out


def warnings_of(data: RunData) -> list[str]:
    """One line per problem a reader of the results should know about."""
    lines = [f"{data.label}: {note}" for note in data.run.notes]
    lines += [f"{data.label}: {path} {problem}" for path, problem in data.file_problems]
    stats = data.ingest_stats
    lost = {k: stats[k] for k in LOSSY_COUNTERS if stats.get(k)}
    if lost:
        detail = "; ".join(f"{v} {LOSSY_COUNTERS[k]}" for k, v in lost.items())
        lines.append(f"{data.label}: event files had {detail}; they were skipped")
    lines += [f"{data.label}: {problem}" for problem in data.problems]
    if data.run.event_files and data.run.nodes_source == "inferred":
        lines.append(f"{data.label}: node count {data.run.nodes} is inferred from the nodes "
                     "whose kubelet reported events (no node inventory; pass --nodes to "
                     "state it)")
    elif data.run.event_files and data.run.nodes is None:
        lines.append(f"{data.label}: node count unknown (no inventory, no kubelet events); "
                     "pass --nodes")
    completeness = data.table("completeness")
    if not completeness.empty:
        bad = completeness[completeness["status"] != "ok"]
        if not bad.empty:
            lines.append(
                f"{data.label}: {len(bad)} of {len(completeness)} image/node pairs did not see "
                f"exactly one pull ({(bad['status'] == 'missing').sum()} missing, "
                f"{(bad['status'] == 'extra').sum()} extra); see completeness table")
    pulls = data.table("pulls")
    if not pulls.empty:
        lines += _missing_started(data.label, pulls)
    return lines


def _missing_started(label: str, pulls) -> list[str]:
    """Pods that pulled a studied image but whose container never reported Started."""
    fresh = pulls[(pulls["role"] == "studied") & pulls["pulled_at"].notna()]
    missing = fresh[fresh["started_at"].isna()]
    if missing.empty:
        return []
    counts = missing.groupby("image").size()
    totals = fresh.groupby("image").size()
    detail = ", ".join(f"{image} {n} of {totals[image]}" for image, n in counts.items())
    return [f"{label}: no Started event for {len(missing)} studied pull(s) ({detail}); "
            "their time to Started is blank"]


def analyze(paths: list[Path] | list[RunArg], out: Path, figures: bool = True,
            datas: list[RunData] | None = None, nodes: int | None = None) -> Analysis:
    """Parse runs, write every table (Parquet + CSV) and figure (PNG + SVG) under `out`.

    `datas` are runs already loaded from `paths` (by `report`, which checks them first).
    """
    from analysis.tables import combine, write_table
    from core.errors import ensure_dir

    datas = load_runs(paths, nodes) if datas is None else datas
    ensure_dir(out, "--out")  # one line, not an OSError, for an --out that cannot be a directory
    result = Analysis(datas=datas, tables=combine(datas))
    for name, df in result.tables.items():
        result.written += write_table(df, out / "tables", name)
    from analysis.records import write_records

    result.written += write_records(datas, out / "tables")
    if figures:
        from analysis.figures import draw_figures

        context = {"streaming_runs": [d.label for d in datas if d.uses_streaming()]}
        result.figures, result.skipped = draw_figures(result.tables, out / "figures", context)
        for fig in result.figures:
            result.written += [fig.png, fig.svg]
    return result


def report(paths: list[Path] | list[RunArg], out: Path, force: bool = False,
           nodes: int | None = None, match: str = "image", by: str | None = None) -> Path:
    """Analyse runs (and compare them when there are several) into `out/report.html`."""
    return write_report(paths, out, force, nodes, match, by).path


def write_report(paths: list[Path] | list[RunArg], out: Path, force: bool = False,
                 nodes: int | None = None, match: str = "image",
                 by: str | None = None) -> Report:
    """`report`, also returning the warnings the page shows (the CLI prints them too)."""
    from analysis.compare import compare_runs
    from analysis.report import build_report, headline
    from analysis.tables import write_table

    datas = load_runs(paths, nodes)
    # Refuse incomparable runs before anything is written under `out`.
    comparison = (compare_runs(datas, force=force, match=match, by=by)
                  if len(datas) > 1 else None)
    result = analyze(paths, out, datas=datas)
    warnings = [line for d in datas for line in warnings_of(d)]
    warnings += [f"figure {s.name} not drawn: {s.reason}" for s in result.skipped]
    # The page shows the first rows of long tables; these two exist only here, so they are
    # written beside the others for the rest.
    heads = headline(datas)
    result.written += write_table(heads, out / "tables", "headline")
    if comparison is not None:
        result.written += write_table(comparison.rows, out / "tables", "comparison")
    page = build_report(result.datas, result.tables, result.figures, comparison,
                        warnings=warnings, skipped=result.skipped, heads=heads)
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return Report(target, warnings, result)


@dataclass
class Report:
    """The written page and what it warned about (the CLI prints the same lines)."""

    path: Path
    warnings: list[str]
    analysis: Analysis
