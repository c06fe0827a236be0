"""`study plan` and `study stacks` as a user runs them: output, exit codes, one-line errors."""

from __future__ import annotations

import json

import yaml

from tests.conftest import sections


def test_plan_json_has_the_documented_shape(cli, tmp_path):
    code, out, err = cli("plan", "gke-64-localssd", "--json", "--manifests", str(tmp_path))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["stack"] == "gke-64-localssd"
    assert doc["violations"] == []
    types = {r["type"] for r in doc["resources"]}
    assert {
        "gcp:compute/network:Network",
        "gcp:container/cluster:Cluster",
        "gcp:container/nodePool:NodePool",
    } <= types
    assert all(set(r) >= {"type", "name"} for r in doc["resources"])
    cost = doc["cost"]
    assert cost["estimated_usd"] > 0
    assert abs(cost["estimated_usd"] - cost["usd_per_hour"] * cost["estimated_hours"]) < 0.05
    assert cost["estimated_usd"] <= doc["budget"]["usd"]
    # Manifests are written and each one is a Kubernetes object.
    files = sorted(tmp_path.glob("*.yaml"))
    assert len(files) == doc["manifests"] > 0
    for f in files:
        obj = yaml.safe_load(f.read_text())
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]


def test_plan_human_output_shows_cost_and_resources(cli, tmp_path):
    code, out, err = cli("plan", "gke-6-topology", "--manifests", str(tmp_path))
    assert code == 0, err
    assert "gcp:container/nodePool:NodePool" in out.replace("\n", "")
    assert "estimated cost" in out
    assert "plan OK" in err


def test_over_budget_plan_exits_non_zero_with_the_numbers(cli, project, tmp_path):
    sec = sections("gke-64-localssd")
    sec["budget"] = {"usd": 1, "max_hours": 3}
    project("tight", sec)
    code, out, err = cli("plan", "tight", "--json", "--manifests", str(tmp_path))
    assert code == 3
    doc = json.loads(out)
    assert len(doc["violations"]) == 1
    assert doc["violations"][0].startswith("study:budget.usd: 1 does not cover the estimated cost")
    assert doc["resources"] == []  # nothing rendered for an invalid stack


def test_structural_errors_are_one_line_each_without_traceback(cli, project, tmp_path):
    sec = sections("gke-64-localssd")
    sec["cluster"]["node_count"] = 0
    sec["cluster"]["machine_typ"] = "n1-standard-4"
    project("broken", sec)
    code, out, err = cli("plan", "broken", "--manifests", str(tmp_path))
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert lines == [
        "error: study:cluster.node_count: 0 is not allowed; input should be greater than or "
        "equal to 1",
        "error: study:cluster.machine_typ: unknown key; did you mean 'machine_type'?",
    ]
    assert "Traceback" not in err


def test_unknown_stack_suggests_the_closest(cli):
    code, out, err = cli("plan", "gke-64-localsd")
    assert code == 1
    assert err.strip().endswith("did you mean 'gke-64-localssd'?")
    assert len(err.strip().splitlines()) == 1


def test_malformed_yaml_is_one_line(cli, project):
    project("weird", {"study": "x"})
    (project.root / "stacks" / "Pulumi.weird.yaml").write_text("config: [unclosed\n")
    code, _, err = cli("plan", "weird")
    assert code == 1
    assert err.startswith("error: Pulumi.weird.yaml: not valid YAML:")
    assert len(err.strip().splitlines()) == 1


def test_stacks_lists_every_stack_with_cost(cli):
    from harness.stacks import stack_names

    code, out, err = cli("stacks", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["stack"] for r in rows] == stack_names()
    gke = next(r for r in rows if r["stack"] == "gke-64-osu")
    assert gke["cloud"] == "gke"
    assert gke["nodes"] == 64
    assert gke["machine_type"] == "c2d-standard-2"
    assert gke["estimated_usd"] > 0


def test_stacks_human_table(cli):
    code, out, _ = cli("stacks")
    assert code == 0
    assert "gke-64-localssd" in out and "n1-standard-16" in out
