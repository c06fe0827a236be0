"""Values that used to pass unchecked: caps that switch themselves off, booleans as numbers,
shapes and versions the clouds do not offer, labels the clouds refuse, an estimate too small for
any budget to matter, an expiry years away. One exact line each, and the exit code by cause."""

from __future__ import annotations

import json

import pytest

from core.errors import SpecError
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
     "study:experiment.estimated_hours: 0.0001 is less than the 0.03 h its steps are estimated "
     "to take; an override may raise the estimate, not lower it (remove it or use at least "
     "0.03)"),
    ("expiry-years-away", absolute("2031-01-01T00:00:00Z"),
     "study:expires_at: '2031-01-01T00:00:00+00:00' is more than 30d away; a forgotten cluster "
     "would run until then; use study:ttl (e.g. '12h') or an expiry before "
     "2026-12-22T12:00:00+00:00"),
    ("ttl-years", with_section(ttl="1000d"),
     "study:ttl: '1000d' is not allowed; must be between 10m and 30d"),
    ("ttl-number", with_section(ttl=12),
     "study:ttl: '12' is not allowed; must be a whole number of minutes, hours or days, e.g. "
     "'90m', '12h', '3d'"),
    ("ttl-fullwidth-digits", with_section(ttl="\uff11\uff12h"),
     "study:ttl: '\uff11\uff12h' is not allowed; must be a whole number of minutes, hours or "
     "days, e.g. '90m', '12h', '3d'"),
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


