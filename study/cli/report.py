"""`study report RUN_DIR... --out DIR`: a self-contained HTML page of runs and their comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from study.cli.analyze import Labels, Nodes
from study.cli.compare import ByOption, MatchOption

RunDirs = Annotated[list[Path], typer.Argument(
    metavar="RUN_DIR...", help="One run (directory or event file; DIR=LABEL names it), or "
                               "several to compare against the first.")]
OutDir = Annotated[Path, typer.Option(
    "--out", help="Directory for report.html, tables/ and figures/.")]
ForceFlag = Annotated[bool, typer.Option(
    "--force", help="Compare even when the runs' experiment definitions differ.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def report(run_dirs: RunDirs, out: OutDir, force: ForceFlag = False, label: Labels = None,
               nodes: Nodes = None, match: MatchOption = "image",
               by: ByOption = None) -> None:
        """Write DIR/report.html: summary, figures and tables inline, no server or network."""
        from analysis.compare import ImageMatcher, check_by
        from analysis.pipeline import write_report as build
        from study.cli.analyze import run_args
        from study.console import info, out_console, warn

        ImageMatcher.parse(match)  # bad --match or --by fail before any file is read
        check_by(by)
        written = build(run_args("report", run_dirs, label), out, force=force, nodes=nodes,
                        match=match, by=by)
        for line in written.warnings:
            warn(line)
        info(f"report written; open it in a browser: {written.path}")
        out_console().print(str(written.path), markup=False, highlight=False)
