"""`results/<stack>/<run-id>/run-state.json`: where a run stands, for `--resume` and `destroy`.

Saved (atomically) at every stage change, so a crash at any point leaves a consistent record: the
stage reached, whether cloud resources may exist, the finished steps, and the clock figures the
deadline and the cost are computed from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import StudyError

STATE_FILE = "run-state.json"
# Statuses after which a run may be resumed (cluster may or may not still exist).
RESUMABLE = ("failed", "interrupted", "deadline", "stalled", "destroy-incomplete", "running")


@dataclass
class RunState:
    stack: str
    run_id: str
    status: str = "running"  # running|succeeded|failed|interrupted|deadline|stalled|...
    stage: str = "preflight"  # preflight|up|watch|collect|destroy|done
    started_at: float = 0.0
    first_resource_at: float | None = None
    deadline_at: float | None = None
    experiment_done_at: float | None = None
    destroy_started_at: float | None = None
    destroyed_at: float | None = None
    ended_at: float | None = None
    resources_may_exist: bool = False
    kept: bool = False
    finished_steps: list[str] = field(default_factory=list)
    usd_per_hour: float = 0.0
    estimated_usd: float | None = None
    node_count: int = 0
    machine_type: str = ""
    budget_usd: float | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    exit_code: int | None = None
    attempts: int = 1
    leftovers: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: dict) -> RunState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def hours_billed(self, now: float) -> float:
        """Hours from the first resource to the destroy's end, else the run's end, else `now`.

        A kept cluster (or a leftover) costs more after the run ended; that is reported with the
        leftovers, not folded into the run's cost, so the figures stay reproducible.
        """
        if self.first_resource_at is None:
            return 0.0
        end = self.destroyed_at or self.ended_at or now
        return max(0.0, end - self.first_resource_at) / 3600

    def spent_usd(self, now: float) -> float:
        return self.usd_per_hour * self.hours_billed(now)


def new_run_id(now: float, stack_dir: Path) -> str:
    """UTC timestamp id, sortable; a suffix keeps two runs in the same second apart."""
    base = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id, n = base, 1
    while (stack_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def load_state(run_dir: Path) -> RunState:
    path = run_dir / STATE_FILE
    try:
        return RunState.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        msg = f"no {STATE_FILE} in {run_dir}; is this a run directory?"
        raise StudyError(msg) from None
    except (json.JSONDecodeError, TypeError) as exc:
        msg = f"{path}: unreadable run state ({exc}); remove it or pass another run"
        raise StudyError(msg) from None


def run_dirs(results_root: Path, stack: str) -> list[Path]:
    """The stack's run directories, oldest first (run ids sort by time)."""
    base = results_root / stack
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if p.is_dir() and (p / STATE_FILE).is_file())


def latest_state(results_root: Path, stack: str) -> RunState | None:
    dirs = run_dirs(results_root, stack)
    return load_state(dirs[-1]) if dirs else None
