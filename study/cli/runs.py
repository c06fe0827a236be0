"""`study runs`: the ledger of runs - stack, run id, status, duration, node-hours, cost - and,
for stacks with a results bucket, whether each run's results are complete there (runs only the
bucket knows, e.g. of a plain `pulumi up` nobody collected, are listed too)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from study.cli.help import complete_stack


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)


def bucket_state(summary: dict | None) -> str:
    """One cell: complete, or what is missing or wrong."""
    if summary is None:
        return "-"
    if summary["complete"]:
        return f"complete ({len(summary['steps_in_bucket'])} steps)"
    parts = []
    if summary["missing"]:
        parts.append(f"{len(summary['missing'])} step(s) missing")
    if summary["problems"]:
        parts.append(f"{len(summary['problems'])} problem(s)")
    return "incomplete: " + (", ".join(parts) or "no step uploaded")


def runs(
    stack: Annotated[str | None, typer.Option(
        "--stack", metavar="STACK", help="only this stack", autocompletion=complete_stack)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="JSON list on stdout")] = False,
    bucket: Annotated[
        bool, typer.Option("--bucket/--no-bucket", help="check each run in the results bucket")
    ] = True,
) -> None:
    """List recorded runs, oldest first, with their results' state in the bucket."""
    from study import console
    from study.lifecycle import ledger
    from study.lifecycle.services import results_root

    entries = ledger.read(results_root(), stack)
    in_bucket: dict[tuple[str, str], dict] = {}
    if bucket:
        from core.stacks import read_stack_config, stack_names
        from study.cli.run import services
        from study.lifecycle.commands import bucket_runs

        sv = services()
        if getattr(sv, "results_store", None) is not None:
            names = [stack] if stack else stack_names()
            in_bucket = bucket_runs(sv, names, read_stack_config, console.warn)
    known = {(e.stack, e.run_id) for e in entries}
    only_bucket = sorted(k for k in in_bucket if k not in known)
    if json_out:
        rows: list[dict] = []
        for e in entries:
            row = dict(e.__dict__)
            if (e.stack, e.run_id) in in_bucket:
                row["bucket"] = in_bucket[(e.stack, e.run_id)]
            rows.append(row)
        rows += [{"stack": s, "run_id": r, "status": "not collected", "bucket": in_bucket[(s, r)]}
                 for s, r in only_bucket]
        console.out_console().print_json(json.dumps(rows))
        return
    if not entries and not only_bucket:
        which = f" for stack '{stack}'" if stack else " yet"
        console.info(f"no runs recorded{which} ({results_root() / ledger.LEDGER})")
        return
    from rich.table import Table

    columns = ["stack", "run id", "status", "started (UTC)", "hours", "node-hours", "USD"]
    table = Table(*columns, *(["results bucket"] if in_bucket else []))
    for e in entries:
        started = datetime.fromtimestamp(e.started_at, UTC).strftime("%Y-%m-%d %H:%M")
        cells = [e.stack, e.run_id, e.status, started, f"{e.duration_hours:.2f}",
                 f"{e.node_hours:.1f}", f"{e.cost_usd:.2f}"]
        if in_bucket:
            cells.append(bucket_state(in_bucket.get((e.stack, e.run_id))))
        table.add_row(*cells)
    for s, r in only_bucket:
        table.add_row(s, r, "not collected", "-", "-", "-", "-", bucket_state(in_bucket[(s, r)]))
    console.out_console().print(table)
