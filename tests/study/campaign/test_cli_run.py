"""`study campaign run pulling-run3` end to end on the in-memory world: the shipped campaign with
the seed's declared quota runs 4 to 64 nodes on one cluster and stops before 128 (exit 3),
collected and destroyed; the run directory is the one line on stdout."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from study.cli import app
from study.lifecycle.progress import RecordingProgress
from study.lifecycle.run import RunOptions, Services
from tests.conftest import NOW
from tests.doubles.lifecycle import FakeStep
from tests.study.campaign.sized_world import make_sized_world

STACK = "gke-64-localssd"


def test_run3_stops_before_128_collected_and_destroyed(tmp_path, monkeypatch):
    from core.stacks import read_stack_config
    from infra.estimate import experiment_steps
    from infra.spec import load_spec
    from study.campaign.orchestrator import CampaignServices

    monkeypatch.setenv("STUDY_GCP_PROJECT", "my-project-123")
    # the stack's own 19 steps (prepull, 6 sizes x 3 iterations), a minute each
    steps = [FakeStep(s.name, 60) for s in experiment_steps(load_spec(read_stack_config(STACK)))]
    world = make_sized_world(STACK, {"stack": STACK, "managed-by": "study-harness"}, steps,
                             NOW.timestamp())
    results = tmp_path / "results"
    sv = Services(backend=world.backend, inventory=world.inventory,
                  reader_factory=world.reader_factory, clock=world.clock,
                  signals=world.signals, writer=world.writer, progress=RecordingProgress(),
                  results_root=results,
                  environment=lambda: {"repository": {"commit": "0" * 40, "dirty": False}})
    world.cloud.quota_limits.update({"cpus": 5000, "local_ssd_gb": 200000})

    def services(campaign):
        return CampaignServices(lifecycle=lambda stack: sv, results_root=results, now=NOW,
                                run_options=RunOptions(stall_seconds=1200, poll_seconds=15,
                                                       now=NOW))

    monkeypatch.setattr("study.cli.campaign.services", services)
    res = CliRunner().invoke(app, ["campaign", "run", "pulling-run3"])
    assert res.exit_code == 3, res.output
    run_dir = Path(res.stdout.strip().splitlines()[-1])
    state = json.loads((run_dir / "campaign.json").read_text())
    assert {n: m["status"] for n, m in state["members"].items()} == {
        "gke-64-localssd-n4": "succeeded", "gke-64-localssd-n8": "succeeded",
        "gke-64-localssd-n16": "succeeded", "gke-64-localssd-n32": "succeeded",
        "gke-64-localssd-n64": "succeeded", "gke-64-localssd-n128": "not-run (quota)",
        "gke-64-localssd-n256": "pending"}
    assert state["stopped_before"] == "gke-64-localssd-n128"
    assert world.backend.pool_ops == [("create", 4), ("update", 8), ("update", 16),
                                      ("update", 32), ("update", 64), ("update", 1),
                                      ("delete", 1)]
    assert world.cloud.live(STACK) == []
