"""Every figure the runs' tables support, drawn by the kinds that own them (PNG and SVG).

The drawers live with their kinds (`experiments/kinds/<kind>/figures.py`, helpers in
`experiments.plotting`); this module only asks the registry for them, in registration order,
and draws them, in forked processes when there is more than one core.
"""

from __future__ import annotations

from pathlib import Path

from experiments import plotting
from experiments.plotting import STYLE, Figure, Skipped, plt
from experiments.registry import KINDS, _load_builtin

__all__ = ["Figure", "Skipped", "all_figures", "draw_all", "draw_figures"]


def all_figures() -> tuple:
    """Every registered kind's drawers, kinds in registration order."""
    _load_builtin()
    out: list = []
    for kind in KINDS.values():
        figures = getattr(kind, "figures", None)
        if figures is not None:
            out += figures()
    return tuple(out)


def draw_figures(tables: dict, out_dir: Path, context: dict | None = None,
                 workers: int | None = None) -> tuple[list[Figure], list[Skipped]]:
    """Every figure the tables support, and the ones they do not with the reason.

    Figures are independent and rendering is CPU-bound, so with more than one core the
    drawers run in forked processes (which inherit the tables; only the small Figure records
    come back). The result is in `all_figures` order either way.
    """
    from analysis.events import free_cores

    workers = workers or free_cores()
    every = all_figures()
    draws = [draw for draw in every if _has_input(draw, tables)]
    if workers > 1 and len(draws) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Forked workers inherit the tables through this global: only the drawer's index
        # crosses the pipe, not the tables.
        _SHARED[:] = [every, tables, out_dir, context]
        try:
            fork = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=min(workers, len(draws)),
                                     mp_context=fork) as pool:
                results = list(pool.map(_draw_shared, [every.index(d) for d in draws]))
        finally:
            _SHARED.clear()
    else:
        results = [_draw_one(draw, tables, out_dir, context) for draw in draws]
    drawn: list[Figure] = []
    skipped: list[Skipped] = []
    for items in results:
        for item in items:
            (drawn if isinstance(item, Figure) else skipped).append(item)
    return drawn, skipped


_SHARED: list = []


def _has_input(draw, tables: dict) -> bool:
    """A drawer marked with `plotting.needs` is worth a process only when its table is there."""
    name = getattr(draw, "needs", None)
    return name is None or plotting.table(tables, name) is not None


def _draw_shared(index: int) -> list:
    every, *rest = _SHARED
    return _draw_one(every[index], *rest)


def _draw_one(draw, tables: dict, out_dir: Path, context: dict | None) -> list:
    with plt.style.context(STYLE):
        return draw(tables, out_dir, context)


def draw_all(tables: dict, out_dir: Path, context: dict | None = None) -> list[Figure]:
    """Every figure the tables support (see `draw_figures` for the skipped ones)."""
    return draw_figures(tables, out_dir, context)[0]
