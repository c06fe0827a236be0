"""OSU micro-benchmarks through the metrics-operator (`network-osu-benchmark` MetricSets).

One MetricSet per node count x iteration, each a step, as the seed ran it: N pods running that
node count's benchmark list in order (`listOptions.commands`). Point-to-point and one-sided
benchmarks run on 2 of the N pods (the operator's pair host list), collectives and the multi-pair
tests on all N. The list is the same at every node count (`benchmarks` x `node_counts`) or given
per node count (`runs`: the seed ran osu_allreduce only at 4 and 8 nodes). `soleTenancy` keeps
one pod per node, which the recorder checks.

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
puts them there), the recorder and the upload (the harness's overhead), the operator's own sleeps
(60 s `sleep` option for the network, then `sleep 5` before collection;
pkg/metrics/network/osu-benchmark.go) and the benchmarks' fitted run times
(`experiments.duration_model`, fitted by `benchmarks/fit_durations.py` to the `real` of each `time
mpirun` in the seed's launcher logs, GKE 64 x c2d-standard-2): pair benchmarks their mean over
sizes, collectives a power law t = a * N^b in log-log space. Deadline: 1.25 x the estimate (the
largest observed/fitted ratio over the seed's 107 points is 1.19, osu_get_latency at 16 nodes),
at least 120 s beyond it, capped by `time_limit_seconds`; a step whose estimate exceeds its cap
is a plan error. osu_allreduce is fitted on 4 and 8 nodes only (the seed's 64-node run was cut
off during it), so its 16- to 64-node estimates are extrapolations.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from experiments import duration_model
from experiments.base import ClusterFacts, RenderContext, Step, Workload
from experiments.kinds._common import (
    check_node_counts,
    flux_object,
    flux_workload,
    node_counts_at_least,
    runs_distinct,
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

def benchmark_seconds(bench: str, pods: int) -> float:
    """The fitted run time of one benchmark on `pods` pods (the mpirun alone)."""
    return duration_model.osu_benchmark_seconds(bench, 2 if bench in PAIR else pods)


def work_seconds(benchmarks: list[str], pods: int) -> float:
    """One MetricSet's measured work: the network sleep the seed's log shows, then each
    benchmark's mpirun."""
    return NETWORK_SLEEP_SECONDS + sum(benchmark_seconds(b, pods) for b in benchmarks)


def overhead_seconds() -> float:
    """Pod start, the launcher's collection sleep, the recorder and the upload."""
    return (START_SECONDS + COLLECTION_SLEEP_SECONDS + duration_model.harness("recorder")
            + duration_model.harness("upload"))


def step_seconds(benchmarks: list[str], pods: int) -> float:
    """One step: the harness's overhead and the MetricSet's work."""
    return overhead_seconds() + work_seconds(benchmarks, pods)


def _known_list(v: list[str]) -> list[str]:
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


class OsuRun(BaseModel):
    """One node count and the benchmarks its MetricSet runs, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    nodes: int = Field(ge=2)  # a pair is the smallest OSU job
    benchmarks: list[str] = Field(min_length=1)

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return _known_list(v)


class OsuParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    # The same list at every node count, or `runs`: a list per node count.
    benchmarks: list[str] = Field(default_factory=list)
    node_counts: list[int] = Field(default_factory=list)  # default: the cluster's node count
    runs: list[OsuRun] = Field(default_factory=list)
    iterations: int = Field(default=1, ge=1, le=20)
    time_limit_seconds: float | None = Field(default=None, gt=0)  # per MetricSet, hard cap

    @field_validator("benchmarks")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        return _known_list(v)

    @model_validator(mode="after")
    def _one_matrix(self):
        if self.runs and (self.benchmarks or self.node_counts):
            msg = "give runs, or benchmarks with node_counts, not both"
            raise ValueError(msg)
        if not self.runs and not self.benchmarks:
            msg = "no benchmarks: give benchmarks (with node_counts), or runs"
            raise ValueError(msg)
        runs_distinct(self.runs)
        return self

    def matrix(self, cluster_nodes: int) -> list[tuple[int, list[str]]]:
        """(node count, benchmarks) per MetricSet, in run order."""
        if self.runs:
            return [(r.nodes, list(r.benchmarks)) for r in self.runs]
        return [(n, list(self.benchmarks)) for n in (self.node_counts or [cluster_nodes])]

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
        matrix = params.matrix(cluster.node_count)
        check_node_counts([n for n, _ in matrix], cluster)
        out = []
        for r in range(1, params.iterations + 1):
            for pods, benchmarks in matrix:
                work = work_seconds(benchmarks, pods)
                out.append(timed_step(f"osu-n{pods}-r{r}",
                                      overhead_seconds() + work,
                                      {"benchmarks": benchmarks, "pods": pods, "iteration": r},
                                      margin=DEADLINE_MARGIN,
                                      slack=DEADLINE_SLACK_SECONDS,
                                      cap=params.time_limit_seconds,
                                      work=work))
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
                    "listOptions": {"commands": list(step.params["benchmarks"])},
                }
            ],
        })
        # The metrics-operator runs the MetricSet as a JobSet of the same name.
        wait = f"/apis/jobset.x-k8s.io/v1alpha2/namespaces/{ns}/jobsets/{step.name}"
        return flux_workload(obj, opts, wait, {"nodes": pods, "pods_per_node": 1})
