"""Fixtures for the lifecycle tests: a fake world around a real stack file and its real plan."""

from __future__ import annotations

import copy
import json
from functools import cache

import pytest

from study.lifecycle.destroy import DestroyPolicy
from study.lifecycle.progress import RecordingProgress
from study.lifecycle.run import RunOptions, Services
from tests.conftest import NOW, sections, to_config
from tests.doubles.lifecycle import FakeStep, make_world

STACK = "gke-4-nightly"


@cache
def _plan(sec_json: str):
    """The real offline plan (mock engine) of a nightly-like stack; cached, it takes ~2 s."""
    from unittest import mock

    from study.plan import make_plan

    sec = json.loads(sec_json)
    with mock.patch("study.plan.read_stack_config", lambda stack: to_config(sec)):
        return make_plan(STACK, now=NOW)


# The nightly stack's cluster, budget and quota without its experiment: figures the tests assert
# on (price, deadline, stall window) must not move when the experiment in the stack file changes.
BASE = {
    "study": "nightly",
    "owner": "study-harness",
    "ttl": "12h",
    "cluster": {
        "cloud": "gke", "project": "study-harness-tests", "region": "us-central1",
        "zone": "us-central1-a", "kubernetes_version": "1.35", "release_channel": "EXTENDED",
        "node_count": 4,
        "machine_type": "n1-standard-4", "gvnic": True, "image_registry": "ghcr.io",
    },
    "budget": {"usd": 5, "max_hours": 1.5},
    "quota": {"cpus": 16, "in_use_addresses": 20},
}


def nightly(**changes) -> dict:
    """BASE with some sections replaced; `nightly(real=True)` is the stack file as it stands."""
    sec = sections(STACK) if changes.pop("real", False) else copy.deepcopy(BASE)
    if "expires_at" in changes:  # an absolute expiry replaces the lifetime (one of the two)
        sec.pop("ttl", None)
    for key, value in changes.items():
        sec[key] = value
    return sec


def labels_of(sec: dict) -> dict[str, str]:
    """The labels `up` gives the fake world's resources: a ttl counts from the world's start."""
    from infra.labels import study_labels
    from infra.spec import load_spec
    from infra.spec.common import expiry_label

    spec = load_spec(to_config(sec))
    return study_labels(spec, STACK, expiry_label(spec.expiry(NOW)))


class Harness:
    """A fake world, the services around it, and a way to run `study run` against them."""

    def __init__(self, tmp_path, sec: dict | None = None, steps=None, **world_kw):
        self.sec = copy.deepcopy(sec or nightly())
        self.world = make_world(STACK, labels_of(self.sec), steps=steps, start=NOW.timestamp(),
                                **world_kw)
        self.results = tmp_path / "results"
        self.progress = RecordingProgress()
        sec_json = json.dumps(self.sec, sort_keys=True, default=str)
        w = self.world

        def planner(stack: str):
            w.faults.hit("plan")
            return _plan(sec_json)

        self.services = Services(
            backend=w.backend,
            inventory=w.inventory,
            reader_factory=w.reader_factory,
            clock=w.clock,
            signals=w.signals,
            writer=w.writer,
            progress=self.progress,
            results_root=self.results,
            planner=planner,
            environment=lambda: {
                "repository": {"commit": "0" * 40, "dirty": False},
                "versions": {"study-harness": "0.1.0", "pulumi": "3.272.0"},
            },
            config_reader=lambda stack: to_config(self.sec),
        )
        self.options = RunOptions(
            stall_seconds=1200,
            poll_seconds=15,
            destroy=DestroyPolicy(attempts=5, backoff_seconds=20, verify_timeout_seconds=300),
            now=NOW,
        )

    def run(self, **opts):
        from dataclasses import replace

        from study.lifecycle.run import run_stack

        return run_stack(STACK, self.services, replace(self.options, **opts))


@pytest.fixture
def harness(tmp_path):
    def make(sec=None, steps=None, **kw) -> Harness:
        return Harness(tmp_path, sec, steps, **kw)

    return make


STEPS3 = [FakeStep("pull-cold", 600), FakeStep("pull-warm", 300), FakeStep("pull-again", 300)]
