"""`study collect STACK`: copy the run's evidence from the cluster to results/<stack>/<run-id>/."""

from __future__ import annotations

from typing import Annotated

import typer

from study.cli.help import complete_stack


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)


def collect(
    stack: Annotated[str, typer.Argument(
        metavar="STACK", help="stack name",
        autocompletion=complete_stack)],
    run_id: Annotated[
        str | None, typer.Option("--run-id", metavar="RUN_ID",
                                  help="collect into this run (default: the latest)")
    ] = None,
) -> None:
    """Collect events, step logs and statuses, nodes, outputs and provenance (idempotent)."""
    from core.stacks import read_stack_config
    from study import console
    from study.cli.run import services
    from study.lifecycle.commands import collect_stack
    from study.paths import run_id as checked_run_id
    from study.paths import stack_name

    config = read_stack_config(stack)
    stack_name(stack)  # both are joined into results/<stack>/<run-id>/
    if run_id is not None:
        checked_run_id(run_id)
    out = collect_stack(stack, services(), config, run_id)
    if out.collection is not None and out.collection.partial:
        console.error(out.message)
        raise typer.Exit(1)
    console.info(out.message)
    console.out_console().print(str(out.run_dir), markup=False, highlight=False)
