"""`study analyze RUN_DIR... --out DIR`: tidy tables (Parquet + CSV) and figures (PNG + SVG)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunDirs = Annotated[list[Path], typer.Argument(
    metavar="RUN_DIR...",
    help="Run directories: results/<stack>/<run-id>/ or seed data directories.")]
OutDir = Annotated[Path, typer.Option("--out", help="Directory for tables/ and figures/.")]


def print_table(df, title: str) -> None:
    """A result table on stdout: rich on a terminal, plain aligned text for pipes and CI logs.

    Plain text never truncates a cell to the pipe's assumed 80 columns, and greps cleanly.
    """
    from rich.markup import escape
    from rich.table import Table

    from harness.console import out_console

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


def check_run_dirs(command: str, run_dirs: list[Path], at_least: int = 1) -> None:
    """Usage errors (exit 2) for too few run directories or one given twice."""
    from harness.console import error

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


def register(app: typer.Typer) -> None:
    @app.command()
    def analyze(run_dirs: RunDirs, out: OutDir) -> None:
        """Parse run directories into tidy tables and the studies' figures."""
        import pandas as pd

        from analysis.pipeline import analyze as run_analysis
        from analysis.pipeline import warnings_of
        from harness.console import info, warn

        check_run_dirs("analyze", run_dirs)
        result = run_analysis(run_dirs, out)
        for data in result.datas:
            info(f"read {data.label} ({', '.join(data.run.kinds)}) from {data.run.path}")
            for line in warnings_of(data):
                warn(line)
        summary = pd.DataFrame(
            [(name, len(df), str(out / "tables" / f"{name}.parquet"))
             for name, df in result.tables.items()], columns=["table", "rows", "parquet"])
        print_table(summary, f"Tables in {out / 'tables'}")
        info(f"{len(result.figures)} figures in {out / 'figures'} (PNG and SVG)")
