"""Human tables for plans and stack lists (rich). Stdout for the results, stderr for diagnostics."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table

from study import console


def _fmt(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def print_plan(plan, manifests_dir: Path, removed: int = 0) -> None:
    """The plan on stdout; warnings, violations and where the manifests went on stderr.

    `removed`: files of an earlier plan taken out of `manifests_dir` before this one ran; said
    when this plan wrote none in their place.
    """
    out = console.out_console()
    spec = plan.spec
    out.print(f"[bold]study plan[/] {plan.stack} — {escape(spec.description or spec.study)}")
    if plan.resources:
        table = Table(title="Resources", title_justify="left")
        table.add_column("type", no_wrap=True)
        table.add_column("name", no_wrap=True)
        table.add_column("settings", overflow="fold")
        for r in plan.resources:
            if r.custom:
                table.add_row(r.type, r.name, escape(_fmt(r.settings)))
        out.print(table)
    est = plan.report.estimate
    if est is not None and est.steps:
        steps = Table(
            title="Experiment steps (measured steps in order; preparation beside the operators)",
            title_justify="left",
            caption="estimate, work, overhead: each step run alone; waits: what the run waits "
                    "for it on the chain (each upload overlaps the next step, preparation the "
                    f"operators' {est.beside_seconds:g} s); the waits add up to the experiment"
                    + ("; the cost uses the stack's own estimated_hours" if est.stated_hours
                       else ""),
            caption_justify="left",
        )
        for col in ("#", "step", "runs", "estimate", "work", "overhead", "waits", "deadline"):
            steps.add_column(col)
        for i, (s, waits) in enumerate(zip(est.steps, est.waits, strict=True), 1):
            split = s.work_seconds is not None
            steps.add_row(
                str(i),
                s.name,
                "beside operators" if s.preparation else "in turn",
                f"{s.estimated_seconds / 60:.1f} min",
                f"{s.work_seconds / 60:.1f} min" if split else "-",
                f"{(s.overhead_seconds or 0.0) / 60:.1f} min" if split else "-",
                f"{waits / 60:.1f} min",
                f"{s.deadline_seconds / 60:.0f} min",
            )
        total = sum(s.estimated_seconds for s in est.steps)
        steps.add_row("", "total", "", f"{total / 60:.1f} min", f"{est.work_seconds / 60:.1f} min",
                      f"{est.step_overhead_seconds / 60:.1f} min",
                      f"{sum(est.waits) / 60:.1f} min", "")
        out.print(steps)
    if est is not None:
        cost = Table(title="Cost (estimate)", title_justify="left", show_header=False)
        cost.add_column("item")
        cost.add_column("value", justify="right")
        p = est.price
        cost.add_row("nodes x machine", f"{p.nodes} x {spec.cluster.machine_type}")
        cost.add_row("per node (machine + local SSD + boot disk)", f"{p.per_node:.4f} USD/h")
        cost.add_row("control plane", f"{p.control_plane:.2f} USD/h")
        cost.add_row("price per hour", f"{p.total:.3f} USD/h")
        cost.add_row(
            "hours (provision + experiment + teardown)",
            f"{est.provision_hours:.2f} + {est.experiment_hours:.2f} + {est.teardown_hours:.2f}"
            f" = {est.hours:.2f} h",
        )
        from infra.provisioning import figures_brief

        cost.add_row("provision and teardown figures", figures_brief(spec.cluster.cloud))
        cost.add_row("node-hours", f"{est.node_hours:.1f}")
        cost.add_row("estimated cost", f"{est.usd:.2f} USD")
        cost.add_row("budget", f"{spec.budget.usd:g} USD, {spec.budget.max_hours:g} h")
        out.print(cost)
    _print_results(out, plan)
    if plan.resources:
        guard = Table(title="Guard", title_justify="left", show_header=False)
        guard.add_column("item")
        guard.add_column("value", overflow="fold")
        for item, value in plan.guard_rows():
            guard.add_row(item, escape(value))
        out.print(guard)
    for w in plan.warnings:
        console.warn(w)
    for v in plan.violations:
        console.error(v)
    if plan.manifests:
        console.info(
            f"{len(plan.manifests)} manifest(s) written to {manifests_dir}, all validated"
            if not plan.manifest_problems
            else f"{len(plan.manifests)} manifest(s) written to {manifests_dir}"
        )
    elif removed:
        console.info(removed_note(removed, manifests_dir))
    console.info("plan OK: within budget and quota" if plan.ok else "plan FAILED")


def removed_note(removed: int, manifests_dir: Path) -> str:
    """Said when a plan wrote no manifests where an earlier plan's were (and now are not)."""
    return (f"the {removed} manifest(s) of an earlier plan in {manifests_dir} were removed: "
            "they no longer match the stack")


def _print_results(out, plan) -> None:
    """Where the steps' results go and who may write there (study.results_plan)."""
    res = plan.results
    if res is None:
        return
    table = Table(title="Results (outlive the cluster)", title_justify="left", show_header=False)
    table.add_column("item")
    table.add_column("value", overflow="fold")
    table.add_row("bucket", res["bucket"])
    table.add_row("run URL", res["results_url"])
    table.add_row("run id", res["run_id"])
    table.add_row("uploads", f"{res['upload_jobs']} (one per step, as {res['writer']})")
    for b in res["bindings"]:
        table.add_row("identity", escape(b))
    out.print(table)


def print_stacks(rows: list[dict]) -> None:
    table = Table(title="Stacks", title_justify="left")
    for col in (
        "stack",
        "cloud",
        "nodes",
        "machine",
        "experiment",
        "USD/h",
        "est. USD",
        "budget",
        "valid",
    ):
        table.add_column(col)
    for r in rows:
        if "error" in r:
            table.add_row(r["stack"], "", "", "", "", "", "", "", "[red]unreadable (below)[/]")
            continue
        table.add_row(
            r["stack"],
            r["cloud"],
            str(r["nodes"]),
            r["machine_type"],
            r["experiment"] or "-",
            f"{r['usd_per_hour']:.2f}" if r["usd_per_hour"] is not None else "?",
            f"{r['estimated_usd']:.2f}" if r["estimated_usd"] is not None else "?",
            f"{r['budget_usd']:g}",
            "yes" if r["ok"] else "[red]no (below)[/]",
        )
    console.out_console().print(table)
    # Listing renders nothing (16 plans would take a while): say what "valid" covers.
    console.out_console().print(
        "valid: stack file, budget, quota and expiry; `study plan STACK` also renders the stack "
        "and checks its objects against the real-cloud rules (`study rules`)",
        markup=False, highlight=False,
    )
