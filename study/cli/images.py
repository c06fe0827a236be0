"""`study images lock STACK` and `study images mirror STACK`: the image lock and the mirror.

Both talk to registries, so both need the network and (for private registries) credentials in
the docker config; without them each says which image and registry failed, on one line, and
exits 1. Neither touches a cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from study.cli.help import complete_stack

images_app = typer.Typer(
    help="Pin every image a stack runs by digest (lock) and copy them into its registry (mirror).",
    no_args_is_help=True,
)

StackArg = Annotated[str, typer.Argument(
    metavar="STACK", help="stack name",
    autocompletion=complete_stack)]


def register(app: typer.Typer) -> None:
    app.add_typer(images_app, name="images")


@images_app.command("lock")
def lock(
    stacks: Annotated[list[str], typer.Argument(
        metavar="STACK", help="stack names",
        autocompletion=complete_stack)],
    lock_file: Annotated[
        Path | None,
        typer.Option("--lock", help="lock file to update (default: infra/image_lock.json)"),
    ] = None,
) -> None:
    """Resolve every image the stacks run to its digest now and record it in the lock.

    The lock file is written once, after every stack resolved: a failure leaves it unchanged.
    """
    from core import image_lock
    from study import console
    from study.images import lock_images, stack_images, write_lock

    path = lock_file or image_lock.LOCK_PATH
    try:
        current = image_lock.load(path)
    except ValueError as exc:
        from core.errors import StudyError

        raise StudyError(str(exc)) from None
    for stack in stacks:
        found = stack_images(stack)
        current = lock_images(stack, found.refs, current, found.sources)
        console.info(f"resolved {len(found.refs)} images of {stack}")
    write_lock(current, path)
    console.info(f"wrote {path}")


@images_app.command("mirror")
def mirror(stack: StackArg) -> None:
    """Copy every image the stack runs into its own registry (study:cluster.image_registry)."""
    from core import image_lock
    from study import console
    from study.images import copy_image, mirror_plan, stack_images

    found = stack_images(stack)
    lock = image_lock.committed()
    pairs = mirror_plan(found)
    for src, dst in pairs:
        # What the pods will ask for: the digest the stack renders, else the lock's.
        want = found.digests.get(dst) or found.digests.get(src) or lock.digest(src)
        digest = copy_image(src, dst, want)
        console.out_console().print(f"{src} -> {dst}@{digest}", markup=False, highlight=False)
    console.info(f"mirrored {len(pairs)} images of {stack}")
