"""A stack's configuration, read once per command and passed down to everything that needs it.

Why: `study run` used to read and parse the stack file in the CLI, again for the plan, again
inside the plan's program and once more for provenance; four reads could even see four
different files if someone edited it mid-run. `StackConfig.read` is the one read (through
`core.stacks.read_stack_config`: the reader's refusals and the user's overlay); the typed spec
is built from it on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class StackConfig:
    stack: str
    values: dict[str, str] = field(repr=False)  # key -> string, as the engine hands it over

    @classmethod
    def read(cls, stack: str) -> StackConfig:
        from core.stacks import read_stack_config

        return cls(stack, read_stack_config(stack))

    @cached_property
    def spec(self) -> Any:
        """The typed spec (`infra.spec.load_spec`; SpecError lists every problem)."""
        from infra.spec import load_spec

        return load_spec(self.values)
