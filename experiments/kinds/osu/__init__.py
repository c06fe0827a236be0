"""OSU micro-benchmarks through the metrics-operator (`network-osu-benchmark` MetricSets).

One MetricSet per benchmark x node count x iteration, each a step. Point-to-point and one-sided
benchmarks measure a pair, so they run on exactly 2 pods and once per iteration (the node count
does not change a pair); collectives and the multi-pair tests run on N pods for every N in
`node_counts`. `soleTenancy` keeps one pod per node, which the recorder checks.

Each step's MetricSet names its own headless Service (`serviceName` = the step name). Why: the
metrics-operator (converged-computing/metrics-operator, the pinned v0.1.13-1 and main @8f15755
alike; controllers/metric/service.go) creates the Service `spec.serviceName` (default `ms`) only
when it is missing, with the selector `metricset-name: <MetricSet name>`
(controllers/metric/metric.go); pods get that name as their `subdomain` (pkg/metrics/set.go) and
the launcher's host list is `<set>-l-0-0.<serviceName>.<ns>.svc.cluster.local`
(pkg/metrics/launcher.go). With one shared `ms` only the first MetricSet's pods resolve and every
later step's `getent` loop spins to its deadline. `dontSetFQDN` keeps the pod's hostname short:
with the FQDN as hostname (the default) the kubelet refuses FQDNs over 64 characters, which step
names plus the namespace exceed.

Duration model (seconds), per step: pod start with images already on the node (the pre-pull step
puts them there, so no first pulls are counted) + the operator's own sleeps (60 s `sleep` option
for the network, then `sleep 5` before collection; pkg/metrics/network/osu-benchmark.go) + the
benchmark's fitted run time. The fit: the seed's run1 times (GKE 64 x c2d-standard-2,
`times.log`, the `real` of each `time mpirun`); pair benchmarks use their mean over sizes,
collectives a power law t = a * N^b fitted in log-log space. Deadline: 1.25 x the estimate (the
largest observed/fitted ratio over the seed's 107 points is 1.19, osu_get_latency at 16 nodes),
at least 120 s beyond it, capped by `time_limit_seconds`; a step whose estimate exceeds its cap
is a plan error. osu_allreduce is fitted on 4 and 8 nodes only (the seed's 64-node run was cut
off during it), so its 32- and 64-node estimates are extrapolations.
"""

from __future__ import annotations

import math
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, field_validator

from experiments.base import ClusterFacts, RenderContext, Step, Workload
from experiments.kinds._common import (
    check_node_counts,
    flux_object,
    flux_workload,
    node_counts_at_least,
    timed_step,
)
from experiments.kinds.osu.results import OsuResults
from experiments.registry import register

START_SECONDS = 30.0  # JobSet -> Jobs -> pods scheduled, sshd up, peers resolved
NETWORK_SLEEP_SECONDS = 60  # the MetricSet's `sleep` option (the operator's default, explicit)
COLLECTION_SLEEP_SECONDS = 5  # the launcher's fixed `sleep 5` before the first benchmark
DEADLINE_MARGIN = 1.25  # max observed/fitted over the seed is 1.19 (see the module docstring)
DEADLINE_SLACK_SECONDS = 120.0  # start-up jitter of a 2..64-pod JobSet with its images present
# The image the metrics-operator runs for `network-osu-benchmark` (OSUContainer in
# pkg/metrics/network/osu-benchmark.go, v0.1.13-1 and 8f15755; upstream publishes only this
# tag). Set explicitly on the metric so the pre-pull list, the image lock and the pods agree.
OSU_METRIC_IMAGE = "ghcr.io/converged-computing/metric-osu-benchmark:latest"

# Benchmarks the seed ran, with how many pods they need ("pair" = exactly 2).
PAIR = (
    "osu_get_acc_latency", "osu_acc_latency", "osu_fop_latency", "osu_get_latency",
    "osu_put_latency", "osu_latency", "osu_bibw", "osu_bw", "osu_put_bw", "osu_latency_mp",
    "osu_put_bibw", "osu_get_bw", "osu_cas_latency", "osu_latency_mt",
)
ALL_NODES = (
    "osu_init", "osu_ibarrier", "osu_hello", "osu_barrier", "osu_mbw_mr", "osu_multi_lat",
    "osu_allgather", "osu_allreduce",
)
KNOWN = PAIR + ALL_NODES

