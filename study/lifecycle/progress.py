"""Live progress of a run: bars on a terminal, plain lines in CI (study.console.interactive()).

The orchestrator reports numbers through `Progress`; it never touches rich itself, so tests use
`RecordingProgress` and assert on what a user would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class Snapshot:
    resources_done: int = 0
    resources_total: int | None = None
    steps_done: int = 0
    steps_total: int | None = None
    elapsed_s: float = 0.0
    spent_usd: float = 0.0
    budget_usd: float = 0.0


class Progress(Protocol):
    def update(self, snap: Snapshot) -> None: ...

    def line(self, msg: str) -> None: ...

    def close(self) -> None: ...


def _fmt(s: Snapshot) -> str:
    rt = "?" if s.resources_total is None else str(s.resources_total)
    st = "?" if s.steps_total is None else str(s.steps_total)
    mins = s.elapsed_s / 60
    return (
        f"resources {s.resources_done}/{rt} | steps {s.steps_done}/{st} | "
        f"{mins:.1f} min | {s.spent_usd:.2f} of {s.budget_usd:.2f} USD"
    )


class PlainProgress:
    """One line per change (resources or steps), plus a heartbeat every `every_s` seconds."""

    def __init__(self, every_s: float = 300.0):
        from study.console import info

        self._info = info
        self._last: tuple[int, int] | None = None
        self._last_at = -1e18
        self._every = every_s

    def update(self, snap: Snapshot) -> None:
        key = (snap.resources_done, snap.steps_done)
        if key != self._last or snap.elapsed_s - self._last_at >= self._every:
            self._last, self._last_at = key, snap.elapsed_s
            self._info(_fmt(snap))

    def line(self, msg: str) -> None:
        self._info(msg)

    def close(self) -> None:
        pass


class RichProgress:
    """Three bars: resources created, steps done, money spent against the budget."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        from study.console import err_console

        self._p = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[extra]}"),
            console=err_console(),
            transient=False,
        )
        self._res = self._p.add_task("resources", total=None, extra="")
        self._steps = self._p.add_task("steps", total=None, extra="")
        self._money = self._p.add_task("budget", total=None, extra="")
        self._p.start()

    def update(self, snap: Snapshot) -> None:
        self._p.update(self._res, completed=snap.resources_done, total=snap.resources_total)
        self._p.update(
            self._steps,
            completed=snap.steps_done,
            total=snap.steps_total,
            extra=f"{snap.elapsed_s / 60:.1f} min elapsed",
        )
        cents = round(snap.spent_usd * 100)
        self._p.update(
            self._money,
            completed=cents,
            total=max(1, round(snap.budget_usd * 100)),
            extra=f"{snap.spent_usd:.2f} / {snap.budget_usd:.2f} USD",
        )

    def line(self, msg: str) -> None:
        self._p.console.print(msg, markup=False, highlight=False)

    def close(self) -> None:
        self._p.stop()


@dataclass
class RecordingProgress:
    snapshots: list[Snapshot] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def update(self, snap: Snapshot) -> None:
        self.snapshots.append(Snapshot(**snap.__dict__))

    def line(self, msg: str) -> None:
        self.lines.append(msg)

    def close(self) -> None:
        pass


def default_progress() -> Progress:
    from study.console import interactive

    return RichProgress() if interactive() else PlainProgress()
