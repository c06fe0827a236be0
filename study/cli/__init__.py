"""The `study` command line. Each sub-command lives in its own module and registers itself here.

Heavy imports (Pulumi, pandas, matplotlib) happen inside command bodies so `--help` stays fast.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from typing import Annotated

import typer

from core.errors import StudyError
from study.cli.help import StudyGroup, quiet_types

quiet_types()
app = typer.Typer(
    name="study",
    cls=StudyGroup,  # --help lists the commands in the README's order
    help="Plan, run, collect and analyse cloud Kubernetes studies declared as Pulumi stacks.",
    no_args_is_help=True,
    # typer's own --install-completion / --show-completion (bash, zsh, fish, PowerShell).
    add_completion=True,
    pretty_exceptions_enable=False,
)

# Modules under study.cli that define `register(app)`.
COMMAND_MODULES = [
    "plan",
    "new",
    "rules",
    "analyze",
    "compare",
    "report",
    "compare_stacks",
    "run",
    "collect",
    "runs",
    "janitor",
    "images",
    "bucket",
    "campaign",
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"study-harness {version('study-harness')}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_version,
                     help="Print the study-harness version and exit."),
    ] = False,
) -> None:
    """Plan, run, collect and analyse cloud Kubernetes studies declared as Pulumi stacks."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"study.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point: expected errors become one line on stderr and an exit code."""
    try:
        _run()
    finally:
        # The cloud SDKs leave millions of objects behind; without this the interpreter's final
        # garbage collection adds about 0.9 s to every short command such as `study plan`.
        gc.freeze()


def _run() -> None:
    try:
        # Standalone mode: click reports usage errors (exit 2) and honours typer.Exit itself.
        app()
    except StudyError as exc:
        from study.console import error

        problems = getattr(exc, "problems", None) or [str(exc)]
        for line in problems:
            error(line)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last-resort handler, traceback only on request
        if os.environ.get("STUDY_DEBUG"):
            raise
        from study.console import error

        error(f"internal error: {type(exc).__name__}: {exc} (set STUDY_DEBUG=1 for a traceback)")
        sys.exit(1)
