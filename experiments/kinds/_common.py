"""What the experiment kinds share when they turn parameters into steps and steps into workloads.

Why: every kind sizes a step's hard deadline from its estimate the same way, rejects node counts
larger than the cluster with the same message, and hands the step recorder the same things for a
workload: the API path it waits for, the API path it deletes at the deadline, and a pod selector
of the step's own labels. The operator-backed kinds (MiniCluster, MetricSet) also create their one
object with the same metadata: step labels, and `pulumi.com/skipAwait` so that the recorder, not
Pulumi, waits for it and records a failure as data. One copy here keeps the kinds from drifting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.layout import LABEL_ROLE, LABEL_STEP
from experiments.base import ClusterFacts, RenderContext, Step, Workload

FLUX_API = "flux-framework.org/v1alpha2"  # MiniCluster (flux-operator), MetricSet (metrics-op.)
DEADLINE_SLACK_SECONDS = 600.0
DEADLINE_MARGIN = 3.0  # kinds without a seed spread to derive a margin from


def step_deadline(estimate: float, slack: float = DEADLINE_SLACK_SECONDS,
                  margin: float = DEADLINE_MARGIN) -> float:
    """A step's hard deadline: `margin` times its estimate, and at least `slack` seconds beyond it.

    Each kind states its margin from its seed data's spread (observed over fitted); the slack
    floor covers start-up jitter (scheduling, DNS), which does not scale with the fitted time.
    """
    return max(margin * estimate, estimate + slack)


def timed_step(name: str, estimate: float, params: dict[str, Any], *,
               slack: float = DEADLINE_SLACK_SECONDS, margin: float = DEADLINE_MARGIN,
               cap: float | None = None, work: float | None = None) -> Step:
    """A step with its estimate and deadline (both rounded to 0.1 s); `cap` bounds the deadline.

    The estimate is never cut to the cap: it feeds the cost, and a step whose estimate exceeds
    its deadline is a plan error (`infra.estimate.over_cap_problems`), not a step that is killed
    at its deadline on every run. `work` is the part of the estimate spent in measured work.
    """
    deadline = step_deadline(estimate, slack, margin)
    if cap is not None:
        deadline = min(deadline, cap)
    return Step(name, round(estimate, 1), round(deadline, 1), params,
                None if work is None else round(work, 1))


def check_node_counts(counts: list[int], cluster: ClusterFacts) -> None:
    """ValueError naming the requested node counts the cluster is too small for."""
    too_big = [n for n in counts if n > cluster.node_count]
    if too_big:
        msg = (f"study:experiment.params.node_counts: {too_big} is not allowed; the cluster "
               f"has {cluster.node_count} nodes")
        raise ValueError(msg)


def node_counts_at_least(counts: list[int], least: int) -> list[int]:
    """Parameter validation: every requested node count is at least `least` (ValueError)."""
    if any(n < least for n in counts):
        msg = f"node counts must be at least {least}"
        raise ValueError(msg)
    return counts


def runs_distinct(runs: list[Any]) -> None:
    """Parameter validation: no node count in `runs` twice (a run is named by its node count)."""
    counts = [r.nodes for r in runs]
    if len(set(counts)) != len(counts):
        msg = f"runs: node counts {counts} are listed twice"
        raise ValueError(msg)


def pod_selector(labels: dict[str, str]) -> str:
    """The label selector of a step's pods of one role (what the recorder lists and logs)."""
    return ",".join(f"{k}={labels[k]}" for k in (LABEL_STEP, LABEL_ROLE))


def job_path(namespace: str, name: str) -> str:
    return f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}"


def job_workload(step: Step, ctx: RenderContext, role: str, opts: Any,
                 build: Callable[[Step, RenderContext, dict[str, str]], dict[str, Any]]
                 ) -> Workload:
    """A step that is one Job, `build(step, ctx, labels)`: wait for it, delete it at deadline."""
    from core.k8s import create
    from experiments.component import step_labels

    labels = step_labels(ctx, step.name, role)
    res = create(build(step, ctx, labels), opts)
    path = job_path(ctx.namespace, step.name)
    return Workload([res], [path], [path], pod_selector(labels))


def flux_object(kind: str, step: Step, ctx: RenderContext, labels: dict[str, str],
                spec: dict[str, Any]) -> dict[str, Any]:
    """A flux-framework.org object (MiniCluster or MetricSet) named after the step."""
    return {
        "apiVersion": FLUX_API,
        "kind": kind,
        "metadata": {
            "name": step.name,
            "namespace": ctx.namespace,
            "labels": labels,
            # The step recorder waits for it; Pulumi's generic await must not.
            "annotations": {"pulumi.com/skipAwait": "true"},
        },
        "spec": spec,
    }


def flux_workload(obj: dict[str, Any], opts: Any, wait_for: str,
                  expect: dict[str, Any]) -> Workload:
    """Create a `flux_object`; the recorder waits for `wait_for` (the Job or JobSet its operator
    creates) and deletes the object itself at the deadline."""
    from core.k8s import create

    meta = obj["metadata"]
    res = create(obj, opts)
    owner = (f"/apis/{FLUX_API}/namespaces/{meta['namespace']}/{obj['kind'].lower()}s/"
             f"{meta['name']}")
    return Workload([res], [wait_for], [owner], pod_selector(meta["labels"]), expect)


def minicluster_workload(step: Step, ctx: RenderContext, opts: Any, *, size: int, tasks: int,
                         logging: dict[str, Any], flux: dict[str, Any],
                         containers: list[dict[str, Any]], expect: dict[str, Any]) -> Workload:
    """One flux-operator MiniCluster of `size` pods running the step; it ends with its Job."""
    from experiments.component import step_labels

    labels = step_labels(ctx, step.name, "workload")
    obj = flux_object("MiniCluster", step, ctx, labels, {
        "size": size,
        "tasks": tasks,
        "deadlineSeconds": int(step.deadline_seconds),
        "logging": logging,
        "flux": flux,
        # flux-operator @1f686fea defaults headlessName to a shared `flux-service` and creates it
        # only when missing (api/v1alpha2/minicluster_types.go): a step could find the previous
        # step's Service still deleting and never bootstrap. Each step names its own.
        "network": {"headlessName": step.name},
        "pod": {"labels": labels},
        "containers": containers,
    })
    return flux_workload(obj, opts, job_path(ctx.namespace, step.name), expect)
