"""How `study --help` reads: commands in the README's order, usage lines without type noise.

typer 0.29 prints a type after every parameter (`--keep <bool>`, `STACK <str>`) and wraps
required arguments in braces (`study run [OPTIONS] {STACK}`); click and most command lines
write `study run [OPTIONS] STACK` and show a value's name only where one is taken. The command
group orders its commands by `ORDER` instead of by registration, so the order is stated once.
"""

from __future__ import annotations

from typer.core import TyperArgument, TyperGroup, TyperOption

# The README's command table, top to bottom; a command missing here is listed after these.
ORDER = (
    "plan", "rules", "images", "stacks", "new", "compare-stacks", "run", "collect", "destroy",
    "runs", "bucket", "janitor", "campaign", "analyze", "compare", "report",
)


class StudyGroup(TyperGroup):
    """The root group: commands listed in `ORDER`."""

    def list_commands(self, ctx) -> list[str]:
        names = super().list_commands(ctx)
        rank = {n: i for i, n in enumerate(ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), names.index(n)))


# typer offers no setting for these (0.29: `metavar=` names an option's value, but flags still
# show `<bool>`, an argument's type column ignores its metavar and the usage line wraps it in
# braces), so the three display methods are replaced; a typer without them is left as it is.
_HOOKS = ((TyperOption, "display_type_rich"), (TyperArgument, "display_type_rich"),
          (TyperArgument, "_usage_display_name"))
_typer_option_type = getattr(TyperOption, "display_type_rich", None)


def _option_value_name(self: TyperOption, ctx) -> str | None:
    """A flag shows nothing; an option taking a value shows its metavar, else its type's name
    (`--stall-minutes FLOAT`, as click does, not `<float>`)."""
    if self.is_flag or self.count:
        return None
    shown = _typer_option_type(self, ctx) if _typer_option_type else None
    if shown is None or self.metavar is not None:
        return shown
    return shown.replace("<", "").replace(">", "").upper()


def _argument_value_name(self: TyperArgument, ctx) -> str | None:
    return None  # the argument's name (STACK, RUN_DIR) already says what it takes


def _argument_usage_name(self: TyperArgument) -> str:
    """`STACK`, `[STACK]`, `RUN_DIR...`; a metavar that already says `...` gets no second one
    (as typer's own help column, `_rich_display_name`, does)."""
    name = self.display_name_raw
    if self.nargs != 1 and not name.endswith("..."):
        name += "..."
    return name if self.required else f"[{name}]"


def quiet_types() -> bool:
    """Install the click-style names on typer's parameter classes (this process only); False,
    and typer's own help, when this typer lacks any of the methods replaced."""
    if not all(callable(getattr(cls, name, None)) for cls, name in _HOOKS):
        return False
    TyperOption.display_type_rich = _option_value_name  # type: ignore[method-assign]
    TyperArgument.display_type_rich = _argument_value_name  # type: ignore[method-assign,assignment]
    TyperArgument._usage_display_name = _argument_usage_name  # type: ignore[method-assign]
    return True


def complete_stack(incomplete: str) -> list[str]:
    """Shell completion of a STACK argument: the project's stack names."""
    from core.errors import StudyError
    from core.stacks import stack_names

    try:
        return [n for n in stack_names() if n.startswith(incomplete)]
    except StudyError:  # outside a project: nothing to offer, and no error in the shell
        return []
