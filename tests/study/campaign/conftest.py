"""A campaign over the nightly-like stack of the lifecycle tests, in one sized fake world."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path

import pytest

from study.campaign.orchestrator import CampaignServices
from study.campaign.spec import Campaign, CampaignSpec
from study.lifecycle.destroy import DestroyPolicy
from study.lifecycle.progress import RecordingProgress
from study.lifecycle.run import RunOptions, Services
from tests.conftest import NOW, to_config
from tests.doubles.lifecycle import FakeStep
from tests.study.campaign.sized_world import make_sized_world
from tests.study.lifecycle.conftest import STACK, labels_of, nightly


def campaign_of(**spec) -> Campaign:
    doc = {"base": STACK, "sweep": {"node_count": [2, 4, 8]},
           "budget": {"usd": 60, "max_hours": 10},
           "quota": {"cpus": 64, "in_use_addresses": 20}}
    doc.update(spec)
    return Campaign("nightly-sweep", Path("campaigns/nightly-sweep.yaml"),
                    CampaignSpec.model_validate(doc))


@cache
def _plan_of(stack: str, config_json: str):
    from study.plan import make_plan

    return make_plan(stack, now=NOW, config=json.loads(config_json))


class CampaignHarness:
    """One sized fake world per stack of the campaign, each with its own `study run` services."""

    def __init__(self, tmp_path: Path, campaign: Campaign, steps=None):
        self.campaign = campaign
        self.sec = copy.deepcopy(nightly())
        self.results = tmp_path / "results"
        self.progress = RecordingProgress()
        self.worlds = {}
        self.by_stack = {}
        for stack in campaign.spec.stacks():
            w = make_sized_world(stack, labels_of(self.sec), steps or [
                FakeStep("pull-cold", 600), FakeStep("pull-warm", 300)], NOW.timestamp())
            self.worlds[stack] = w
            self.by_stack[stack] = Services(
                backend=w.backend, inventory=w.inventory, reader_factory=w.reader_factory,
                clock=w.clock, signals=w.signals, writer=w.writer, progress=self.progress,
                results_root=self.results,
                environment=lambda: {"repository": {"commit": "0" * 40, "dirty": False},
                                     "versions": {"study-harness": "0.1.0"}},
            )
        self.world = self.worlds[campaign.spec.stacks()[0]]
        self.services = self.by_stack[campaign.spec.stacks()[0]]
        self.cs = CampaignServices(
            lifecycle=self.by_stack.__getitem__,
            results_root=self.results,
            stack_config=lambda stack: to_config(self.sec),
            member_planner=lambda stack, config: _plan_of(
                stack, json.dumps(config, sort_keys=True)),
            now=NOW,
            run_options=RunOptions(stall_seconds=1200, poll_seconds=15, now=NOW,
                                   destroy=DestroyPolicy(attempts=5, backoff_seconds=20,
                                                         verify_timeout_seconds=300)),
        )

    def run(self, resume: bool = False):
        from study.campaign.orchestrator import run_campaign

        return run_campaign(self.campaign, self.cs, resume=resume)


@pytest.fixture
def camp(tmp_path):
    def make(campaign: Campaign | None = None, steps=None) -> CampaignHarness:
        return CampaignHarness(tmp_path, campaign or campaign_of(), steps)

    return make
