"""`study new STACK --from SHIPPED`: a stack of one's own, from a shipped one, ready to plan."""

from __future__ import annotations

from typing import Annotated

import typer

from study.cli.help import complete_stack


def register(app: typer.Typer) -> None:
    app.command("new")(new)


def new(
    stack: Annotated[str, typer.Argument(metavar="STACK", help="the new stack's name")],
    source: Annotated[str, typer.Option(
        "--from", metavar="SHIPPED", help="the stack to copy (`study stacks` lists them)",
        autocompletion=complete_stack)],
    owner: Annotated[str, typer.Option(
        "--owner", metavar="OWNER", help="who answers for the cluster (a label: a-z, 0-9, _ -)")],
    project: Annotated[str | None, typer.Option(
        "--project", metavar="ID", help="GCP project id (GKE stacks only)")] = None,
    ttl: Annotated[str | None, typer.Option(
        "--ttl", metavar="LIFETIME",
        help="how long the cluster may live, e.g. 12h or 3d (default 12h)")] = None,
    expires_at: Annotated[str | None, typer.Option(
        "--expires-at", metavar="WHEN",
        help="an absolute expiry instead, ISO 8601 (2027-01-31T00:00:00Z)")] = None,
) -> None:
    """Write stacks/Pulumi.STACK.yaml from a shipped stack with your project, owner and lifetime.

    The file is checked as `study plan` checks it and never overwrites one that exists.
    Exit: 0 written; 1 invalid input (nothing written).
    """
    from study import console
    from study.new_stack import create

    if ttl is None and expires_at is None:
        ttl = "12h"
    made = create(stack, source, project, owner, ttl, expires_at)
    lifetime = ", ".join(f"{k} {v}" for k, v in made.lifetime.items())
    console.info(f"wrote {made.path} from {source} ({lifetime}); next: study plan {stack}")
    console.out_console().print(str(made.path), markup=False, highlight=False)
