"""The registry of experiment kinds: `@register` adds one, `get_kind` looks one up.

Kinds register themselves when `experiments.kinds` is imported; an unknown kind is an error that
lists the known ones.
"""

from __future__ import annotations

import importlib
import importlib.util

from experiments.base import ExperimentKind

KINDS: dict[str, ExperimentKind] = {}


def register(cls: type) -> type:
    name = cls.name  # type: ignore[attr-defined]
    if name in KINDS:
        msg = f"experiment kind '{name}' registered twice"
        raise ValueError(msg)
    KINDS[name] = cls()
    return cls


def known_kinds() -> list[str]:
    _load_builtin()
    return sorted(KINDS)


def get_kind(name: str) -> ExperimentKind:
    _load_builtin()
    try:
        return KINDS[name]
    except KeyError:
        msg = f"unknown experiment kind '{name}'; known: {', '.join(sorted(KINDS)) or '(none)'}"
        raise KeyError(msg) from None


def _load_builtin() -> None:
    if importlib.util.find_spec("experiments.kinds") is not None:
        importlib.import_module("experiments.kinds")