# Seed run1 times.log (converged-computing/operator-experiments@234ab98, google/kubecon/run1):
# seconds per benchmark at 4, 8, 16, 32, 64 nodes.
SEED_TIMES: dict[str, dict[int, float]] = {
    "osu_get_acc_latency": {4: 48.187, 8: 43.910, 16: 53.389, 32: 46.273, 64: 58.422},
    "osu_acc_latency": {4: 27.381, 8: 27.131, 16: 33.659, 32: 26.487, 64: 29.506},
    "osu_fop_latency": {4: 1.484, 8: 1.534, 16: 1.900, 32: 1.487, 64: 1.790},
    "osu_get_latency": {4: 25.901, 8: 25.161, 16: 33.036, 32: 26.466, 64: 28.201},
    "osu_put_latency": {4: 21.931, 8: 23.321, 16: 28.965, 32: 20.634, 64: 26.958},
    "osu_latency": {4: 30.623, 8: 32.157, 16: 37.499, 32: 32.418, 64: 35.810},
    "osu_bibw": {4: 23.017, 8: 23.127, 16: 24.118, 32: 23.286, 64: 23.312},
    "osu_bw": {4: 11.194, 8: 10.966, 16: 11.710, 32: 10.979, 64: 11.140},
    "osu_put_bw": {4: 11.094, 8: 10.945, 16: 10.844, 32: 10.738, 64: 11.688},
    "osu_latency_mp": {4: 32.184, 8: 31.357, 16: 33.352, 32: 32.477, 64: 32.613},
    "osu_put_bibw": {4: 19.777, 8: 17.251, 16: 17.531, 32: 17.338, 64: 17.169},
    "osu_init": {4: 0.797, 8: 1.357, 16: 2.453, 32: 4.658, 64: 10.484},
    "osu_get_bw": {4: 11.201, 8: 11.244, 16: 11.823, 32: 11.705, 64: 11.439},
    "osu_ibarrier": {4: 1.837, 8: 6.394, 16: 19.047, 32: 49.944, 64: 127.411},
    "osu_cas_latency": {4: 1.619, 8: 1.511, 16: 1.994, 32: 1.556, 64: 1.911},
    "osu_latency_mt": {4: 47.579, 8: 46.341, 16: 59.455, 32: 46.559, 64: 51.489},
    "osu_hello": {4: 0.774, 8: 1.301, 16: 2.344, 32: 4.636, 64: 10.483},
    "osu_barrier": {4: 4.047, 8: 14.391, 16: 42.689, 32: 114.684, 64: 293.836},
    "osu_mbw_mr": {4: 103.817, 8: 212.853, 16: 355.673, 32: 837.786, 64: 2019.949},
    "osu_multi_lat": {4: 547.411, 8: 1277.824, 16: 2776.0, 32: 5843.112, 64: 12268.196},
    "osu_allgather": {4: 99.667, 8: 411.879, 16: 1395.983, 32: 4529.901, 64: 15704.303},
    "osu_allreduce": {4: 109.151, 8: 480.290},
}


@cache
def _fit(bench: str) -> tuple[float, float]:
    """(a, b) of t = a * N^b, least squares on log t vs log N over the seed points."""
    pts = SEED_TIMES[bench]
    xs = [math.log(n) for n in pts]
    ys = [math.log(t) for t in pts.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return math.exp(my - b * mx), b


def benchmark_seconds(bench: str, pods: int) -> float:
    """The fitted run time of one benchmark on `pods` pods (the mpirun alone)."""
    pts = SEED_TIMES[bench]
    if bench in PAIR:
        return sum(pts.values()) / len(pts)
    a, b = _fit(bench)
    return a * pods**b


def step_seconds(bench: str, pods: int) -> float:
    """One step: pod start, the operator's sleeps, then the benchmark."""
    return (START_SECONDS + NETWORK_SLEEP_SECONDS + COLLECTION_SLEEP_SECONDS
            + benchmark_seconds(bench, pods))


class OsuParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    benchmarks: list[str] = Field(min_length=1)
    node_counts: list[int] = Field(default_factory=list)  # default: the cluster's node count
    iterations: int = Field(default=1, ge=1, le=20)
    time_limit_seconds: float | None = Field(default=None, gt=0)  # per benchmark, hard cap

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for b in v:
            if b not in KNOWN:
                msg = f"'{b}' is not an OSU benchmark the metrics-operator runs; allowed: " + (
                    ", ".join(KNOWN)
                )
                raise ValueError(msg)
        if len(set(v)) != len(v):
            msg = "benchmarks are listed twice"
            raise ValueError(msg)
        return v

    @field_validator("node_counts")
    @classmethod
    def _counts(cls, v: list[int]) -> list[int]:
        return node_counts_at_least(v, 2)  # a pair is the smallest OSU job


@register
class Osu(OsuResults):
    name = "osu"
    requires = ("jobset", "metrics-operator", "event-recorder")  # operators the stack must list
    Params = OsuParams

    def steps(self, params: OsuParams, cluster: ClusterFacts) -> list[Step]:
        counts = list(params.node_counts) or [cluster.node_count]
        check_node_counts(counts, cluster)
        out = []
        for r in range(1, params.iterations + 1):
            for bench in params.benchmarks:
                for pods in [2] if bench in PAIR else counts:
                    name = bench.removeprefix("osu_").replace("_", "-")
                    out.append(timed_step(f"osu-{name}-n{pods}-r{r}",
                                          step_seconds(bench, pods),
                                          {"benchmark": bench, "pods": pods, "iteration": r},
                                          margin=DEADLINE_MARGIN,
                                          slack=DEADLINE_SLACK_SECONDS,
                                          cap=params.time_limit_seconds))
        return out

    def helper_images(self, params: OsuParams, cluster: ClusterFacts) -> list[str]:
        """Every image the steps' pods run: launcher and workers both run the OSU metric image."""
        return [OSU_METRIC_IMAGE]

    def render(self, step: Step, params: OsuParams, ctx: RenderContext, opts) -> Workload:
        from experiments.component import step_labels

        ns, pods = ctx.namespace, step.params["pods"]
        labels = step_labels(ctx, step.name, "workload")
        obj = flux_object("MetricSet", step, ctx, labels, {
            "pods": pods,
            "deadlineSeconds": int(step.deadline_seconds),
            "serviceName": step.name,  # one headless Service per step (see module docstring)
            "dontSetFQDN": True,
            "pod": {"labels": labels},
            "metrics": [
                {
                    "name": "network-osu-benchmark",
                    "image": OSU_METRIC_IMAGE,
                    "options": {"soleTenancy": "true", "timed": "true",
                                "sleep": NETWORK_SLEEP_SECONDS},
                    "listOptions": {"commands": [step.params["benchmark"]]},
                }
            ],
        })
        # The metrics-operator runs the MetricSet as a JobSet of the same name.
        wait = f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{ns}/jobsets/{step.name}"
        return flux_workload(obj, opts, wait, {"nodes": pods, "pods_per_node": 1})
