"""The guard's two seams over the lifecycle's fake world (`tests.doubles.lifecycle`): the node
pool it scales and the results bucket it reads and records to.

The bucket side models the in-cluster uploader the durable-results side runs: a step's results
land in the bucket `UPLOAD_SECONDS` after the step finishes, provided the node pool still has
nodes then (the uploader is a pod). Scaling to zero stops the experiment where it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tests.doubles.lifecycle import World

UPLOAD_SECONDS = 30.0
NODES = 4


class FakeNodePool:
    """`experiments.guard.NodeScaler` over the fake cloud's `<stack>-pool` and `-cluster`."""

    def __init__(self, world: World):
        self.w = world
        self.scaled_at: float | None = None
        self.scale_calls = 0

    def _live(self, suffix: str):
        r = self.w.cloud.resources.get(f"{self.w.stack}-{suffix}")
        return r if r is not None and r.deleted_at is None else None

    def nodes_at(self, t: float) -> int:
        """What the pool has at time t (0 before it exists, after its delete or our scale)."""
        r = self.w.cloud.resources.get(f"{self.w.stack}-pool")
        if r is None or t < r.created_at or (r.deleted_at is not None and t >= r.deleted_at):
            return 0
        return 0 if self.scaled_at is not None and t >= self.scaled_at else NODES

    def pool(self) -> tuple[int, float]:
        cluster = self._live("cluster")
        assert cluster is not None, "the guard runs only while its cluster exists"
        return self.nodes_at(self.w.clock.now()), cluster.created_at

    def scale_to_zero(self) -> None:
        self.scale_calls += 1
        now = self.w.clock.now()
        self.scaled_at = now if self.scaled_at is None else self.scaled_at
        exp = self.w.experiment
        exp.stopped_at = min(exp.stopped_at or now, now)


@dataclass
class FakeBucket:
    """`experiments.guard.ResultsStore`: the run's URL as the uploader and the guard fill it."""

    world: World
    pool: FakeNodePool
    records: dict[str, dict] = field(default_factory=dict)

    def finished(self) -> dict[str, float]:
        """step -> when it finished, for the steps the experiment finished so far."""
        out = {}
        for name, st in self.world.experiment.statuses().items():
            if st["finished_at"]:
                out[name] = datetime.fromisoformat(st["finished_at"]).timestamp()
        return out

    def uploaded(self) -> dict[str, float]:
        now = self.world.clock.now()
        return {s: f for s, f in self.finished().items()
                if f + UPLOAD_SECONDS <= now and self.pool.nodes_at(f + UPLOAD_SECONDS) > 0}

    def has_step_results(self, step: str) -> bool:
        return step in self.uploaded()

    def step_finished_at(self, step: str) -> float | None:
        return self.uploaded().get(step)

    def write_record(self, name: str, data: dict) -> None:
        assert name not in self.records, f"record {name} written twice"
        self.records[name] = data

    def record_names(self) -> list[str]:
        return sorted(self.records)
