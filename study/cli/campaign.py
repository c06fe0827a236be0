"""`study campaign plan NAME` and `study campaign run NAME`: a node-count sweep on one cluster.

Exit codes as for `study plan` and `study run`: 0 success; 1 invalid input or a failed member;
3 a check failed (plan: budget or quota; run: stopped before a member that did not fit); 4 the
campaign's deadline; 5 destroy incomplete; 130/143 interrupted.
"""

from __future__ import annotations

from typing import Annotated

import typer

campaign_app = typer.Typer(
    help="Sweep a stack's node count on one cluster resized in place (campaigns/NAME.yaml).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(campaign_app, name="campaign")


def complete_campaign(incomplete: str) -> list[str]:
    from core.stacks import project_dir
    from study.campaign.spec import campaign_names

    try:
        return [n for n in campaign_names(project_dir()) if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion never fails loudly
        return []


Name = Annotated[str, typer.Argument(metavar="NAME", help="campaign name (campaigns/NAME.yaml)",
                                     autocompletion=complete_campaign)]


def services(campaign):
    """The real services of each stack of the campaign; tests replace this function."""
    from study.campaign.orchestrator import CampaignServices
    from study.lifecycle.services import real_services, results_root

    by_stack = {s: real_services() for s in campaign.spec.stacks()}
    return CampaignServices(lifecycle=by_stack.__getitem__, results_root=results_root())


@campaign_app.command("plan")
def plan(
    name: Name,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """Every member's nodes, steps, cost and quota fit; the sweep's cost two ways, offline.

    Exit: 0 valid and within budget and quota; 3 a check failed; 1 invalid input.
    """
    from core.errors import StudyError
    from study import console
    from study.campaign.plan import plan_campaign
    from study.campaign.spec import load_campaign

    try:
        p = plan_campaign(load_campaign(name))
    except StudyError as exc:
        if not json_out:
            raise
        problems = getattr(exc, "problems", None) or [str(exc)]
        console.print_json({"campaign": name, "members": [], "cost": None,
                            "violations": problems})
        raise typer.Exit(exc.exit_code) from None
    if json_out:
        console.print_json(p.to_json())
    else:
        from study.campaign.render import print_campaign_plan

        print_campaign_plan(p)
    if p.exit_code:
        raise typer.Exit(p.exit_code)


@campaign_app.command("run")
def run(
    name: Name,
    resume: Annotated[bool, typer.Option(
        "--resume", help="continue after the last finished member of the last run")] = False,
    parallel: Annotated[bool, typer.Option(
        "--parallel", help="run the campaign's stacks (clouds) side by side, each its own "
                           "cluster (the file's `parallel: true` does the same)")] = False,
) -> None:
    """Run every member on one cluster resized in place; destroy at the end - always.

    Exit: 0 success; 1 a member failed or invalid input;
    3 stopped before a member that does not fit (quota, budget);
    4 the campaign's deadline; 5 destroy incomplete;
    130/143 interrupted.
    """
    from study.campaign.orchestrator import run_campaign
    from study.campaign.spec import load_campaign
    from study.cli.run import report

    campaign = load_campaign(name)
    if parallel:
        from dataclasses import replace

        campaign = replace(campaign, spec=campaign.spec.model_copy(update={"parallel": True}))
    out = run_campaign(campaign, services(campaign), resume=resume)
    report(out.exit_code, out.message, out.details)
    from study import console

    console.out_console().print(str(out.run_dir), markup=False, highlight=False)
    if out.exit_code:
        raise typer.Exit(out.exit_code)


def print_campaign_analysis(campaign_dir, out) -> None:
    """`study analyze CAMPAIGN_DIR`: every member's tables and the by-node-count views."""
    from analysis.campaign import analyze_campaign
    from analysis.pipeline import warnings_of
    from study.cli.analyze import print_outputs
    from study.console import info, warn

    result = analyze_campaign(campaign_dir, out)
    for m in result.members:
        info(f"member {m.name}: {m.stack} at {m.nodes} nodes, from {m.path}")
    for data in result.datas:
        for line in warnings_of(data):
            warn(line)
    print_outputs(result, out)
