"""`study plan STACK` and `study stacks`: the offline main job (no cloud, CLI or credentials)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from core.errors import StudyError
from study.cli.help import complete_stack


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("stacks")(stacks)


def plan(
    stack: Annotated[str, typer.Argument(
        metavar="STACK", help="stack name, e.g. gke-64-localssd",
        autocompletion=complete_stack)],
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
    manifests: Annotated[
        str | None,
        typer.Option("--manifests", metavar="DIR",
                     help="directory for rendered manifests, new, empty or written by an earlier "
                          "plan (default: plan-out/<stack>)"),
    ] = None,
) -> None:
    """Show every resource, the cost, and the budget and quota checks of STACK, offline.

    Exit: 0 valid and within budget and quota; 3 a check failed; 1 invalid input.
    """
    import gc

    # A short-lived process: the cyclic collector only slows the SDK imports (see make_plan).
    gc.disable()
    from study import console
    from study.plan import make_plan

    try:
        out_dir, removed = _manifest_dir(stack, manifests)
    except StudyError as exc:
        _fail(exc, stack, json_out)
    try:
        p = make_plan(stack, out_dir)
    except StudyError as exc:
        if removed:
            console.info(_removed_note(removed, out_dir))
        _fail(exc, stack, json_out)
    if json_out:
        console.print_json(p.to_json())
        if removed and not p.manifests:
            console.info(_removed_note(removed, out_dir))
    else:
        from study.render import print_plan

        print_plan(p, out_dir, removed)
    if p.exit_code:
        # The violations were printed above (or are in the JSON); only the exit code is left.
        raise typer.Exit(p.exit_code)


def _manifest_dir(stack: str, manifests: str | None):
    """The checked output directory (a typo'd --manifests fails before the plan, in one line)
    and how many files of an earlier plan were removed from it: a plan that fails must not
    leave manifests that no longer match the stack."""
    from core.stacks import project_dir, stack_file
    from study import manifest_dir
    from study.paths import stack_name

    stack_file(stack)  # an unknown stack: "did you mean", before any directory is made
    if manifests is None:
        default = project_dir() / "plan-out" / stack_name(stack)
        out_dir = manifest_dir.prepare(default, "the manifests directory", adopt=True)
    else:
        out_dir = manifest_dir.prepare(manifests)
    return out_dir, manifest_dir.clear(out_dir)


def _removed_note(removed: int, out_dir: Path) -> str:
    from study.render import removed_note

    return removed_note(removed, out_dir)


def stacks(
    json_out: Annotated[bool, typer.Option("--json", help="JSON list on stdout")] = False,
) -> None:
    """List the project's stacks with cloud, nodes, machine type and estimated cost.

    Exit: 0 every stack valid; 3 a stack fails a check; 1 a stack file is unreadable or invalid.
    """
    from core.errors import StudyError
    from core.stacks import stack_names
    from study import console
    from study.plan import exit_code_of, load_and_validate

    rows: list[dict[str, object]] = []
    exit_code = 0
    for name in stack_names():
        try:
            _, spec, report = load_and_validate(name)
        except StudyError as exc:  # one bad file never hides the others
            problems = getattr(exc, "problems", None) or [str(exc)]
            rows.append({"stack": name, "error": problems[0], "problems": problems})
            exit_code = 1
            continue
        est = report.estimate
        errors = [str(p) for p in report.errors]
        if errors:
            code = exit_code_of(errors, any(p.invalid_input for p in report.errors))
            exit_code = 1 if 1 in (exit_code, code) else 3  # invalid input outranks a check
        rows.append(
            {
                "stack": name,
                "cloud": spec.cluster.cloud,
                "nodes": spec.cluster.node_count,
                "machine_type": spec.cluster.machine_type,
                "experiment": spec.experiment.kind if spec.experiment else None,
                "usd_per_hour": round(est.price.total, 3) if est else None,
                "estimated_hours": round(est.hours, 2) if est else None,
                "estimated_usd": round(est.usd, 2) if est else None,
                "budget_usd": spec.budget.usd,
                "ok": not errors,
                "problems": errors,
            }
        )
    if json_out:
        console.print_json(rows)
    else:
        from study.render import print_stacks

        print_stacks(rows)
        for r in rows:  # each problem whole, under the table, where a reader ends up
            for line in r["problems"]:  # type: ignore[attr-defined]
                console.error(f"{r['stack']}: {line}")
    if exit_code:
        raise typer.Exit(exit_code)


def _fail(exc: StudyError, stack: str, json_out: bool) -> NoReturn:
    """Re-raise an input error; under --json first print the one object --json promises.

    The lines still go to stderr, as without --json.
    """
    if not json_out:
        raise exc
    from study import console
    from study.plan import invalid_json

    problems = getattr(exc, "problems", None) or [str(exc)]
    console.print_json(invalid_json(stack, problems))
    for line in problems:
        console.error(line)
    raise typer.Exit(exc.exit_code) from None
