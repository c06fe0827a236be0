"""What the in-cluster guard should do now: a pure function of the clock, the deadline, the
steps' results in the bucket and the node pool's state.

Why pure: the guard is the last line between a forgotten cluster and a bill, so every branch is
tested against a full table of situations (`tests/experiments/test_guard_decision.py`) without a
cloud, a bucket or a clock. Standard library only: the guard mounts this file next to
`guard.py` in the cluster, as the step recorder does with `checks.py`.

Rules, in order:
1. the pool is already at zero: nothing to do (`idle`);
2. the pool has nodes again after the guard's own scale-down: somebody scaled it back on purpose
   (`pulumi up`), so the guard records a `resumed` and counts the deadline again from then;
3. the deadline has passed: `scale-to-zero`;
4. every step's results are in the bucket and the grace has passed since the last step finished
   (or since the resume, if later): `scale-to-zero`;
5. otherwise `wait`.
A stack without steps has nothing to finish: only the deadline applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

Action = Literal["wait", "scale-to-zero", "resumed", "idle"]
RECORD_ACTIONS = ("scale-to-zero", "resumed")  # the decisions the guard writes to the bucket
STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class StackState:
    """The node pool as the cloud reports it, plus what the guard's own records say it did."""

    target_nodes: int  # the pool's / node group's desired size
    created_at: float  # the cluster's creation (epoch seconds): the deadline counts from here
    scaled_down_at: float | None = None  # the guard's last scale-down not followed by a resume
    resumed_at: float | None = None  # the last time the guard saw its scale-down undone


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def started_at(stack: StackState) -> float:
    """Where the run's clock starts: cluster creation, or the last deliberate scale-back."""
    return max(stack.created_at, stack.resumed_at or stack.created_at)


def deadline(stack: StackState, hours: float) -> float:
    """Epoch seconds at which the budget (`hours_within_budget`) is spent."""
    return started_at(stack) + hours * 3600


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decide(
    now: float,
    deadline_at: float,
    grace_s: float,
    steps: Mapping[str, float | None],
    stack: StackState,
) -> Decision:
    """The one thing to do now. `steps`: step -> when it finished, for steps whose results are
    complete in the bucket; None for the others."""
    if stack.target_nodes <= 0:
        since = f" since {iso(stack.scaled_down_at)}" if stack.scaled_down_at else ""
        return Decision("idle", f"the node pool is at zero{since}; nothing is billing for nodes")
    if stack.scaled_down_at is not None:
        return Decision(
            "resumed",
            f"the node pool has {stack.target_nodes} nodes again after the guard scaled it to "
            f"zero at {iso(stack.scaled_down_at)}; the deadline counts again from now",
        )
    if now >= deadline_at:
        return Decision(
            "scale-to-zero",
            f"the deadline {iso(deadline_at)} has passed (budget.max_hours or budget.usd at the "
            f"stack's price, from {iso(started_at(stack))})",
        )
    missing = sorted(s for s, at in steps.items() if at is None)
    if not steps or missing:
        have = len(steps) - len(missing)
        waiting = f"{have} of {len(steps)} steps have results in the bucket; " if steps else ""
        return Decision("wait", f"{waiting}deadline {iso(deadline_at)}")
    done_at = max(at for at in steps.values() if at is not None)
    grace_from = max(done_at, stack.resumed_at or done_at)
    if now >= grace_from + grace_s:
        return Decision(
            "scale-to-zero",
            f"all {len(steps)} steps have results in the bucket, the last finished at "
            f"{iso(done_at)}, and the grace of {int(grace_s)} s has passed",
        )
    return Decision(
        "wait",
        f"all {len(steps)} steps have results in the bucket; scaling to zero at "
        f"{iso(grace_from + grace_s)} unless the stack is destroyed first",
    )


def record_name(ts: float, action: str) -> str:
    """`<UTC timestamp>-<action>.json`, the name the guard writes under `guard/`."""
    return f"{datetime.fromtimestamp(ts, UTC).strftime(STAMP)}-{action}.json"


def parse_record_name(name: str) -> tuple[float, str] | None:
    """(epoch seconds, action) of a guard record's file name; None for anything else."""
    base = name.rsplit("/", 1)[-1].removesuffix(".json")
    stamp, _, action = base.partition("-")
    if action not in RECORD_ACTIONS:
        return None
    try:
        return datetime.strptime(stamp, STAMP).replace(tzinfo=UTC).timestamp(), action
    except ValueError:
        return None


def history(names: Iterable[str]) -> tuple[float | None, float | None]:
    """(scaled_down_at, resumed_at) from the guard's record names: a scale-down counts only when
    no resume came after it; the resume is the latest one."""
    events = sorted(p for p in map(parse_record_name, names) if p is not None)
    scaled_down, resumed = None, None
    for ts, action in events:
        if action == "scale-to-zero":
            scaled_down = ts
        else:
            scaled_down, resumed = None, ts
    return scaled_down, resumed
