"""`study report RUN_DIR... --out DIR`: a self-contained HTML page of runs and their comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunDirs = Annotated[list[Path], typer.Argument(
    metavar="RUN_DIR...", help="One run directory, or several to compare against the first.")]
OutDir = Annotated[Path, typer.Option(
    "--out", help="Directory for report.html, tables/ and figures/.")]
ForceFlag = Annotated[bool, typer.Option(
    "--force", help="Compare even when the runs' experiment definitions differ.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def report(run_dirs: RunDirs, out: OutDir, force: ForceFlag = False) -> None:
        """Write DIR/report.html: tables and figures inline, no server or network needed."""
        from analysis.pipeline import report as build
        from harness.cli.analyze import check_run_dirs
        from harness.console import info, out_console

        check_run_dirs("report", run_dirs)
        target = build(run_dirs, out, force=force)
        info(f"report written; open it in a browser: {target}")
        out_console().print(str(target), markup=False, highlight=False)
