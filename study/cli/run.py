"""`study run STACK` and `study destroy STACK`: the guarantees around plain `pulumi up`/`destroy`.

Exit codes: 0 success; 1 a step or the collection failed; 3 preflight (budget, quota, validation),
nothing created; 4 stopped at the deadline or because the experiment stalled; 5 destroy did not
complete (resources listed, with the command to finish); 130/143 SIGINT/SIGTERM.
"""

from __future__ import annotations

from typing import Annotated

import typer

from study.cli.help import complete_stack


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("destroy")(destroy)


def services():
    """The real services; tests replace this function to inject fakes."""
    from study.lifecycle.services import real_services

    return real_services()


def run(
    stack: Annotated[str, typer.Argument(
        metavar="STACK", help="stack name, e.g. gke-4-nightly",
        autocompletion=complete_stack)],
    keep: Annotated[
        bool, typer.Option("--keep", help="leave the cluster up (its expiry still applies)")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the last interrupted run of STACK")
    ] = False,
    stall_minutes: Annotated[
        float, typer.Option("--stall-minutes", min=1, metavar="MINUTES",
                           help="stop when no step progressed this long")
    ] = 30.0,
) -> None:
    """Preflight, bring STACK up, run its experiment, collect, then destroy - always.

    Exit: 0 success; 1 failed (a step, the collection), invalid input,
    or no pulumi CLI or passphrase; 3 preflight failed, nothing created;
    4 stopped at the deadline or stalled; 5 destroy incomplete;
    130/143 interrupted.
    """
    from study.lifecycle.run import RunOptions, run_stack
    from study.lifecycle.stack_config import StackConfig
    from study.paths import stack_name

    # An unknown stack or an invalid stack file is invalid input (exit 1, one line per problem),
    # not a failed run: nothing is recorded in results/ and there is nothing to --resume. A
    # --resume goes straight to the orchestrator, whose cleanup must run whatever the file says.
    # The file is read here once; the plan, the preflight and provenance use this read.
    config = StackConfig.read(stack)  # an unknown stack: "did you mean", before the name rule
    stack_name(stack)  # joined into results/<stack>/
    if not resume:
        from core.errors import SpecError
        from core.stacks import placeholder_problems

        placeholder = placeholder_problems(config.spec)
        if placeholder:  # a plan may use it; a run would create resources in no one's project
            raise SpecError(placeholder)
    out = run_stack(stack, services(), RunOptions(keep=keep, resume=resume,
                                                  stall_seconds=stall_minutes * 60),
                    config=config)
    report(out.exit_code, out.message, out.details)
    if out.collection is not None:  # the result, as `study collect` prints it: for scripts
        from study import console

        console.out_console().print(str(out.run_dir), markup=False, highlight=False)
    if out.exit_code:
        raise typer.Exit(out.exit_code)


def report(code: int, message: str, details: list[str]) -> None:
    from study import console

    if code == 0:
        console.info(message)
    else:
        console.error(message)
    for line in details:
        console.info(f"  {line}")


def destroy(
    stack: Annotated[str, typer.Argument(
        metavar="STACK", help="stack name",
        autocompletion=complete_stack)],
) -> None:
    """Destroy STACK with retries, then verify nothing carrying its labels remains.

    Exit 0 when nothing remains (also for a stack never created),
    5 when the destroy did not complete (leftovers listed).
    """
    from core.stacks import read_stack_config
    from study.lifecycle.commands import destroy_command
    from study.lifecycle.run import EXIT_LEFTOVERS
    from study.paths import stack_name

    config = read_stack_config(stack)
    stack_name(stack)
    out = destroy_command(stack, services(), config)
    if out.never_created and out.ok:
        listed = (f"nothing labelled stack={stack} remains" if out.verified
                  else f"labelled resources not checked ({out.errors[-1]})")
        report(0, f"nothing to destroy: {stack} has no resources in its Pulumi state (never "
                  f"created here, or already destroyed); {listed}", [])
        return
    if out.ok:
        report(0, f"destroyed {stack}; nothing labelled stack={stack} remains", [])
        return
    details = [f"leftover: {r}" for r in out.leftovers] + out.errors[-3:]
    details.append(f"finish it with: {out.finish_command(stack)}")
    what = (f"{stack} has no Pulumi state, yet resources carry its labels" if out.never_created
            else f"destroy of {stack} did not complete after {out.attempts} attempt(s)")
    report(EXIT_LEFTOVERS, what, details)
    raise typer.Exit(EXIT_LEFTOVERS)
