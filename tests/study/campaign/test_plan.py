"""The campaign plan: members priced by the single-stack plan, the sweep priced two ways in one
duration model, the first member that does not fit named, exit codes as for `study plan`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from study.campaign.plan import plan_campaign
from study.campaign.spec import load_campaign
from study.cli import app
from tests.conftest import NOW


@pytest.fixture(scope="module")
def run1():
    return plan_campaign(load_campaign("pulling-run1"), now=NOW)


@pytest.fixture(scope="module")
def run3():
    return plan_campaign(load_campaign("pulling-run3"), now=NOW)


def test_run1_in_place_costs_at_most_three_quarters_of_a_cluster_per_member(run1):
    """The goal the campaign exists for, in the one duration model (infra/provisioning.py)."""
    assert run1.ok
    assert run1.in_place_usd / run1.per_cluster_usd <= 0.75
    assert run1.efficiency >= 0.8


def test_per_cluster_cost_is_the_sum_of_each_members_own_study_plan(run1):
    from infra.estimate import estimate
    from infra.spec import load_spec
    from study.campaign.plan import member_config

    total = 0.0
    for m in run1.campaign.members():
        total += estimate(load_spec(member_config(run1.campaign, m))).usd
    assert run1.per_cluster_usd == pytest.approx(total)


def test_in_place_is_one_create_resizes_between_members_and_one_teardown(run1):
    whats = [s.what for s in run1.segments]
    assert whats[0] == "create"
    assert whats[-2:] == ["scale-in", "teardown"]
    assert whats.count("create") == 1
    assert whats.count("member") == 7
    assert whats.count("resize") == 6
    assert [s.nodes for s in run1.segments if s.what == "member"] == [4, 8, 16, 32, 64, 128, 256]


def test_run3_names_128_as_the_first_member_that_does_not_fit(run3):
    assert run3.exit_code == 3
    assert run3.first_unfit is not None
    assert run3.first_unfit.member.name == "gke-64-localssd-n128"
    fits = {m.member.nodes: m.fits_quota for m in run3.members}
    assert fits == {4: True, 8: True, 16: True, 32: True, 64: True, 128: False, 256: False}
    assert run3.violations[-1].startswith("gke-64-localssd-n128: does not fit the quota")
    assert run3.violations[-1].endswith(
        "`study campaign run` stops before it, after gke-64-localssd-n64")
    assert ("study:quota.local_ssd_gb: the stack needs 48000 but the declared quota is 30000; "
            "request more quota or use fewer or smaller nodes") in run3.first_unfit.quota_problems


def test_json_has_the_documented_keys(run1):
    doc = run1.to_json()
    assert doc["campaign"] == "pulling-run1"
    assert [m["nodes"] for m in doc["members"]] == [4, 8, 16, 32, 64, 128, 256]
    for m in doc["members"]:
        assert {"name", "nodes", "estimated_usd", "fits_quota"} <= set(m)
    assert {"in_place_usd", "per_cluster_usd", "efficiency"} <= set(doc["cost"])
    assert doc["violations"] == []
    assert doc["provisioning_figures"][0].startswith("gke create: 974 s + 0.5 s/node (seed")


def test_a_campaign_budget_too_small_is_a_failed_check(tmp_path, monkeypatch):
    from study.campaign.spec import Campaign, CampaignSpec

    c = load_campaign("pulling-run1")
    doc = c.spec.model_dump(exclude_none=True)
    doc["budget"] = {"usd": 100, "max_hours": 12}
    small = Campaign(c.name, c.path, CampaignSpec.model_validate(doc))
    p = plan_campaign(small, now=NOW)
    assert p.exit_code == 3
    assert p.violations == [
        f"pulling-run1.yaml: budget.usd: 100 does not cover the campaign's estimated "
        f"{p.in_place_usd:.2f} USD in place; raise it to at least {p.in_place_usd:.2f} or "
        "sweep fewer node counts"]


class TestCli:
    runner = CliRunner()

    def test_plan_json_is_one_object_and_exit_3_when_a_member_does_not_fit(self):
        res = self.runner.invoke(app, ["campaign", "plan", "pulling-run3", "--json"])
        assert res.exit_code == 3
        doc = json.loads(res.stdout)
        assert doc["first_unfit_member"] == "gke-64-localssd-n128"

    def test_an_unknown_campaign_is_invalid_input_with_one_json_object(self):
        res = self.runner.invoke(app, ["campaign", "plan", "pulling-run9", "--json"])
        assert res.exit_code == 1
        doc = json.loads(res.stdout)
        assert doc["members"] == []
        assert doc["cost"] is None
        from core.stacks import project_dir

        assert doc["violations"] == [f"campaign 'pulling-run9' not found in "
                                     f"{project_dir() / 'campaigns'}; did you mean "
                                     "'pulling-run4'?"]

    def test_the_table_shows_both_ways_side_by_side(self):
        res = self.runner.invoke(app, ["campaign", "plan", "pulling-run1"])
        assert res.exit_code == 0
        assert "in place (one cluster resized)" in res.stdout
        assert "one cluster per member (the seeds')" in res.stdout


def test_run3_prices_what_a_run_reaches_before_it_stops(run3):
    from study.campaign.plan import in_place_segments

    reached = [m for m in run3.members if m.member.nodes <= 64]
    expected = sum(s.usd for s in in_place_segments("gke-64-localssd", reached))
    assert run3.runnable_usd() == pytest.approx(expected)
    assert run3.to_json()["cost"]["until_first_unfit_usd"] == round(expected, 2)
    assert run3.runnable_usd() < run3.in_place_usd


def test_run1_reaches_every_member(run1):
    assert run1.runnable_usd() is None
    assert run1.to_json()["cost"]["until_first_unfit_usd"] is None


class TestMembersRendered:
    """Each member gets the whole of `study plan`: rendered under the mocks, its manifests
    checked against the schemas and the real-cloud rules, so a campaign never passes a member
    its own stack's plan would fail."""

    def test_a_member_with_an_unpinned_image_fails_the_campaign_plan(self):
        p = plan_campaign(load_campaign("osu"), now=NOW)
        assert p.exit_code == 3
        pinned = [v for v in p.violations if "rule image-pinned" in v]
        assert [v.split(":", 1)[0] for v in pinned] == [
            "gke-64-osu-n4", "gke-64-osu-n8", "gke-64-osu-n16", "gke-64-osu-n32",
            "gke-64-osu-n64"]
        assert all("'ghcr.io/converged-computing/metric-osu-benchmark:latest'" in v
                   for v in pinned)

    def test_locked_the_same_members_plan_clean(self, locked_images):
        p = plan_campaign(load_campaign("osu"), now=NOW)
        assert (p.exit_code, p.violations) == (0, [])
