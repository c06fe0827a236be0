"""`results/ledger.jsonl`: one line per finished (or resumed-and-finished) run, for `study runs`.

Append-only so concurrent runs of different stacks never rewrite each other's lines; the last line
of a run id wins when a resumed run finishes again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from study.lifecycle.state import RunState

LEDGER = "ledger.jsonl"


@dataclass(frozen=True)
class LedgerEntry:
    stack: str
    run_id: str
    status: str
    exit_code: int | None
    started_at: float
    ended_at: float | None
    duration_hours: float
    node_hours: float
    cost_usd: float

    @classmethod
    def of(cls, st: RunState, now: float) -> LedgerEntry:
        hours = st.hours_billed(now)
        end = st.ended_at or now
        return cls(
            stack=st.stack,
            run_id=st.run_id,
            status=st.status,
            exit_code=st.exit_code,
            started_at=st.started_at,
            ended_at=st.ended_at,
            duration_hours=round(max(0.0, end - st.started_at) / 3600, 4),
            node_hours=round(st.node_count * hours, 4),
            cost_usd=round(st.spent_usd(now), 4),
        )


def append(results_root: Path, entry: LedgerEntry) -> None:
    """One JSON line, written with a single O_APPEND write (atomic for lines this short)."""
    results_root.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry.__dict__, sort_keys=True) + "\n").encode()
    fd = os.open(results_root / LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read(results_root: Path, stack: str | None = None) -> list[LedgerEntry]:
    """Entries in first-seen order, the last line per (stack, run id) winning; bad lines skipped."""
    path = results_root / LEDGER
    if not path.is_file():
        return []
    latest: dict[tuple[str, str], LedgerEntry] = {}
    for raw in path.read_text().splitlines():
        try:
            entry = LedgerEntry(**json.loads(raw))
        except (json.JSONDecodeError, TypeError):
            continue  # a torn last line from a crash must not hide every other run
        if stack is None or entry.stack == stack:
            latest[(entry.stack, entry.run_id)] = entry
    return list(latest.values())
