"""A resume on a new cluster pre-pulls again; an `up` on the same nodes never does.

The pre-pull puts the helper images and the upload's CLI image in every node's cache
(experiments.pernode); those caches go with a destroyed cluster, so a `--resume` there must run
it again or the first measured step pays the cold pulls (and the upload beside it pulls its CLI
image). On nodes that already ran it, rendering it again would only re-create its DaemonSet,
which its recorder already deleted.
"""

from __future__ import annotations

import signal

from core.layout import RESUME_ENV, RESUME_NEW_NODES_ENV
from study.lifecycle.interfaces import TransientError
from study.lifecycle.run import EXIT_OK
from study.lifecycle.state import load_state
from tests.doubles.lifecycle import FakeStep, raising


def steps() -> list[FakeStep]:
    return [FakeStep("prepull", 60, node_local=True), FakeStep("pull-cold", 600),
            FakeStep("pull-warm", 300)]


def test_a_resume_on_a_new_cluster_pre_pulls_again(harness):
    h = harness(steps=steps())
    h.world.faults.add("up.step", h.world.signals.action(signal.SIGTERM), after=70)
    first = h.run()
    assert first.exit_code == 143
    assert load_state(first.run_dir).finished_steps == ["prepull", "pull-cold"]
    second = h.run(resume=True)
    assert second.exit_code == EXIT_OK, (second.message, second.details)
    env = h.world.backend.envs[-1]
    assert (env[RESUME_ENV], env[RESUME_NEW_NODES_ENV]) == ("prepull,pull-cold", "1")
    assert h.world.experiment.skip == {"pull-cold"}


def test_a_retry_on_the_new_cluster_keeps_its_pre_pull_done(harness):
    """The resumed run's first `up` pre-pulled on the new nodes, then failed: its retry is on
    those nodes, so the pre-pull is completed like any recorded step, and the nodes are not new."""
    h = harness(steps=steps())
    h.world.faults.add("up.step", h.world.signals.action(signal.SIGTERM), after=70)
    h.run()
    h.world.faults.add("up.step", raising(TransientError("connection reset by peer")), after=80)
    second = h.run(resume=True)
    assert second.exit_code == EXIT_OK, (second.message, second.details)
    first_up, retry = h.world.backend.envs[-2:]
    assert first_up[RESUME_NEW_NODES_ENV] == "1"
    assert RESUME_NEW_NODES_ENV not in retry
    assert retry[RESUME_ENV] == "prepull,pull-cold"


def test_a_resume_on_a_kept_cluster_keeps_its_pre_pull_done(harness):
    h = harness(steps=steps())
    h.world.faults.add("up.step", h.world.signals.action(signal.SIGINT), after=70)
    first = h.run(keep=True)
    assert first.exit_code == 130 and h.world.cloud.live(h.world.stack)
    second = h.run(resume=True)
    assert second.exit_code == EXIT_OK, (second.message, second.details)
    env = h.world.backend.envs[-1]
    assert env[RESUME_ENV] == "prepull,pull-cold"
    assert RESUME_NEW_NODES_ENV not in env
