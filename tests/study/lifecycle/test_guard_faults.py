"""The guard after `study run` dies: the process is killed (no signal handler, no destroy, no
further write) at each stage, then the world goes on and the guard's CronJob runs every five
minutes until its clock passes the deadline.

Invariant, in every case: the node pool ends at zero no later than one guard period after the
deadline (earlier, one grace after the last step's results are in the bucket), the guard says
why in the bucket, it never cut short a step that would have finished and uploaded before the
deadline, and every such step's results are in the bucket. Nothing the dead process had written
is torn. The fake world is `tests.doubles.lifecycle` (the same one `study run`'s fault tests
use), with the guard's CronJob created right after the study namespace, as the program does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from experiments.guard import Config, run_once
from infra.clusters.shapes import hourly_price
from infra.estimate import hours_within_budget
from infra.spec import load_spec
from tests.conftest import to_config
from tests.doubles.lifecycle import GKE_RESOURCES
from tests.study.lifecycle.conftest import STACK, STEPS3, nightly
from tests.study.lifecycle.guard_fakes import UPLOAD_SECONDS, FakeBucket, FakeNodePool

PERIOD = 300.0  # the CronJob's schedule, */5
GRACE = 900.0
# The program's order: the guard comes with the study namespace, before the results claim.
GUARDED = [*GKE_RESOURCES[:6], ("kubernetes:batch/v1:CronJob", "guard", None, 2),
           *GKE_RESOURCES[6:]]


class ProcessKilled(BaseException):
    """SIGKILL: from here on nothing the process does reaches the world."""


@dataclass(frozen=True)
class Kill:
    id: str
    point: str
    after: int = 0
    guarded: bool = True  # the guard's CronJob exists when the process dies


KILLS = [
    Kill("before-anything", "up.start", guarded=False),
    Kill("network-only", "up.resource", after=2, guarded=False),
    Kill("after-the-guard", "up.resource", after=7),
    Kill("first-step", "up.step", after=5),
    Kill("mid-experiment", "up.step", after=70),
    Kill("last-step", "up.step", after=115),
    Kill("up-returned", "up.end"),
    Kill("watching", "reader.statuses"),
    Kill("collecting-events", "reader.events"),
    Kill("collecting-logs", "reader.log", after=1),
    Kill("collecting-nodes", "reader.nodes"),
    Kill("destroy-starting", "destroy"),
    Kill("destroy-half-way", "destroy.resource", after=2),
]


def guard_config(sec: dict) -> Config:
    spec = load_spec(to_config(sec))
    return Config(results_url=f"gs://study-results-test/{STACK}/run/", run_id="run",
                  cloud="gke", project="study-harness-sandbox", location="us-central1-a",
                  cluster=STACK, pool=f"{STACK}-pool",
                  deadline_hours=hours_within_budget(spec.budget, hourly_price(spec).total),
                  grace_seconds=GRACE, steps=tuple(s.name for s in STEPS3))


def kill_at(h, kill: Kill) -> None:
    """Run `study run` and kill it at `kill`: every later call of the dead process fails
    before it has any effect (fault points and the clock both refuse it)."""
    w = h.world
    dead = [False]
    hit, sleep = w.faults.hit, w.clock.sleep

    def die() -> None:
        dead[0] = True
        raise ProcessKilled

    def guarded_hit(point: str) -> None:
        if dead[0]:
            raise ProcessKilled
        hit(point)

    def guarded_sleep(seconds: float) -> None:
        if dead[0]:
            raise ProcessKilled
        sleep(seconds)

    w.faults.add(kill.point, die, after=kill.after)
    w.faults.hit, w.clock.sleep = guarded_hit, guarded_sleep
    try:
        h.run()
    except ProcessKilled:
        pass  # where the kill surfaces depends on the stage; the world is what matters
    assert dead[0], f"the process never reached {kill.point} (after {kill.after})"
    w.faults.hit, w.clock.sleep = hit, sleep


def guard_ticks(h, cfg: Config, pool: FakeNodePool, bucket: FakeBucket, until: float) -> list:
    """The CronJob: one pass per period while its cluster exists and has nodes to run on."""
    w = h.world
    decisions = []
    while w.clock.now() <= until:
        cluster = w.cloud.resources.get(f"{STACK}-cluster")
        guard = w.cloud.resources.get(f"{STACK}-guard")
        alive = cluster is not None and cluster.deleted_at is None
        if alive and guard is not None and guard.deleted_at is None and \
                pool.nodes_at(w.clock.now()) > 0:
            decisions.append((w.clock.now(), run_once(w.clock.now(), cfg, pool, bucket)))
        w.clock.sleep(PERIOD)
    return decisions


@pytest.mark.parametrize("kill", KILLS, ids=[k.id for k in KILLS])
def test_killed_run_then_the_guard_stops_the_nodes(harness, kill):
    sec = nightly()
    h = harness(sec=sec, steps=list(STEPS3))
    w = h.world
    w.backend.template = GUARDED
    kill_at(h, kill)
    pool, cfg = FakeNodePool(w), guard_config(sec)
    bucket = FakeBucket(w, pool)
    cluster = w.cloud.resources.get(f"{STACK}-cluster")
    assert (w.cloud.resources.get(f"{STACK}-guard") is not None) == kill.guarded
    if not kill.guarded:
        assert pool.nodes_at(w.clock.now()) == 0, "nodes bill with no guard to stop them"
        return
    deadline = cluster.created_at + cfg.deadline_hours * 3600
    guard_ticks(h, cfg, pool, bucket, until=deadline + PERIOD)

    assert pool.nodes_at(w.clock.now()) == 0
    if pool.scaled_at is None:  # the dead process's destroy had already taken the pool
        assert w.cloud.resources[f"{STACK}-pool"].deleted_at is not None
        assert bucket.records == {}
        return
    assert pool.scaled_at <= deadline + PERIOD
    assert pool.scale_calls == 1
    [(name, record)] = bucket.records.items()
    assert name.endswith("-scale-to-zero.json") and record["action"] == "scale-to-zero"
    # Ground truth without the guard: which steps would finish and upload before the deadline.
    w.experiment.stopped_at = None
    would = {s.name: end for s, _start, end in w.experiment.timeline()} \
        if w.experiment.started_at is not None else {}
    in_time = {s for s, end in would.items() if end + UPLOAD_SECONDS <= deadline}
    assert in_time <= set(record["steps_in_bucket"]), "the guard cut short a step"
    if in_time == set(cfg.steps):
        last = max(would.values())
        assert record["reason"].startswith("all 3 steps have results in the bucket")
        assert last + GRACE <= pool.scaled_at <= last + UPLOAD_SECONDS + GRACE + PERIOD
    else:
        assert record["reason"].startswith("the deadline ")
    assert not list(h.results.rglob("*.tmp")), "the killed process left a torn file"


def test_every_stage_is_covered():
    assert {k.point for k in KILLS} >= {"up.start", "up.resource", "up.step", "up.end",
                                        "reader.statuses", "reader.events", "reader.log",
                                        "reader.nodes", "destroy", "destroy.resource"}


def test_killed_during_a_step_longer_than_the_budget_stops_at_the_deadline(harness):
    """A run whose second step outlasts the budget: the guard waits for the first step's
    results, then stops everything at the deadline with the first step safe in the bucket."""
    from tests.doubles.lifecycle import FakeStep

    sec = nightly()
    steps = [FakeStep("pull-cold", 600), FakeStep("pull-warm", 4 * 3600),
             FakeStep("pull-again", 300)]
    h = harness(sec=sec, steps=steps)
    w = h.world
    w.backend.template = GUARDED
    kill_at(h, Kill("long-step", "up.step", after=80))
    pool, cfg = FakeNodePool(w), guard_config(sec)
    bucket = FakeBucket(w, pool)
    deadline = w.cloud.resources[f"{STACK}-cluster"].created_at + cfg.deadline_hours * 3600
    decisions = guard_ticks(h, cfg, pool, bucket, until=deadline + PERIOD)
    assert {d.action for t, d in decisions if t < deadline} == {"wait"}
    assert deadline <= pool.scaled_at <= deadline + PERIOD
    [record] = bucket.records.values()
    assert record["reason"].startswith("the deadline ")
    assert (record["steps_in_bucket"], record["steps_missing"]) == (
        ["pull-cold"], ["pull-again", "pull-warm"])
