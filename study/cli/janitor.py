"""`study janitor [--dry-run]`: destroy every stack of the project whose expiry has passed."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("janitor")(janitor)


def janitor(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only say what would be destroyed")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="JSON list on stdout")] = False,
) -> None:
    """Destroy every stack whose expiry (expires-at label or study:expires_at) has passed.

    Exit 0 when nothing expired is left, 5 when an expired stack could not be destroyed, 1 when
    a stack's expiry could not be read (it may be expired and still running).
    """
    from datetime import UTC, datetime

    from core.stacks import read_stack_config, stack_names
    from study import console
    from study.cli.run import services
    from study.lifecycle.janitor import sweep
    from study.lifecycle.run import EXIT_LEFTOVERS

    sv = services()
    now = datetime.fromtimestamp(sv.clock.now(), UTC)
    items = sweep(sv, now, dry_run, stack_names(), read_stack_config)
    if json_out:
        console.out_console().print_json(json.dumps([i.to_json() for i in items]))
    else:
        for i in items:
            when = i.expires_at.isoformat() if i.expires_at else "?"
            line = f"{i.stack}: {i.action} (expires {when}, from {i.source})"
            # What happened to each stack is the command's result: stdout, greppable.
            console.out_console().print(line + (f": {i.detail}" if i.detail else ""),
                                        markup=False, highlight=False)
    failed = [i for i in items if i.action == "failed"]
    if failed:
        console.error(f"{len(failed)} expired stack(s) could not be destroyed: "
                      + ", ".join(i.stack for i in failed))
        raise typer.Exit(EXIT_LEFTOVERS)
    unreadable = [i for i in items if i.action == "unreadable"]
    if unreadable:
        # A janitor that cannot tell whether a stack expired must not report success to cron.
        console.error(f"{len(unreadable)} stack(s) with no readable expiry, not checked: "
                      + ", ".join(f"{i.stack} ({i.detail})" for i in unreadable))
        raise typer.Exit(1)
