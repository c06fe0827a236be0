"""How long a stack's run takes and what it costs, before anything exists.

hours = provisioning + the experiment's own estimate (sum of its steps) + teardown.
Provisioning and teardown are the figures seen for zonal GKE clusters with one node pool (about
6 min for the control plane, 4 min for the pool, 3 min for operators; 6 min to delete), and for
EKS (about 10 min for the control plane, 4 min for the node group). Nodes are billed throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.base import ClusterFacts, Step
from infra.pricing import HourlyPrice

PROVISION_HOURS = {"gke": 13 / 60, "eks": 17 / 60}
TEARDOWN_HOURS = {"gke": 6 / 60, "eks": 10 / 60}


@dataclass(frozen=True)
class Estimate:
    price: HourlyPrice
    provision_hours: float
    experiment_hours: float
    teardown_hours: float
    steps: tuple[Step, ...]

    @property
    def hours(self) -> float:
        return self.provision_hours + self.experiment_hours + self.teardown_hours

    @property
    def usd(self) -> float:
        return self.price.total * self.hours

    @property
    def node_hours(self) -> float:
        return self.price.nodes * self.hours


def cluster_facts(spec) -> ClusterFacts:  # spec: StackSpec
    from infra.clusters.shapes import node_shape

    c = spec.cluster
    vcpus, _ = node_shape(c)
    return ClusterFacts(
        cloud=c.cloud,
        node_count=c.node_count,
        machine_type=c.machine_type,
        vcpus_per_node=vcpus,
        image_registry=getattr(c, "image_registry", ""),
        local_ssd=getattr(c, "local_ssd_count", 0) > 0,
        image_streaming=getattr(c, "image_streaming", False),
    )


def experiment_steps(spec) -> list[Step]:
    """The experiment's steps in run order (empty when the stack has no experiment)."""
    if spec.experiment is None:
        return []
    from experiments.registry import get_kind

    kind = get_kind(spec.experiment.kind)
    params = kind.Params.model_validate(spec.experiment.params)
    return kind.steps(params, cluster_facts(spec))


def estimate(spec, steps: list[Step] | None = None) -> Estimate:
    from infra.clusters.shapes import hourly_price

    if steps is None:
        steps = experiment_steps(spec)
    exp_hours = sum(s.estimated_seconds for s in steps) / 3600
    if spec.experiment is not None and spec.experiment.estimated_hours is not None:
        exp_hours = spec.experiment.estimated_hours
    cloud = spec.cluster.cloud
    return Estimate(
        price=hourly_price(spec),
        provision_hours=PROVISION_HOURS[cloud],
        experiment_hours=exp_hours,
        teardown_hours=TEARDOWN_HOURS[cloud],
        steps=tuple(steps),
    )
