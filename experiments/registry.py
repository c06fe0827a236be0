"""The registry of experiment kinds: `@register` adds one, `get_kind` looks one up.

Kinds register themselves when `experiments.kinds` is imported; an unknown kind is an error that
lists the known ones. A kind is one plugin: params, steps and durations, rendering, and
(optionally, `experiments.base.ResultsPlugin`) its parser, tables, metrics and figures, which
analysis reaches only through `results_kinds` and `metric`. `registered` adds a kind for the
length of a `with` block (tests), and removes it after.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

from experiments.base import ExperimentKind, Metric

KINDS: dict[str, ExperimentKind] = {}


def register(cls: type) -> type:
    name = cls.name  # type: ignore[attr-defined]
    if name in KINDS:
        msg = f"experiment kind '{name}' registered twice"
        raise ValueError(msg)
    KINDS[name] = cls()
    return cls


@contextmanager
def registered(cls: type) -> Iterator[ExperimentKind]:
    """`cls` registered inside the block only (a test's own kind must not outlive the test)."""
    _load_builtin()
    register(cls)
    try:
        yield KINDS[cls.name]  # type: ignore[attr-defined]
    finally:
        del KINDS[cls.name]  # type: ignore[attr-defined]


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


def results_kinds() -> list[ExperimentKind]:
    """Kinds whose steps' output analysis parses, in registration order (the tables' order)."""
    _load_builtin()
    return [k for k in KINDS.values() if hasattr(k, "parse")]


def metrics() -> dict[str, Metric]:
    """Every metric a kind declares, by name."""
    _load_builtin()
    out: dict[str, Metric] = {}
    for kind in KINDS.values():
        for m in getattr(kind, "metrics", ()):
            out[m.name] = m
    return out


def metric(name: str) -> Metric:
    """A metric's metadata; KeyError naming the known ones when no kind declares it."""
    known = metrics()
    try:
        return known[name]
    except KeyError:
        msg = (f"metric '{name}' is declared by no experiment kind; known: "
               f"{', '.join(sorted(known))}")
        raise KeyError(msg) from None


def _load_builtin() -> None:
    if importlib.util.find_spec("experiments.kinds") is not None:
        importlib.import_module("experiments.kinds")