K8S_RULE = ("it is also a Kubernetes label on the nodes and the study's objects: at most 63 of "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
AWS_KEY_RULE = ("an AWS tag key is 1-128 of letters, digits, spaces and _ . : / = + - @, not "
                "starting with 'aws:'")
AWS_VALUE_RULE = ("an AWS tag value is up to 256 of letters, digits, spaces and _ . : / = + - @, "
                  "not starting with 'aws:'")


@pytest.mark.parametrize(("labels", "line"), [
    ({"aws:team": "hpc"}, f"study:cluster.labels.aws:team: 'aws:team' is not allowed; {AWS_KEY_RULE}"),
    ({"AWS:team": "hpc"}, f"study:cluster.labels.AWS:team: 'AWS:team' is not allowed; {AWS_KEY_RULE}"),
    ({"team": "Aws:hpc"}, f"study:cluster.labels.team: 'Aws:hpc' is not allowed; {AWS_VALUE_RULE}"),
    ({"Team Name": "hpc"}, f"study:cluster.labels.Team Name: 'Team Name' is not allowed; {K8S_RULE}"),
    ({"team": "HPC / MPI"}, f"study:cluster.labels.team: 'HPC / MPI' is not allowed; {K8S_RULE}"),
    ({"t" * 64: "hpc"}, f"study:cluster.labels.{'t' * 64}: '{'t' * 64}' is not allowed; {K8S_RULE}"),
], ids=["aws-prefix", "aws-prefix-upper", "aws-prefix-value", "space-in-key", "slash-in-value",
        "key-past-63"])
def test_aws_tags_follow_the_aws_and_kubernetes_rules(labels, line):
    """EKS labels tag the AWS resources and label the nodes (node group `labels`) and the study's
    objects, so both rule sets apply. AWS reserves "aws:" in any case as the prefix of keys and
    values (docs.aws.amazon.com/batch/latest/userguide/tag-restrictions.html, as ECS and EC2);
    Kubernetes label names and values: kubernetes/kubernetes
    staging/src/k8s.io/apimachinery/pkg/api/validate/content/kube.go (IsLabelKey, IsLabelValue;
    read at HEAD 2026-12)."""
    sec = sections("eks-6-topology")
    sec["cluster"]["labels"] = labels
    assert problems_of(sec, "eks-6-topology") == [(line, True)]


def test_aws_tags_allow_what_gcp_labels_do_not():
    """Upper case and '.' are AWS tags and Kubernetes labels, though no GCP label."""
    sec = sections("eks-6-topology")
    sec["cluster"]["labels"] = {"Team.Name": "HPC_MPI-2"}
    assert problems_of(sec, "eks-6-topology") == []


@pytest.mark.parametrize(("sec", "line"), [
    (gke(labels={"team": "hpc-"}),
     f"study:cluster.labels.team: 'hpc-' is not allowed; {K8S_RULE}"),
    (gke(labels={"team_": "hpc"}),
     f"study:cluster.labels.team_: 'team_' is not allowed; {K8S_RULE}"),
    (with_section(owner="bob_"),
     "study:owner: 'bob_' is not allowed; must start and end with a letter or digit: it is also "
     "a Kubernetes label on the nodes and the study's objects"),
    (with_section(study="smoke-"),
     "study:study: 'smoke-' is not allowed; string should match pattern "
     "'^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$'"),
], ids=["gcp-value-dash-end", "gcp-key-underscore-end", "owner-underscore-end", "study-dash-end"])
def test_gcp_labels_are_kubernetes_labels_too(sec, line):
    """GCP takes a label ending in '-' or '_'; the same label on a GKE node (node_config.labels)
    or on the study namespace is refused by the API server (kubernetes/kubernetes
    staging/src/k8s.io/apimachinery/pkg/api/validate/content/kube.go, IsLabelValue and
    IsLabelKey; read at HEAD 2026-12)."""
    assert problems_of(sec) == [(line, True)]


@pytest.mark.parametrize(("stack", "price", "lines"), [
    ("eks-6-topology", 0, [
        "study:prices.control_plane_usd_per_hour: 0 is less than 5% of the list price 0.1450 "
        "USD/h; no discount is that deep (a dropped digit?)"]),
    ("gke-4-nightly", 0.0001, [
        "study:prices.control_plane_usd_per_hour: 0.0001 is less than 5% of the list price "
        "0.1000 USD/h; no discount is that deep (a dropped digit?)"]),
    ("gke-4-nightly", 0, []),
], ids=["eks-free", "gke-typo", "gke-free-tier"])
def test_a_control_plane_price_cut_is_refused_but_the_gke_free_tier(stack, price, lines):
    """EKS bills every cluster 0.10 USD/h plus its NAT gateway (aws.amazon.com/eks/pricing);
    GKE's free tier covers one zonal cluster per billing account
    (cloud.google.com/kubernetes-engine/pricing), so only there is zero a real price."""
    sec = with_section(stack, prices={"control_plane_usd_per_hour": price})
    assert problems_of(sec, stack) == [(line, True) for line in lines]


def eks(**cluster) -> dict:
    sec = sections("eks-6-topology")
    sec["cluster"].update(cluster)
    return sec


ASCII = "must be written in ASCII letters and digits, as the cloud names it"


@pytest.mark.parametrize(("stack", "sec", "line"), [
    ("gke-4-nightly", gke(machine_type="n1-standard-4\n"),
     "study:cluster.machine_type: 'n1-standard-4\\n' is not allowed; expected "
     "<family>-<class>-<vcpus>, e.g. n1-standard-16"),
    ("gke-4-nightly", gke(machine_type="n1-standard-\uff14"),
     "study:cluster.machine_type: 'n1-standard-\uff14' is not allowed; expected "
     "<family>-<class>-<vcpus>, e.g. n1-standard-16"),
    ("gke-4-nightly", gke(region="us-central\uff11"),
     f"study:cluster.region: 'us-central\uff11' is not allowed; {ASCII}"),
    ("eks-6-topology", eks(zones=["us-east-2a\n", "us-east-2b"]),
     "study:cluster.zones: ['us-east-2a\\n', 'us-east-2b'] is not allowed; 'us-east-2a\n' is "
     "not an availability zone name, e.g. us-east-2a"),
    ("eks-6-topology", eks(zone="us-east-\uff12a"),
     f"study:cluster.zone: 'us-east-\uff12a' is not allowed; {ASCII}"),
    ("eks-6-topology", with_section("eks-6-topology", results={"bucket": "team-results\n"}),
     "study:results.bucket: 'team-results\\n' is not allowed; must be 3-63 lowercase letters, "
     "digits, '-' or '.', starting and ending with a letter or digit"),
    ("gke-4-nightly", with_section(results={"bucket": "team-google-results"}),
     "study:results.bucket: 'team-google-results' is not allowed; must not contain 'google' "
     "(reserved by Cloud Storage)"),
    ("gke-4-nightly", with_section(guard={"grace": "\uff11\uff15m"}),
     "study:guard.grace: '\uff11\uff15m' is not allowed; not a duration; use a whole number "
     "with s, m or h (e.g. 15m)"),
], ids=["machine-newline", "machine-fullwidth", "region-fullwidth", "zones-newline",
        "zone-fullwidth", "bucket-newline", "bucket-google", "grace-fullwidth"])
def test_names_sent_to_the_cloud_are_exactly_what_it_names(stack, sec, line):
    """A value sent as written (machine type, zone, bucket) is refused unless the whole of it
    is the cloud's form: Python's `$` matches before a final newline and `\\d` takes
    other scripts' digits, which int() reads. Cloud Storage refuses bucket names containing
    "google" (cloud.google.com/storage/docs/buckets, "Bucket naming requirements")."""
    assert problems_of(sec, stack) == [(line, True)]


def test_budget_and_quota_are_the_only_checks():
    """Exit 3 is for a valid stack that does not fit its budget or declared quota."""
    short = problems_of(with_section(budget={"usd": 0.01}))
    assert short and all(not invalid for _, invalid in short)
    quota = problems_of(with_section(quota={"cpus": 4}))
    assert quota == [("study:quota.cpus: the stack needs 16 but the declared quota is 4; request "
                      "more quota or use fewer or smaller nodes", False)]


def test_a_lifetime_shorter_than_the_run_is_refused():
    """A ttl counts from creation, so one shorter than the estimated run always ends it
    mid-study (the janitor destroys expired stacks): refused like a max_hours below the
    estimate, as a check against the estimate."""
    from infra.estimate import estimate

    sec = with_section(ttl="10m")
    hours = estimate(load_spec(to_config(sec))).hours
    assert hours > 10 / 60  # the premise: gke-4-nightly runs longer than ten minutes
    assert problems_of(sec) == [(
        f"study:ttl: '10m' falls before the run's estimated end ({hours:.2f} h); the janitor "
        "would destroy the cluster mid-study", False)]


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


def _labels_in(obj, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Every (key, value) under a `labels` or `matchLabels` mapping anywhere in `obj`."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key in ("labels", "matchLabels") and isinstance(value, dict):
                found += [(str(k), str(v)) for k, v in value.items()]
            else:
                _labels_in(value, found)
    elif isinstance(obj, list):
        for item in obj:
            _labels_in(item, found)
    return found


@pytest.mark.parametrize(("stack", "labels"), [
    ("eks-16-pulling", {"Team.Name": "HPC_MPI-2", "cost-centre": ""}),
    ("gke-4-nightly", {"team": "hpc_mpi-2", "cost_centre": ""}),
], ids=["eks", "gke"])
def test_rendered_objects_carry_only_labels_kubernetes_accepts(project, stack, labels):
    """What the spec lets through renders as labels the API server takes: every label on every
    rendered object, the study's own included, is a label key (optionally prefixed by a DNS
    subdomain) and a label value (kubernetes/kubernetes
    staging/src/k8s.io/apimachinery/pkg/api/validate/content/kube.go, read at HEAD 2026-12)."""
    from infra.spec.common import K8S_LABEL_NAME, K8S_LABEL_VALUE
    from study.plan import make_plan

    sec = sections(stack)
    sec["cluster"]["labels"] = labels
    project(stack, sec)
    plan = make_plan(stack)
    assert plan.exit_code == 0
    found = _labels_in(plan.manifests, [])
    namespaced = {(f"study-harness.io/{k}", v) for k, v in labels.items()}
    assert {*namespaced, *labels.items(), ("study", sec["study"])} <= set(found)
    bad = [(k, v) for k, v in found
           if not (K8S_LABEL_NAME.fullmatch(k.rpartition("/")[2]) and K8S_LABEL_VALUE.fullmatch(v))]
    assert bad == []


def test_a_value_the_program_refuses_is_invalid_input_too(project, cli, tmp_path):
    """The derived bucket `study-results-<project>` is checked where the program names it; a
    project whose bucket Cloud Storage would refuse ("google" in it) is a mistake in the stack
    file, exit 1 like the validator's own, not a failed check (3)."""
    project("google-proj", gke(project="my-google-proj"))
    code, out, err = cli("plan", "google-proj", "--json", "--manifests", str(tmp_path / "m"))
    assert code == 1
    assert json.loads(out)["violations"] == [
        "study:cluster.project: the results bucket name 'study-results-my-google-proj' must not "
        "contain 'google' (reserved by Cloud Storage); set study:results.bucket to a valid name"]
