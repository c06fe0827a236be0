"""`study bucket create STACK`: the results bucket of the stack's account or project.

Run once per account (GCP project, or AWS account and region) before a plain `pulumi up`;
`study run` does the same in its preflight. The bucket is never part of a stack: destroying a
study leaves every run's results where they are.
"""

from __future__ import annotations

from typing import Annotated

import typer

bucket_app = typer.Typer(help="The results bucket study stacks upload to.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(bucket_app, name="bucket")


@bucket_app.command("create")
def create(stack: Annotated[str, typer.Argument(metavar="STACK", help="stack name")]) -> None:
    """Create the stack's results bucket if missing (versioned, lifecycle, no public access)."""
    from core.stacks import read_stack_config
    from study import console
    from study.cli.run import services
    from study.lifecycle.commands import ensure_results_bucket, load_spec_of

    spec = load_spec_of(stack, read_stack_config(stack))
    for line in ensure_results_bucket(services(), spec):
        console.info(line)
