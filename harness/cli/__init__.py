"""The `study` command line. Each sub-command lives in its own module and registers itself here.

Heavy imports (Pulumi, pandas, seaborn) happen inside command bodies so `--help` stays fast.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

import typer

from harness.errors import StudyError

app = typer.Typer(
    name="study",
    help="Plan, run, collect and analyse cloud Kubernetes studies declared as Pulumi stacks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules under harness.cli that define `register(app)`; order is the order in --help.
COMMAND_MODULES = [
    "plan",
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
]


@app.callback()
def _root() -> None:
    """Plan, run, collect and analyse cloud Kubernetes studies declared as Pulumi stacks."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"harness.cli.{_name}").register(app)


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
        from harness.console import error

        problems = getattr(exc, "problems", None) or [str(exc)]
        for line in problems:
            error(line)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - last-resort handler, traceback only on request
        if os.environ.get("STUDY_DEBUG"):
            raise
        from harness.console import error

        error(f"internal error: {type(exc).__name__}: {exc} (set STUDY_DEBUG=1 for a traceback)")
        sys.exit(1)
