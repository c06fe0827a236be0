"""`results/<stack>/<run-id>/run-state.json`: where a run stands, for `--resume` and `destroy`.

Saved (atomically) at every stage change, so a crash at any point leaves a consistent record: the
stage reached, whether cloud resources may exist, the finished steps, and the clock figures the
deadline and the cost are computed from. The stage moves only along `stages.TRANSITIONS`
(`advance`); stage and status are the enums of `stages`, stored as the strings they always were.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import StudyError
from study.lifecycle.stages import RESUMABLE, Stage, Status, check_transition

__all__ = ["RESUMABLE", "STATE_FILE", "RunState", "latest_state", "load_state", "new_run_id",
           "run_dirs"]

STATE_FILE = "run-state.json"


@dataclass
class RunState:
    stack: str
    run_id: str
    status: Status = Status.RUNNING
    stage: Stage = Stage.PREFLIGHT
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
        """Any file an earlier version wrote: unknown keys are ignored, missing ones default;
        a stage or status outside the enums is a ValueError naming it."""
        known = {f.name for f in fields(cls)}
        st = cls(**{k: v for k, v in data.items() if k in known})
        st.stage, st.status = Stage(st.stage), Status(st.status)
        return st

    def advance(self, stage: Stage) -> None:
        """Move to `stage`, if `stages.TRANSITIONS` allows it from here (else IllegalTransition)."""
        self.stage = check_transition(Stage(self.stage), stage)

    def reopen(self) -> None:
        """`--resume`: a new attempt of this run starts at the preflight, whatever stage the last
        one reached (a crash may have left any)."""
        self.attempts += 1
        self.status, self.exit_code, self.message = Status.RUNNING, None, ""
        self.ended_at, self.leftovers = None, []
        self.stage = Stage.PREFLIGHT

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
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
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
