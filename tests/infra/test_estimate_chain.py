"""The estimate follows the step chain: the plan's experiment time, its cost, the plan's JSON and
table, and a campaign's members all use the one timeline (`experiments.schedule`)."""

from __future__ import annotations

import pytest

from experiments import duration_model
from experiments.schedule import experiment_seconds, place
from infra.provisioning import phase, resize_seconds
from tests.conftest import NOW, config_of, sections, stack_yaml, to_config


def _estimate(stack: str, config: dict[str, str] | None = None):
    from infra.estimate import estimate
    from infra.spec import load_spec

    return estimate(load_spec(config or config_of(stack_yaml(stack))))


def _chain_seconds(steps, beside: float) -> float:
    return experiment_seconds(place(steps, beside, duration_model.harness("recorder"),
                                    duration_model.harness("upload")))


@pytest.mark.parametrize("stack", ["seed-pulling-run4-16", "seed-topology-gke-30",
                                   "seed-osu-gke-8", "gke-4-nightly", "eks-6-topology"])
def test_experiment_time_and_cost_follow_the_chain(stack):
    """Experiment hours are the chain's (the operators' phase of the stack's cloud beside the
    preparation), and the cost is the price over provisioning, that and teardown."""
    est = _estimate(stack)
    cloud = stack_yaml(stack)["config"]["study:cluster"]["cloud"]
    beside = phase(cloud, "operators").seconds(est.price.nodes)
    assert est.beside_seconds == beside
    assert est.experiment_hours * 3600 == pytest.approx(_chain_seconds(est.steps, beside))
    assert sum(est.waits) == pytest.approx(est.experiment_hours * 3600)
    assert est.usd == pytest.approx(
        est.price.total * (est.provision_hours + est.experiment_hours + est.teardown_hours))
    # Shorter than the steps run one after another, by at least every upload but the last.
    n = len(est.steps)
    assert est.experiment_hours * 3600 <= (sum(s.estimated_seconds for s in est.steps)
                                           - (n - 1) * duration_model.harness("upload") + 1e-6)


def test_preparation_within_the_operators_costs_one_recorder():
    """seed-pulling-run4-16: pre-pull, mirror and prime all finish inside the operators' 180 s,
    and their recorders run side by side, so the run waits for one recorder's time."""
    est = _estimate("seed-pulling-run4-16")
    rec = duration_model.harness("recorder")
    prep = [w for s, w in zip(est.steps, est.waits, strict=True) if s.preparation]
    assert [s.name for s in est.steps if s.preparation] == ["prepull", "mirror-images",
                                                            "prime-images"]
    assert prep == pytest.approx([rec, 0.0, 0.0])


def test_stated_hours_are_kept():
    sec = sections("gke-4-nightly")
    sec["experiment"]["estimated_hours"] = 0.5
    est = _estimate("gke-4-nightly", to_config(sec))
    assert est.experiment_hours == 0.5
    assert est.experiment_seconds_beside(0.0) == 1800.0


def test_plan_json_shows_the_chain():
    """Per step: whether it runs beside the operators and what the run waits for it; the cost's
    experiment time is their sum, split into work and overhead."""
    from study.plan import make_plan

    plan = make_plan("seed-pulling-run4-16", now=NOW)
    doc = plan.to_json()
    steps, cost = doc["steps"], doc["cost"]
    assert [s["name"] for s in steps if s["preparation"]] == ["prepull", "mirror-images",
                                                              "prime-images"]
    assert cost["beside_operators_seconds"] == 180.0
    assert sum(s["waits_seconds"] for s in steps) == pytest.approx(cost["experiment_seconds"],
                                                                   abs=0.5)
    assert cost["experiment_work_seconds"] + cost["experiment_overhead_seconds"] == (
        pytest.approx(cost["experiment_seconds"], abs=0.2))
    assert cost["estimated_hours"] == pytest.approx(
        plan.report.estimate.provision_hours + cost["experiment_seconds"] / 3600
        + plan.report.estimate.teardown_hours, abs=1e-3)


def test_plan_table_says_which_steps_run_beside_the_operators(capsys):
    from pathlib import Path

    from study.plan import make_plan
    from study.render import print_plan

    plan = make_plan("seed-pulling-run4-16", now=NOW)
    print_plan(plan, Path("plan-out"))
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "beside operators" in line]
    assert [r.split("│")[2].strip() for r in rows] == ["prepull", "mirror-images",
                                                       "prime-images"]
    total = next(line for line in out.splitlines() if "│ total" in line)
    waits = sum(plan.report.estimate.waits) / 60
    assert f"{waits:.1f} min" in total


def test_a_resized_campaign_member_runs_its_preparation_beside_what_is_left():
    """After a resize the preparation waits for the nodes; the event recorder's re-install ran
    meanwhile, so only what is left of it hides the preparation. The first member (a new
    cluster) has the whole operators' phase."""
    from study.campaign.plan import in_place_segments, plan_campaign
    from study.campaign.spec import load_campaign

    plan = plan_campaign(load_campaign("pulling-run2"), now=NOW)
    members = [m for m in plan.members if m.estimate is not None]
    segs = [s for s in in_place_segments(members[0].member.stack, members) if s.what == "member"]
    cloud = members[0].cloud
    assert segs[0].seconds == pytest.approx(members[0].experiment_hours * 3600)
    for prev, m, seg in zip(members, members[1:], segs[1:], strict=False):
        left = max(0.0, phase(cloud, "operators").seconds(m.member.nodes)
                   - resize_seconds(cloud, prev.member.nodes, m.member.nodes))
        assert seg.seconds == pytest.approx(_chain_seconds(m.estimate.steps, left))
        assert seg.seconds >= m.experiment_hours * 3600 - 1e-6
        # The measured part does not depend on it.
        measured = sum(w for s, w in zip(m.estimate.steps, m.estimate.waits, strict=True)
                       if not s.preparation)
        assert m.measured_hours * 3600 == pytest.approx(measured)
