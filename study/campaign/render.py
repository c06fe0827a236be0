"""The campaign plan as tables on stdout; its violations on stderr, one line each."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from study import console


def print_campaign_plan(p) -> None:
    out = console.out_console()
    c = p.campaign
    out.print(f"[bold]study campaign plan[/] {c.name} — {escape(c.spec.description or '')}")
    table = Table(title="Members (run in this order, one cluster per stack)",
                  title_justify="left")
    for col in ("#", "member", "nodes", "steps", "experiment", "own cluster", "est. USD",
                "quota"):
        table.add_column(col)
    unfit = p.first_unfit
    for i, m in enumerate(p.members, 1):
        fit = "fits" if m.fits_quota else "[red]does not fit[/]"
        if unfit is not None and m is unfit:
            fit += " (the run stops before it)"
        table.add_row(str(i), m.member.name, str(m.member.nodes), str(len(m.steps)),
                      f"{m.experiment_hours:.2f} h", f"{m.estimated_hours:.2f} h",
                      f"{m.estimated_usd:.2f}", fit)
    out.print(table)
    cost = Table(title="Campaign cost (estimate, same duration model both ways)",
                 title_justify="left")
    for col in ("", "in place (one cluster resized)", "one cluster per member (the seeds')"):
        cost.add_column(col)
    cost.add_row("cost", f"{p.in_place_usd:.2f} USD", f"{p.per_cluster_usd:.2f} USD")
    ratio = p.in_place_usd / p.per_cluster_usd if p.per_cluster_usd else 0.0
    cost.add_row("ratio", f"{ratio:.3f}", "1")
    cost.add_row("efficiency (measured / billed node-hours)", f"{p.efficiency:.3f}",
                 f"{p.per_cluster_efficiency:.3f}")
    cost.add_row("wall clock", f"{p.wall_hours():.2f} h"
                 + (" (stacks in parallel)" if c.spec.parallel else ""), "")
    reach = p.runnable_usd()
    if reach is not None:
        cost.add_row(f"until {p.first_unfit.member.name} (where a run stops)",
                     f"{reach:.2f} USD", "")
    b = c.spec.budget
    cost.add_row("budget", f"{b.usd:g} USD, {b.max_hours:g} h", "")
    out.print(cost)
    figures = Table(title="Provisioning figures used (infra/data/provisioning.yaml)",
                    title_justify="left", show_header=False)
    figures.add_column("figure", overflow="fold")
    for line in p.to_json()["provisioning_figures"]:
        figures.add_row(escape(line))
    out.print(figures)
    for v in p.violations:
        console.error(v)
    console.info("campaign plan OK: within budget and quota" if p.ok
                 else "campaign plan FAILED")
