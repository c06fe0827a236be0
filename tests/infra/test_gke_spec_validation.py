"""Invalid GKE stacks: every problem is one line naming key, value and what is allowed.

Each case mutates a real shipped stack, so the rest of the config is known-good.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import SpecError
from infra.spec import load_spec
from infra.validate import validate_stack
from tests.conftest import NOW, sections, to_config


def problems_of(sec: dict, stack: str = "gke-64-localssd", now: datetime = NOW) -> list[str]:
    try:
        spec = load_spec(to_config(sec))
    except SpecError as exc:
        return exc.problems
    return [str(p) for p in validate_stack(spec, stack, now).errors]


def warnings_of(sec: dict, stack: str = "gke-64-localssd", now: datetime = NOW) -> list[str]:
    spec = load_spec(to_config(sec))
    return [str(p) for p in validate_stack(spec, stack, now).warnings]


def absolute(expires_at: str, sec: dict | None = None) -> dict:
    """The stack with an absolute expiry in place of its lifetime (one of the two)."""
    sec = dict(sec or sections("gke-64-localssd"))
    sec.pop("ttl", None)
    return {**sec, "expires_at": expires_at}


def with_cluster(**changes) -> dict:
    sec = sections("gke-64-localssd")
    sec["cluster"].update(changes)
    return sec


def without(path: str) -> dict:
    sec = sections("gke-64-localssd")
    *parents, last = path.split(".")
    node = sec
    for p in parents:
        node = node[p]
    del node[last]
    return sec


CASES = [
    # (id, sections, expected line)
    (
        "node-count-zero",
        with_cluster(node_count=0),
        "study:cluster.node_count: 0 is not allowed; input should be greater than or equal to 1",
    ),
    (
        "node-count-negative",
        with_cluster(node_count=-4),
        "study:cluster.node_count: -4 is not allowed; input should be greater than or equal to 1",
    ),
    (
        "node-count-text",
        with_cluster(node_count="many"),
        # Strict types: text is never parsed into a number (nor `true` into 1).
        "study:cluster.node_count: 'many' is not allowed; input should be a valid integer",
    ),
    (
        "mtu-low",
        with_cluster(network_mtu=1200),
        "study:cluster.network_mtu: 1200 is not allowed; input should be greater than or equal to 1300",
    ),
    (
        "mtu-high",
        with_cluster(network_mtu=9000),
        "study:cluster.network_mtu: 9000 is not allowed; input should be less than or equal to 8896",
    ),
    (
        "image-type",
        with_cluster(image_type="COS"),
        "study:cluster.image_type: 'COS' is not allowed; input should be 'COS_CONTAINERD' or "
        "'UBUNTU_CONTAINERD'",
    ),
    (
        "disk-type",
        with_cluster(boot_disk_type="pd-fast"),
        "study:cluster.boot_disk_type: 'pd-fast' is not allowed; input should be 'pd-standard', "
        "'pd-balanced', 'pd-ssd' or 'hyperdisk-balanced'",
    ),
    (
        "disk-size",
        with_cluster(boot_disk_size_gb=5),
        "study:cluster.boot_disk_size_gb: 5 is not allowed; input should be greater than or equal to 10",
    ),
    (
        "threads",
        with_cluster(threads_per_core=4),
        "study:cluster.threads_per_core: 4 is not allowed; input should be 1 or 2",
    ),
    (
        "channel",
        with_cluster(release_channel="FAST"),
        "study:cluster.release_channel: 'FAST' is not allowed; input should be 'RAPID', "
        "'REGULAR', 'STABLE' or 'EXTENDED'",
    ),
    (
        "channel-none",
        with_cluster(release_channel="UNSPECIFIED"),
        "study:cluster.release_channel: 'UNSPECIFIED' is not allowed; deprecated: GKE removes "
        "'No channel' on 2027-06-14; use one of RAPID, REGULAR, STABLE, EXTENDED (the study's "
        "maintenance exclusion keeps versions fixed)",
    ),
    (
        "k8s-version-unknown",
        with_cluster(kubernetes_version="1.30"),
        "study:cluster.kubernetes_version: '1.30' is not allowed; not a GKE minor version this "
        "harness knows the support dates of; known: 1.33, 1.34, 1.35 "
        "(infra/data/gke_versions.yaml)",
    ),
    (
        "k8s-version-exact-unknown",
        with_cluster(kubernetes_version="1.36.1-gke.100"),
        "study:cluster.kubernetes_version: '1.36.1-gke.100' is not allowed; not a GKE minor "
        "version; give the minor, e.g. '1.36' (GKE chooses the patch its release channel "
        "offers)",
    ),
    (
        # GKE's offered patches change weekly: an exact patch of a known minor cannot be
        # checked offline, so only the minor is accepted.
        "k8s-version-exact-known-minor",
        with_cluster(kubernetes_version="1.35.999-gke.1"),
        "study:cluster.kubernetes_version: '1.35.999-gke.1' is not allowed; not a GKE minor "
        "version; give the minor, e.g. '1.35' (GKE chooses the patch its release channel "
        "offers)",
    ),
    (
        "k8s-version-missing",
        without("cluster.kubernetes_version"),
        "study:cluster.kubernetes_version: required key is missing",
    ),
    (
        "machine-shape",
        with_cluster(machine_type="big-machine"),
        "study:cluster.machine_type: 'big-machine' is not allowed; expected "
        "<family>-<class>-<vcpus>, e.g. n1-standard-16",
    ),
    (
        "machine-family",
        with_cluster(machine_type="z9-standard-8"),
        "study:cluster.machine_type: 'z9-standard-8' is not allowed; unknown machine family 'z9'; "
        "known: c2, c2d, c3, c3d, e2, h3, n1, n2, n2d",
    ),
    (
        "machine-class",
        with_cluster(machine_type="c2-highmem-8"),
        "study:cluster.machine_type: 'c2-highmem-8' is not allowed; unknown class 'highmem' for "
        "family c2; known: standard",
    ),
    (
        "zone-format",
        with_cluster(zone="central"),
        "study:cluster.zone: 'central' is not allowed; string should match pattern "
        "'^[a-z]+-[a-z]+\\d+-[a-z]$'",
    ),
    (
        "k8s-version",
        with_cluster(kubernetes_version="v1.30"),
        "study:cluster.kubernetes_version: 'v1.30' is not allowed; string should match pattern "
        "'^1\\.\\d{2}(\\.\\d+(-gke\\.\\d+)?)?$'",
    ),
    (
        "unknown-cluster-key",
        with_cluster(machine_typ="n1-standard-16"),
        "study:cluster.machine_typ: unknown key; did you mean 'machine_type'?",
    ),
    (
        "unknown-cluster-key-far",
        with_cluster(flavour="x"),
        "study:cluster.flavour: unknown key; allowed: cloud, project, region, zone, "
        "kubernetes_version, release_channel, node_count, machine_type, threads_per_core, gvnic, "
        "local_ssd_count, image_streaming, compact_placement, network_mtu, image_type, "
        "boot_disk_type, boot_disk_size_gb, image_registry, labels",
    ),
    (
        "unknown-top-key",
        {**sections("gke-64-localssd"), "budgett": {"usd": 1}},
        "study:budgett: unknown key; did you mean 'budget'?",
    ),
    (
        "unknown-budget-key",
        {**sections("gke-64-localssd"), "budget": {"usd": 100, "max_hours": 3, "limit": 5}},
        "study:budget.limit: unknown key; allowed: usd, max_hours",
    ),
    (
        "cloud",
        with_cluster(cloud="azure"),
        "study:cluster.cloud: 'azure' is not allowed; allowed: 'gke', 'eks'",
    ),
    ("budget-missing", without("budget"), "study:budget: required key is missing"),
    (
        "budget-zero",
        {**sections("gke-64-localssd"), "budget": {"usd": 0, "max_hours": 3}},
        "study:budget.usd: 0 is not allowed; input should be greater than 0",
    ),
    ("owner-missing", without("owner"), "study:owner: required key is missing"),
    (
        "owner-uppercase",
        {**sections("gke-64-localssd"), "owner": "Alice Smith"},
        "study:owner: 'Alice Smith' is not allowed; must be lowercase letters, digits, '_' or '-', "
        "at most 63 characters",
    ),
    (
        "expiry-naive",
        absolute("2027-01-01T00:00:00"),
        "study:expires_at: '2027-01-01T00:00:00' is not allowed; input should have timezone info",
    ),
    (
        "expiry-past",
        absolute("2026-01-01T00:00:00Z"),
        "study:expires_at: '2026-01-01T00:00:00+00:00' is in the past; must be after "
        "2026-11-22T12:00:00+00:00",
    ),
    (
        "compact-n1",
        with_cluster(compact_placement=True),
        "study:cluster.compact_placement: true is not allowed for machine family 'n1' "
        "(n1-standard-16); compact placement needs one of: c2, c2d, c3, c3d, h3, n2, n2d",
    ),
    (
        "streaming-ubuntu",
        with_cluster(image_type="UBUNTU_CONTAINERD", image_streaming=True, gvnic=False),
        "study:cluster.image_streaming: true needs image_type 'COS_CONTAINERD', not "
        "'UBUNTU_CONTAINERD'",
    ),
    (
        "gvnic-ubuntu",
        with_cluster(image_type="UBUNTU_CONTAINERD"),
        "study:cluster.gvnic: true needs image_type 'COS_CONTAINERD', not 'UBUNTU_CONTAINERD'",
    ),
    (
        "local-ssd-count",
        with_cluster(local_ssd_count=9),
        "study:cluster.local_ssd_count: 9 is not allowed for n1-standard-16; allowed: 1, 2, 3, 4, 5, "
        "6, 7, 8, 16, 24",
    ),
    (
        "local-ssd-e2",
        with_cluster(machine_type="e2-standard-8"),
        "study:cluster.local_ssd_count: 1 is not allowed for e2-standard-8; allowed: none (0 only)",
    ),
    (
        "zone-region",
        with_cluster(zone="europe-west4-a"),
        "study:cluster.zone: 'europe-west4-a' is not in region 'us-central1'",
    ),
    (
        "quota-cpus",
        with_cluster(node_count=128),
        "study:quota.cpus: the stack needs 2048 but the declared quota is 1100; request more quota "
        "or use fewer or smaller nodes",
    ),
    (
        "quota-ssd",
        {**sections("gke-64-localssd"), "quota": {"cpus": 1100, "local_ssd_gb": 1000}},
        "study:quota.local_ssd_gb: the stack needs 24000 but the declared quota is 1000; request "
        "more quota or use fewer or smaller nodes",
    ),
    (
        "budget-short",
        {**sections("gke-64-localssd"), "budget": {"usd": 5, "max_hours": 3}},
        None,
    ),  # exact figure derived below from the price table
    (
        "hours-short",
        {**sections("gke-64-localssd"), "budget": {"usd": 100, "max_hours": 0.1}},
        None,  # exact figure derived in test_max_hours_short_names_the_estimate
    ),
    (
        "e2-threads",
        with_cluster(machine_type="e2-standard-8", local_ssd_count=0),
        "study:cluster.threads_per_core: is not supported on e2 machines; remove it",
    ),
    (
        "metrics-without-jobset",
        {**sections("gke-64-localssd"), "operators": ["metrics-operator"]},
        "study:operators: 'metrics-operator' needs 'jobset' in the same list",
    ),
    (
        "operator-unknown",
        {**sections("gke-64-localssd"), "operators": ["kueue"]},
        "study:operators[0]: 'kueue' is not allowed; input should be 'flux-operator', "
        "'metrics-operator', 'jobset' or 'event-recorder'",
    ),
]


@pytest.mark.parametrize(("sec", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_config_gives_one_clear_line(sec, expected):
    problems = problems_of(sec)
    assert problems, "an invalid config must be rejected"
    assert all("\n" not in p and "Traceback" not in p for p in problems)
    if expected is None:
        return
    assert expected in problems, problems


def test_budget_short_names_the_estimate():
    from infra.estimate import estimate

    sec = {**sections("gke-64-localssd"), "budget": {"usd": 5, "max_hours": 3}}
    est = estimate(load_spec(to_config(sec)))
    line = next(p for p in problems_of(sec) if p.startswith("study:budget.usd"))
    assert line == (
        f"study:budget.usd: 5 does not cover the estimated cost {est.usd:.2f} USD "
        f"({est.price.total:.3f} USD/h x {est.hours:.2f} h); raise it to at least {est.usd:.2f}"
    )


def test_max_hours_short_names_the_estimate():
    from infra.estimate import estimate

    sec = {**sections("gke-64-localssd"), "budget": {"usd": 1000, "max_hours": 0.1}}
    est = estimate(load_spec(to_config(sec)))
    assert est.hours > 0.1
    assert (
        f"study:budget.max_hours: 0.1 is less than the estimated {est.hours:.2f} h; raise it or "
        "shrink the experiment"
    ) in problems_of(sec)


def test_several_problems_are_reported_together():
    sec = with_cluster(node_count=0, network_mtu=100, image_type="COS", machine_typ="x")
    problems = problems_of(sec)
    assert len(problems) == 4
    assert {p.split(":", 2)[1].split(" ")[0] for p in problems} == {
        "cluster.node_count",
        "cluster.network_mtu",
        "cluster.image_type",
        "cluster.machine_typ",
    }


def test_several_cross_field_problems_are_reported_together():
    sec = with_cluster(compact_placement=True, local_ssd_count=9, zone="europe-west4-a")
    keys = {p.split(":", 2)[1] for p in problems_of(sec)}
    assert {"cluster.compact_placement", "cluster.local_ssd_count", "cluster.zone"} <= keys


def test_streaming_outside_artifact_registry_is_a_warning_not_an_error():
    sec = with_cluster(image_streaming=True, image_registry="ghcr.io")
    assert problems_of(sec) == []
    assert any(
        w.startswith("study:cluster.image_registry: 'ghcr.io' is not Artifact Registry")
        for w in warnings_of(sec)
    )


def test_an_expiry_within_the_channels_support_is_accepted():
    """GKE lets a NO_MINOR_OR_NODE_UPGRADES exclusion run to the minor's end of support on its
    channel (GKE docs, maintenance windows and exclusions; the API's
    MaintenanceExclusionOptions.EndTimeBehavior UNTIL_END_OF_SUPPORT ends it there: "the cluster
    control plane version's end of support time, or end of extended support time when the
    cluster is on extended support channel"), so the last day of support itself is fine."""
    for channel, now, expiry in (
        ("REGULAR", datetime(2027, 4, 1, tzinfo=UTC), "2027-04-11T00:00:00Z"),
        ("EXTENDED", datetime(2028, 2, 1, tzinfo=UTC), "2028-02-11T00:00:00Z"),
    ):
        sec = absolute(expiry, with_cluster(release_channel=channel))
        assert problems_of(sec, now=now) == [], channel


class TestLifetimeWithinSupport:
    """The expiry (absolute, or a lifetime from a creation at `now`) must fall within the
    minor's support on its channel, the longest GKE lets the study's exclusion run."""

    def test_absolute_expiry_after_standard_support(self):
        sec = absolute("2027-04-30T00:00:00Z", with_cluster(release_channel="REGULAR"))
        assert problems_of(sec, now=datetime(2027, 4, 1, tzinfo=UTC)) == [
            "study:expires_at: '2027-04-30' is after GKE's end of support for 1.35 on the "
            "REGULAR channel (2027-04-11), when the study's maintenance exclusion must end; use "
            "an earlier expiry or release_channel EXTENDED (supports 1.35 until 2028-02-11)"
        ]

    def test_ttl_after_standard_support(self):
        sec = with_cluster(release_channel="REGULAR")
        # Created 2027-04-11 13:00, a 12h lifetime ends the next day, after standard support.
        assert problems_of(sec, now=datetime(2027, 4, 11, 13, tzinfo=UTC)) == [
            "study:ttl: '12h' ends on 2027-04-12, after GKE's end of support for 1.35 on the "
            "REGULAR channel (2027-04-11), when the study's maintenance exclusion must end; use "
            "a shorter lifetime or release_channel EXTENDED (supports 1.35 until 2028-02-11)"
        ]

    def test_version_past_support_names_the_minor_that_covers_it(self):
        sec = absolute("2027-10-10T00:00:00Z", with_cluster(kubernetes_version="1.34"))
        assert problems_of(sec, now=datetime(2027, 9, 25, tzinfo=UTC)) == [
            "study:expires_at: '2027-10-10' is after GKE's end of support for 1.34 on the "
            "EXTENDED channel (2027-09-30), when the study's maintenance exclusion must end; use "
            "an earlier expiry or kubernetes_version '1.35'"
        ]

    def test_a_version_not_yet_offered(self):
        sec = with_cluster(kubernetes_version="1.35")
        assert problems_of(sec, now=datetime(2026, 1, 10, tzinfo=UTC)) == [
            "study:cluster.kubernetes_version: '1.35' is not offered for new clusters until "
            "2026-02-11; use one of 1.33, 1.34"
        ]

    def test_past_the_calendar_it_is_the_calendar_that_is_stale(self):
        """Years ahead no minor the calendar knows is supported: not the stack's fault, so a
        warning naming the file to update (the shipped stacks plan whatever the date)."""
        later = datetime(2031, 6, 1, tzinfo=UTC)
        sec = sections("gke-64-localssd")
        assert problems_of(sec, now=later) == []
        assert [w for w in warnings_of(sec, now=later) if "kubernetes_version" in w] == [
            "study:cluster.kubernetes_version: no GKE minor in infra/data/gke_versions.yaml is "
            "supported until 2031-06-01 (its last date is 2028-02-11); the calendar is out of "
            "date: add the minors GKE offers now"
        ]


def test_stack_name_must_fit_cluster_naming():
    spec = load_spec(to_config(sections("gke-64-localssd")))
    # Only the stack key's problems: the same name also fails other rules (disk labels).
    errors = [str(p) for p in validate_stack(spec, "GKE_64", NOW).errors if p.key == "stack"]
    assert errors == [
        "stack: 'GKE_64' is not allowed; the cluster is named after the stack: lowercase letters, "
        "digits and '-', starting with a letter, at most 36 characters"
    ]


def test_valid_shipped_stacks_have_no_errors():
    from core.stacks import stack_names

    for stack in stack_names():
        spec = load_spec(to_config(sections(stack)))
        assert validate_stack(spec, stack, NOW).errors == [], stack
