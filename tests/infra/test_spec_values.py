"""Values that used to pass unchecked: caps that switch themselves off, booleans as numbers,
shapes and versions the clouds do not offer, labels the clouds refuse, an estimate too small for
any budget to matter, an expiry years away. One exact line each, and the exit code by cause."""

from __future__ import annotations

import json

import pytest

from harness.errors import SpecError
from infra.spec import load_spec
from infra.validate import validate_stack
from tests.conftest import NOW, sections, to_config


def problems_of(sec: dict, stack: str = "gke-4-nightly") -> list[tuple[str, bool]]:
    """(line, invalid input?) for every error; structural ones are always invalid input."""
    try:
        spec = load_spec(to_config(sec))
    except SpecError as exc:
        return [(p, True) for p in exc.problems]
    return [(str(p), p.invalid_input) for p in validate_stack(spec, stack, NOW).errors]


def gke(**cluster) -> dict:
    sec = sections("gke-4-nightly")
    sec["cluster"].update(cluster)
    return sec


def with_section(stack: str = "gke-4-nightly", **changes) -> dict:
    sec = sections(stack)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(sec.get(key), dict):
            sec[key] = {**sec[key], **value}
        else:
            sec[key] = value
    return sec


def absolute(expires_at: str) -> dict:
    sec = sections("gke-4-nightly")
    del sec["ttl"]
    return {**sec, "expires_at": expires_at}


CASES = [
    ("bool-node-count", gke(node_count=True),
     "study:cluster.node_count: True is not allowed; input should be a valid integer"),
    ("text-node-count", gke(node_count="4"),
     "study:cluster.node_count: '4' is not allowed; input should be a valid integer"),
    ("usd-inf", with_section(budget={"usd": float("inf")}),
     "study:budget.usd: inf is not allowed; input should be a finite number"),
    ("hours-nan", with_section(budget={"max_hours": float("nan")}),
     "study:budget.max_hours: nan is not allowed; input should be a finite number"),
    ("usd-absurd", with_section(budget={"usd": 1e12}),
     "study:budget.usd: 1000000000000.0 is not allowed; input should be less than or equal "
     "to 100000"),
    ("hours-absurd", with_section(budget={"max_hours": 10_000}),
     "study:budget.max_hours: 10000 is not allowed; input should be less than or equal to 720"),
    ("bool-hours", with_section(budget={"max_hours": True}),
     "study:budget.max_hours: True is not allowed; input should be a valid number"),
    ("float-quota", with_section(quota={"cpus": 16.5}),
     "study:quota.cpus: 16.5 is not allowed; input should be a valid integer"),
    ("nodes-beyond-a-pool", gke(node_count=1001),
     "study:cluster.node_count: 1001 is not allowed; input should be less than or equal to 1000"),
    ("free-machines", with_section(prices={"machine_usd_per_hour": 0}),
     "study:prices.machine_usd_per_hour: 0 is not allowed; input should be greater than 0"),
    ("price-typo", with_section(prices={"machine_usd_per_hour": 0.0001}),
     "study:prices.machine_usd_per_hour: 0.0001 is less than 5% of the list price 0.1900 USD/h; "
     "no discount is that deep (a dropped digit?)"),
    ("no-such-shape", gke(machine_type="n1-standard-7"),
     "study:cluster.machine_type: 'n1-standard-7' is not allowed; no such Compute Engine "
     "shape; n1-standard comes as n1-standard-1, n1-standard-2, n1-standard-4, n1-standard-8, "
     "n1-standard-16, n1-standard-32, n1-standard-64, n1-standard-96"),
    ("gcp-label-key", gke(labels={"Team": "hpc"}),
     "study:cluster.labels.Team: 'Team' is not allowed; a GCP label key is a lowercase letter, "
     "then up to 62 lowercase letters, digits, '_' or '-'"),
    ("gcp-label-value", gke(labels={"team": "Hello World"}),
     "study:cluster.labels.team: 'Hello World' is not allowed; a GCP label value is up to 63 "
     "lowercase letters, digits, '_' or '-'"),
    ("gcp-label-newline", gke(labels={"team": "hpc\n"}),
     "study:cluster.labels.team: 'hpc\\n' is not allowed; a GCP label value is up to 63 "
     "lowercase letters, digits, '_' or '-'"),
    ("harness-label", gke(labels={"expires-at": "never"}),
     "study:cluster.labels.expires-at: 'expires-at' is not allowed; the harness sets this label "
     "on every resource; allowed: any key but study, stack, owner, expires-at, budget-usd, "
     "managed-by"),
    ("project-id", gke(project="My_Project"),
     "study:cluster.project: 'My_Project' is not allowed; a GCP project id is 6-30 lowercase "
     "letters, digits or '-', starting with a letter and not ending with '-'"),
    ("owner-newline", with_section(owner="alice\n"),
     "study:owner: 'alice\\n' is not allowed; must be lowercase letters, digits, '_' or '-', at "
     "most 63 characters"),
    ("estimate-cut", with_section(experiment={"estimated_hours": 0.0001}),
     "study:experiment.estimated_hours: 0.0001 is less than the 0.07 h its steps are estimated "
     "to take; an override may raise the estimate, not lower it (remove it or use at least "
     "0.07)"),
    ("expiry-years-away", absolute("2031-01-01T00:00:00Z"),
     "study:expires_at: '2031-01-01T00:00:00+00:00' is more than 30d away; a forgotten cluster "
     "would run until then; use study:ttl (e.g. '12h') or an expiry before "
     "2026-12-22T12:00:00+00:00"),
    ("ttl-years", with_section(ttl="1000d"),
     "study:ttl: '1000d' is not allowed; must be between 10m and 30d"),
    ("ttl-number", with_section(ttl=12),
     "study:ttl: '12' is not allowed; must be a whole number of minutes, hours or days, e.g. "
     "'90m', '12h', '3d'"),
    ("ttl-and-expiry", with_section(expires_at="2026-12-01T00:00:00Z"),
     "study:expires_at: not allowed together with study:ttl; keep one"),
    ("no-lifetime", {k: v for k, v in sections("gke-4-nightly").items() if k != "ttl"},
     "study:ttl: required key is missing; a lifetime from the cluster's creation, e.g. '12h' "
     "(or study:expires_at, an ISO 8601 date-time, for a one-off stack)"),
    ("bool-iterations", with_section(experiment={"params": {
        **sections("gke-4-nightly")["experiment"]["params"], "iterations": True}}),
     "study:experiment.params.iterations: True is not allowed; input should be a valid integer"),
    # Cloud rules on what the stack says are invalid input too, not failed checks.
    ("zone-outside-region", gke(zone="europe-west4-a"),
     "study:cluster.zone: 'europe-west4-a' is not in region 'us-central1'"),
    ("compact-on-n1", gke(compact_placement=True),
     "study:cluster.compact_placement: true is not allowed for machine family 'n1' "
     "(n1-standard-4); compact placement needs one of: c2, c2d, c3, c3d, h3, n2, n2d"),
    ("missing-operator", with_section(operators=[]),
     "study:operators: [] is missing 'event-recorder', which experiment kind 'pulling' needs; "
     "add them"),
]


