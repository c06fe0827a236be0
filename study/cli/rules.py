"""`study rules`: the real-cloud rules every plan applies, with the upstream source of each."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("rules")(rules)


def rules(
    json_out: Annotated[bool, typer.Option("--json", help="JSON list on stdout")] = False,
) -> None:
    """List the rules `study plan` checks beyond the schemas, and where each behaviour is read."""
    from policy.cloud_rules import RULES
    from study import console

    if json_out:
        rows = [{"name": r.name, "requires": r.doc, "source": r.source} for r in RULES]
        console.out_console().print_json(json.dumps(rows))
        return
    from rich.table import Table

    table = Table("rule", "requires", "source", show_lines=True)
    for r in RULES:
        table.add_row(r.name, r.doc, r.source)
    console.out_console().print(table)
