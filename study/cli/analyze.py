"""`study analyze RUN_DIR... --out DIR`: tidy tables (Parquet + CSV) and figures (PNG + SVG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunDirs = Annotated[list[Path], typer.Argument(
    metavar="RUN_DIR...",
    help="Run directories (results/<stack>/<run-id>/, seed data directories, directories of "
         "JSON-lines event files) or event files of any name; DIR=LABEL names the run.")]
OutDir = Annotated[Path, typer.Option("--out", help="Directory for tables/ and figures/.")]
Labels = Annotated[list[str] | None, typer.Option(
    "--label", help="Label of each run, in argument order (repeat the option).")]
Nodes = Annotated[int | None, typer.Option(
    "--nodes", min=1, help="Node count for runs whose data has no node inventory and no "
                           "kubelet events.")]


def print_table(df, title: str) -> None:
    """A result table on stdout: rich on a terminal, plain aligned text for pipes and CI logs.

    Plain text never truncates a cell to the pipe's assumed 80 columns, and greps cleanly.
    """
    from rich.markup import escape
    from rich.table import Table

    from study.console import out_console

    console = out_console()
    if df.empty:  # not pandas' "Empty DataFrame / Columns: [...]" repr
        console.file.write(f"{title}\n(none)\n\n")
        return
    if console.is_terminal:
        table = Table(*(escape(str(c)) for c in df.columns), title=escape(title))
        for row in df.itertuples(index=False):
            table.add_row(*("" if v is None else escape(str(v)) for v in row))
        console.print(table)
    else:
        console.file.write(f"{title}\n{df.to_string(index=False)}\n\n")


USAGE_EXIT = 2  # click's code for usage errors


def print_outputs(result, out: Path) -> None:
    """What an analysis wrote: the figures it could not draw, its tables, its figure count."""
    import pandas as pd

    from study.console import info, warn

    for skipped in result.skipped:
        warn(f"figure {skipped.name} not drawn: {skipped.reason}")
    summary = pd.DataFrame(
        [(name, len(df), str(out / "tables" / f"{name}.parquet"))
         for name, df in result.tables.items()], columns=["table", "rows", "parquet"])
    print_table(summary, f"Tables in {out / 'tables'}")
    info(f"{len(result.figures)} figures in {out / 'figures'} (PNG and SVG)")


def check_run_dirs(command: str, run_dirs: list[Path], at_least: int = 1) -> None:
    """Usage errors (exit 2) for too few run directories or one given twice."""
    from study.console import error

    usage = None
    resolved = [p.resolve() for p in run_dirs]
    if len(run_dirs) < at_least:
        usage = f"give at least {at_least} run directories; the first is the baseline"
    elif len(set(resolved)) != len(resolved):
        twice = sorted({str(p) for p, r in zip(run_dirs, resolved, strict=True)
                        if resolved.count(r) > 1})
        usage = f"a run directory is given twice ({', '.join(twice)}); give distinct runs"
    if usage is not None:
        error(f"{command}: {usage}")
        raise typer.Exit(USAGE_EXIT)


def run_args(command: str, run_dirs: list[Path], labels: list[str] | None) -> list:
    """Runs as the user named them: `DIR=LABEL` arguments, or `--label` in argument order."""
    from analysis.pipeline import RunArg
    from study.console import error

    args = []
    for raw in run_dirs:
        text = str(raw)
        path, sep, label = text.rpartition("=")
        if sep and path and not raw.exists():
            args.append(RunArg(Path(path), label.strip() or None))
        else:
            args.append(RunArg(raw))
    if labels:
        if len(labels) != len(args):
            error(f"{command}: --label given {len(labels)} times for {len(args)} runs; give one "
                  "label per run, in argument order")
            raise typer.Exit(USAGE_EXIT)
        for arg, label in zip(args, labels, strict=True):
            arg.label = label
    check_run_dirs(command, [a.path for a in args])
    return args


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze(run_dirs: RunDirs, out: OutDir, label: Labels = None,
                nodes: Nodes = None) -> None:
        """Parse runs into tidy tables and the studies' figures."""
        from analysis.campaign import is_campaign_dir
        from analysis.pipeline import analyze as run_analysis
        from analysis.pipeline import warnings_of
        from analysis.timeline import overhead_summary
        from study.console import info, warn

        if len(run_dirs) == 1 and is_campaign_dir(run_dirs[0]):  # results/campaigns/<n>/<id>/
            from study.cli.campaign import print_campaign_analysis

            print_campaign_analysis(run_dirs[0], out)
            return
        result = run_analysis(run_args("analyze", run_dirs, label), out, nodes=nodes)
        for data in result.datas:
            nodes_note = (f"{data.run.nodes} nodes ({data.run.nodes_source})"
                          if data.run.nodes is not None else "nodes unknown")
            info(f"read {data.label} ({', '.join(data.run.kinds)}; {nodes_note}) "
                 f"from {data.run.path}")
            for line in warnings_of(data):
                warn(line)
            overhead = overhead_summary(data)
            if overhead:
                info(f"{data.label}: {overhead}")
        print_outputs(result, out)
