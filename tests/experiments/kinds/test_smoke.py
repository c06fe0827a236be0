"""The smoke kind: one short step of every kind, each rendered and recorded by its own kind."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from experiments.base import ClusterFacts, check_step_names
from experiments.kinds.smoke import MEMBERS, SmokeParams
from experiments.registry import get_kind


def facts() -> ClusterFacts:
    return ClusterFacts(cloud="gke", node_count=2, machine_type="n2-standard-4", vcpus_per_node=4,
                        image_registry="ghcr.io")


def test_one_step_of_each_kind_in_a_fixed_order():
    kind = get_kind("smoke")
    params = SmokeParams()
    steps = kind.steps(params, facts())
    check_step_names(steps)
    owners = [kind.member_of(s, params, facts()) for s in steps]
    assert owners == ["pulling", "topology", "apps", "osu"]
    assert list(MEMBERS) == owners


def test_each_step_is_the_members_own_step():
    """A smoke step is exactly what the member kind plans for the same params (same estimate)."""
    kind = get_kind("smoke")
    params = SmokeParams()
    for step in kind.steps(params, facts()):
        member = get_kind(kind.member_of(step, params, facts()))
        own = member.steps(params.member_params(member.name), facts())
        assert step in own


def test_skip_leaves_members_out():
    kind = get_kind("smoke")
    params = SmokeParams(skip=["topology", "apps"])
    owners = [kind.member_of(s, params, facts()) for s in kind.steps(params, facts())]
    assert owners == ["pulling", "osu"]


def test_unknown_skip_is_one_line_naming_what_is_allowed():
    with pytest.raises(ValidationError) as err:
        SmokeParams(skip=["pull"])
    assert "skip: ['pull'] is not allowed; allowed: pulling, topology, apps, osu" in str(err.value)


def test_bad_member_params_name_the_member():
    with pytest.raises(ValidationError) as err:
        SmokeParams(osu={"benchmarks": ["osu_nope"], "node_counts": [2]})
    assert "osu: " in str(err.value)
    assert "osu_nope" in str(err.value)


def test_smoke_needs_all_four_operators():
    assert set(get_kind("smoke").requires) == {
        "flux-operator", "metrics-operator", "jobset", "event-recorder"}


@pytest.mark.parametrize("stack", ["gke-2-smoke", "eks-2-smoke"])
def test_smoke_stacks_plan_each_kind_within_a_few_dollars(stack, locked_images):
    """Every step's recorder records its member's kind (what analysis dispatches on), and the
    plan prices the whole run, cluster up to down, within the stack's 5 USD budget."""
    import json

    from study.plan import make_plan

    plan = make_plan(stack)
    assert plan.violations == []
    kinds = []
    for obj in plan.manifests:
        if obj["kind"] == "Job" and obj["metadata"]["name"].startswith("rec-"):
            env = {e["name"]: e["value"]
                   for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
            kinds.append(env["KIND"])
    assert [k for k in kinds if k in MEMBERS] == ["pulling", "topology", "apps", "osu"]
    cost = plan.to_json()["cost"]
    assert 0 < cost["estimated_usd"] <= plan.spec.budget.usd <= 5
    assert json.dumps(plan.to_json())  # the plan's JSON carries the expected cost
