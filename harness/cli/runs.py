"""`study runs`: the ledger of runs - stack, run id, status, duration, node-hours, cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from harness.cli.help import complete_stack


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)


def runs(
    stack: Annotated[str | None, typer.Option(
        "--stack", metavar="STACK", help="only this stack", autocompletion=complete_stack)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON list on stdout")] = False,
) -> None:
    """List recorded runs, oldest first."""
    from harness import console
    from harness.lifecycle import ledger
    from harness.lifecycle.services import results_root

    entries = ledger.read(results_root(), stack)
    if json_out:
        console.out_console().print_json(json.dumps([e.__dict__ for e in entries]))
        return
    if not entries:
        which = f" for stack '{stack}'" if stack else " yet"
        console.info(f"no runs recorded{which} ({results_root() / ledger.LEDGER})")
        return
    from rich.table import Table

    table = Table("stack", "run id", "status", "started (UTC)", "hours", "node-hours", "USD")
    for e in entries:
        started = datetime.fromtimestamp(e.started_at, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(e.stack, e.run_id, e.status, started, f"{e.duration_hours:.2f}",
                      f"{e.node_hours:.1f}", f"{e.cost_usd:.2f}")
    console.out_console().print(table)
