"""`study compare-stacks A B ...`: stacks side by side, normalised across clouds, offline.

Differences are highlighted; stacks that run different experiment definitions get a warning on
stderr (and in `--json`), since their results would not be directly comparable.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from study.cli.help import complete_stack

USAGE_EXIT = 2  # click's code for usage errors


def register(app: typer.Typer) -> None:
    app.command("compare-stacks")(compare_stacks)


def compare_stacks(
    stacks: Annotated[
        list[str], typer.Argument(
            metavar="STACK_A STACK_B ...", help="two or more stack names",
            autocompletion=complete_stack)
    ],
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Show two or more stacks side by side: cluster, nodes, network, storage, experiment, cost."""
    from study import console
    from study.stack_compare import compare_stacks as compare

    usage = None
    if len(stacks) < 2:
        usage = "give at least two stacks to compare"
    elif len(set(stacks)) != len(stacks):
        usage = f"a stack is named twice ({', '.join(stacks)}); give distinct stacks"
    if usage is not None:
        console.error(f"compare-stacks: {usage}")
        raise typer.Exit(USAGE_EXIT)
    result = compare(stacks)
    if json_out:
        console.out_console().print_json(json.dumps(result.to_json(), default=str))
    else:
        _print_table(result)
    for w in result.warnings:  # after the table, where a reader ends up
        console.warn(w)


def _cell(value) -> str:
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _print_table(result) -> None:
    from rich.markup import escape
    from rich.table import Table

    from study import console

    table = Table(title="Stacks compared (* = differs)", title_justify="left")
    table.add_column("section", style="dim")
    table.add_column("setting")
    for stack in result.stacks:
        table.add_column(escape(stack), overflow="fold")
    previous = None
    for row in result.rows:
        cells = [escape(_cell(v)) for v in row.values]
        if row.differs:
            cells = [f"[bold yellow]{c}[/]" for c in cells]
        section = row.section if row.section != previous else ""
        previous = row.section
        setting = f"* {row.setting}" if row.differs else f"  {row.setting}"
        table.add_row(section, escape(setting), *cells)
    console.out_console().print(table)
    diffs = sum(r.differs for r in result.rows)
    console.info(f"{diffs} of {len(result.rows)} settings differ")