@pytest.mark.parametrize(("sec", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_line_and_invalid_input(sec, line):
    assert problems_of(sec) == [(line, True)]


def test_aws_tags_follow_the_aws_rules():
    sec = sections("eks-6-topology")
    sec["cluster"]["labels"] = {"aws:team": "hpc"}
    assert problems_of(sec, "eks-6-topology") == [(
        "study:cluster.labels.aws:team: 'aws:team' is not allowed; an AWS tag key is 1-128 of "
        "letters, digits, spaces and _ . : / = + - @, not starting with 'aws:'", True)]
    sec["cluster"]["labels"] = {"Team Name": "HPC / MPI"}  # AWS allows what GCP does not
    assert problems_of(sec, "eks-6-topology") == []


def test_budget_and_quota_are_the_only_checks():
    """Exit 3 is for a valid stack that does not fit its budget or declared quota."""
    short = problems_of(with_section(budget={"usd": 0.01}))
    assert short and all(not invalid for _, invalid in short)
    quota = problems_of(with_section(quota={"cpus": 4}))
    assert quota == [("study:quota.cpus: the stack needs 16 but the declared quota is 4; request "
                      "more quota or use fewer or smaller nodes", False)]


class TestExitCodes:
    """What `study plan` exits with, by cause; --json prints one object in every case."""

    @pytest.mark.parametrize(("sec", "code"), [
        (gke(zone="europe-west4-a"), 1),
        (gke(compact_placement=True), 1),
        (with_section(operators=[]), 1),
        (gke(node_count=True), 1),
        (with_section(quota={"cpus": 4}), 3),
    ], ids=["zone", "compact", "operator", "bool", "quota"])
    def test_plan_json(self, project, cli, tmp_path, sec, code):
        project("exit-codes", sec)
        got, out, err = cli("plan", "exit-codes", "--json", "--manifests", str(tmp_path / "manifests"))
        assert got == code
        doc = json.loads(out)
        assert doc["stack"] == "exit-codes" and len(doc["violations"]) == 1
        # A structural error's line also goes to stderr; a rule's is in the JSON only.
        structural = sec["cluster"]["node_count"] is True
        assert err == (f"error: {doc['violations'][0]}\n" if structural else "")
