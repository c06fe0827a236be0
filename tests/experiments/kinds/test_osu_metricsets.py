"""What the metrics-operator does with our MetricSets: each step resolves its own pods.

Read at converged-computing/metrics-operator@8f15755 (and unchanged at tag v0.1.13-1):
- controllers/metric/service.go `exposeServices`: the headless Service `spec.serviceName` is
  created only when no Service of that name exists; controllers/metric/metric.go gives it the
  selector `{"metricset-name": <MetricSet name>}`; the CRD defaults `serviceName` to `ms`.
- pkg/metrics/set.go: pods get `subdomain: serviceName` and, unless `dontSetFQDN`, their FQDN as
  hostname; pkg/metrics/launcher.go `GetHostlist`: peers are
  `<set>-l-0-0.<serviceName>.<ns>.svc.cluster.local` and `<set>-w-0-<i>...`, which the launcher's
  `getent hosts` loop (pkg/metrics/template.go) waits for without a limit.
- pkg/metrics/network/osu-benchmark.go: `sleep` option (default 60) and the `OSUContainer` image.
Kubernetes (docs, dns-pod-service): a pod whose hostname is its FQDN fails to start when the FQDN
is over 64 characters.
"""

from __future__ import annotations

import re

import pytest

from core.layout import NAMESPACE
from experiments.base import ClusterFacts, RenderContext
from experiments.kinds import osu
from tests.conftest import stack_yaml

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def facts() -> ClusterFacts:
    return ClusterFacts(cloud="gke", node_count=64, machine_type="c2d-standard-2",
                        vcpus_per_node=2, image_registry="ghcr.io")


@pytest.fixture
def metricsets(monkeypatch):
    """Every MetricSet of the shipped OSU stack's matrix, as rendered, in run order."""
    import core.k8s
    import experiments.component  # noqa: F401  (binds the real `create` before the patch)

    monkeypatch.setattr(core.k8s, "create", lambda obj, opts, name=None: obj)
    kind = osu.Osu()
    params = kind.Params.model_validate(
        stack_yaml("gke-64-osu")["config"]["study:experiment"]["params"])
    ctx = RenderContext("gke-64-osu", NAMESPACE, facts(), {"study-harness.io/stack": "gke-64-osu"})
    return [kind.render(s, params, ctx, None).resources[0] for s in kind.steps(params, facts())]


def operator_services(objs: list[dict]) -> dict[str, dict[str, str]]:
    """The Services the operator ends up with: created only when missing (service.go)."""
    services: dict[str, dict[str, str]] = {}
    for o in objs:
        name = o["spec"].get("serviceName", "ms")  # the CRD default
        services.setdefault(name, {"metricset-name": o["metadata"]["name"]})
    return services


def test_every_step_resolves_its_own_pods(metricsets):
    """Regression: with the shared default `ms`, only the first MetricSet's pods resolved."""
    services = operator_services(metricsets)
    for o in metricsets:
        selector = services[o["spec"]["serviceName"]]
        assert selector == {"metricset-name": o["metadata"]["name"]}, o["metadata"]["name"]
    assert len(services) == len(metricsets)


def test_service_names_and_hostnames_fit_dns_limits(metricsets):
    """serviceName is a Service name (DNS-1035 label); pod hostnames are DNS labels (<= 63)."""
    for o in metricsets:
        name, spec = o["metadata"]["name"], o["spec"]
        assert DNS_1035.match(spec["serviceName"]) and len(spec["serviceName"]) <= 63
        last_worker = f"{name}-w-0-{int(spec['pods']) - 2}"
        assert len(last_worker) <= 63, last_worker
        assert spec["dontSetFQDN"] is True


def test_fqdn_hostnames_would_not_fit(metricsets):
    """Why dontSetFQDN: with the FQDN as hostname a step named up to the step-name limit could
    not start its pods (the service is named after the step)."""
    from experiments.base import MAX_STEP_NAME

    longest = max(metricsets, key=lambda o: len(o["metadata"]["name"]))
    assert longest["spec"]["serviceName"] == longest["metadata"]["name"]
    assert all(o["spec"]["dontSetFQDN"] is True for o in metricsets)
    name = "o" * MAX_STEP_NAME
    assert len(f"{name}-w-0-62.{name}.{NAMESPACE}.svc.cluster.local") > 64


def test_pods_of_different_steps_carry_different_labels(metricsets):
    """No selector built from one step's pod labels can match another step's pods."""
    steps = [o["spec"]["pod"]["labels"]["study-harness.io/step"] for o in metricsets]
    assert steps == [o["metadata"]["name"] for o in metricsets]
    assert len(set(steps)) == len(steps)


def test_metric_runs_the_prepulled_image_and_declared_sleep(metricsets):
    """The pods run exactly what helper_images pre-pulls; the estimate's sleep is the object's."""
    images = osu.Osu().helper_images(osu.OsuParams(benchmarks=["osu_latency"]), facts())
    for o in metricsets:
        (metric,) = o["spec"]["metrics"]
        assert [metric["image"]] == images == [osu.OSU_METRIC_IMAGE]
        assert metric["options"]["sleep"] == osu.NETWORK_SLEEP_SECONDS
