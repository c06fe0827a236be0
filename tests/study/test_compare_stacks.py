"""`study compare-stacks`: GKE and EKS stacks side by side, normalised, differences flagged.

The experiment-definition warning is checked with a small test-only experiment kind, so the
stacks plan cleanly whatever kinds the project ships.
"""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from experiments.base import Step
from study.stack_compare import compare_stacks, differing_keys
from tests.conftest import sections


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    images: list[str]


class _PullOnce:
    """A one-step experiment kind that exists only in these tests."""

    name: ClassVar[str] = "compare-test-pull"
    Params: ClassVar[type[BaseModel]] = _Params

    def steps(self, params, cluster):
        return [Step("pull", estimated_seconds=600, deadline_seconds=1200)]


@pytest.fixture
def test_kind(monkeypatch):
    from experiments.registry import KINDS

    monkeypatch.setitem(KINDS, _PullOnce.name, _PullOnce())
    return _PullOnce.name


def with_experiment(stack: str, kind: str, images: list[str]) -> dict:
    sec = sections(stack)
    sec["experiment"] = {"kind": kind, "params": {"images": images}}
    return sec


@pytest.fixture
def pair(project):
    """The seed 6-node topology stacks, minus any experiment a later change adds to them."""
    for stack in ("gke-6-topology", "eks-6-topology", "eks-30-topology", "eks-256-topology"):
        sec = sections(stack)
        sec.pop("experiment", None)
        project(stack, sec)
    return project


def rows_of(doc: dict) -> dict[str, dict]:
    return {f"{r['section']}.{r['setting']}": r for r in doc["rows"]}


class TestGkeVersusEks:
    """Both clouds reduce to the same settings; only real differences are flagged."""

    def test_json_lines_up_the_normalised_facts(self, cli, pair):
        code, out, err = cli("compare-stacks", "gke-6-topology", "eks-6-topology", "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["stacks"] == ["gke-6-topology", "eks-6-topology"]
        rows = rows_of(doc)

        def values(key):
            return rows[key]["values"]["gke-6-topology"], rows[key]["values"]["eks-6-topology"]

        assert values("cluster.cloud") == ("gke", "eks")
        assert values("cluster.region") == ("us-central1", "us-east-2")
        assert values("cluster.Kubernetes version") == ("1.35", "1.35")
        assert values("nodes.machine type") == ("c2d-standard-32", "c5a.4xlarge")
        assert values("nodes.vCPUs per node") == (32, 16)
        assert values("nodes.vCPUs total") == (192, 96)
        assert values("nodes.memory per node (GB)") == (128.0, 32.0)
        assert values("network.fast NIC") == ("gVNIC", "none")
        assert values("network.MTU") == (8896, "9001 (VPC CNI default)")
        assert values("storage.boot disk") == ("pd-balanced 100 GB", "gp2 150 GB")
        # GKE COMPACT and an EC2 cluster placement group mean the same thing
        assert values("network.placement") == ("compact", "compact")
        assert rows["network.placement"]["differs"] is False
        assert rows["nodes.nodes"]["differs"] is False
        assert rows["cluster.cloud"]["differs"] is True
        assert "cluster.cloud" in doc["differences"] and "nodes.nodes" not in doc["differences"]

    def test_cost_rows_match_the_plan_estimate(self, cli, pair):
        from study.plan import load_and_validate

        code, out, err = cli("compare-stacks", "gke-6-topology", "eks-6-topology", "--json")
        assert code == 0, err
        rows = rows_of(json.loads(out))
        for stack in ("gke-6-topology", "eks-6-topology"):
            _, spec, report = load_and_validate(stack)
            per_hour = round(report.estimate.price.total, 3)
            assert rows["cost.USD per hour"]["values"][stack] == per_hour
            assert rows["cost.estimated USD"]["values"][stack] == round(report.estimate.usd, 2)
            assert rows["cost.budget USD"]["values"][stack] == spec.budget.usd

    def test_no_experiment_on_either_side_no_warning(self, cli, pair):
        code, out, err = cli("compare-stacks", "gke-6-topology", "eks-6-topology", "--json")
        assert code == 0
        assert json.loads(out)["warnings"] == []
        assert "different experiment definitions" not in err

    def test_table_marks_differences(self, cli, pair):
        code, out, err = cli("compare-stacks", "gke-6-topology", "eks-6-topology")
        assert code == 0, err
        flat = out.replace("\n", " ")
        assert "* cloud" in flat and "* machine type" in flat
        assert "  nodes " in flat and "* nodes " not in flat  # 6 vs 6: not flagged
        assert "c2d-standard-32" in flat and "c5a.4xlarge" in flat
        assert "settings differ" in err

    def test_three_stacks_across_sizes(self, cli, pair):
        code, out, err = cli(
            "compare-stacks", "eks-6-topology", "eks-30-topology", "eks-256-topology", "--json"
        )
        assert code == 0, err
        rows = rows_of(json.loads(out))
        assert list(rows["nodes.nodes"]["values"].values()) == [6, 30, 256]
        assert list(rows["network.placement"]["values"].values()) == ["compact", "compact", "none"]
        assert list(rows["cluster.node zone(s)"]["values"].values()) == [
            "us-east-2b", "us-east-2b", "us-east-2a, us-east-2b, us-east-2c"
        ]


class TestExperimentDefinitions:
    """Stacks that run different experiment definitions are compared, with a warning."""

    def test_different_params_warn_naming_the_key(self, cli, project, test_kind):
        project("gke-a", with_experiment("gke-6-topology", test_kind, ["ghcr.io/x/a:1"]))
        project("eks-b", with_experiment("eks-6-topology", test_kind, ["ghcr.io/x/b:1"]))
        code, out, err = cli("compare-stacks", "gke-a", "eks-b", "--json")
        assert code == 0, err
        doc = json.loads(out)
        expected = (
            f"the stacks run different experiment definitions: gke-a ({test_kind}), eks-b "
            f"({test_kind}); differing keys: params.images; their results are not directly "
            "comparable"
        )
        assert doc["warnings"] == [expected]
        assert f"warning: {expected}" in err.replace("\n", " ")
        assert rows_of(doc)["experiment.definition"]["differs"] is True
        assert rows_of(doc)["experiment.kind"]["differs"] is False

    def test_same_definition_on_both_clouds_no_warning(self, cli, project, test_kind):
        images = ["ghcr.io/x/a:1"]
        project("gke-a", with_experiment("gke-6-topology", test_kind, images))
        project("eks-a", with_experiment("eks-6-topology", test_kind, images))
        code, out, err = cli("compare-stacks", "gke-a", "eks-a", "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["warnings"] == []
        assert rows_of(doc)["experiment.definition"]["differs"] is False
        # the experiment's 10 minutes reach the estimate on both clouds
        hours = rows_of(doc)["cost.estimated hours"]["values"]
        from infra.provisioning import provision_hours, teardown_hours

        for stack, cloud in (("gke-a", "gke"), ("eks-a", "eks")):  # both 6 nodes
            assert hours[stack] == round(
                provision_hours(cloud, 6) + 10 / 60 + teardown_hours(cloud, 6), 2)

    def test_experiment_on_one_side_only_warns(self, cli, project, test_kind):
        project("gke-a", with_experiment("gke-6-topology", test_kind, ["ghcr.io/x/a:1"]))
        sec = sections("eks-6-topology")
        sec.pop("experiment", None)
        project("eks-none", sec)
        code, out, err = cli("compare-stacks", "gke-a", "eks-none", "--json")
        assert code == 0, err
        (warning,) = json.loads(out)["warnings"]
        assert warning == (
            f"the stacks run different experiment definitions: gke-a ({test_kind}), eks-none "
            "(none); differing keys: experiment; their results are not directly comparable"
        )

    def test_differing_keys_flattens_nested_params(self):
        a = {"kind": "k", "params": {"sizes": [1, 2], "opts": {"tasks": 4}}}
        b = {"kind": "k", "params": {"sizes": [1, 2], "opts": {"tasks": 8}}}
        assert differing_keys([a, b]) == ["params.opts.tasks"]
        assert differing_keys([a, None]) == ["experiment"]
        assert differing_keys([None, None]) == []


class TestUsage:
    """Bad invocations fail with one line and a usage exit code."""

    def test_one_stack_is_a_usage_error(self, cli):
        code, _, err = cli("compare-stacks", "gke-6-topology")
        assert code == 2
        assert err.strip() == "error: compare-stacks: give at least two stacks to compare"

    def test_repeated_stack_is_a_usage_error(self, cli):
        code, _, err = cli("compare-stacks", "eks-6-topology", "eks-6-topology")
        assert code == 2
        assert "a stack is named twice" in err

    def test_unknown_stack_is_one_line(self, cli):
        code, _, err = cli("compare-stacks", "gke-6-topology", "eks-7-topology")
        assert code == 1
        assert err.strip().splitlines()[-1].startswith(
            "error: stack 'eks-7-topology' not found in"
        )
        assert "did you mean 'eks-6-topology'?" in err
        assert "Traceback" not in err

    def test_invalid_stack_is_compared_with_a_warning(self, project):
        sec = sections("eks-6-topology")
        sec["cluster"]["efa"] = True
        project("eks-bad", sec)
        project("eks-good", sections("eks-6-topology"))
        result = compare_stacks(["eks-good", "eks-bad"])
        assert result.warnings == [
            "eks-bad: the plan has 1 error(s); run `study plan eks-bad`"
        ]
        valid = next(r for r in result.rows if r.setting == "valid")
        assert valid.values == (True, False)

    def test_structural_errors_name_the_stack(self, cli, project):
        sec = sections("eks-6-topology")
        sec["cluster"]["machine_typ"] = sec["cluster"].pop("machine_type")
        project("eks-typo", sec)
        project("eks-good", sections("eks-6-topology"))
        code, out, err = cli("compare-stacks", "eks-good", "eks-typo")
        assert code == 1 and out == ""
        assert err.strip().splitlines() == [
            "error: eks-typo: study:cluster.machine_type: required key is missing",
            "error: eks-typo: study:cluster.machine_typ: unknown key; did you mean "
            "'machine_type'?",
        ]
