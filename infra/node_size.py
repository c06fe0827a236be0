"""Holds the study's node pool / node group at the size the stack declares, across guard stops.

Why: the guard scales the nodes to zero outside Pulumi. The GKE node pool and EKS node group read
their size back only on a refresh (hashicorp/terraform-provider-google
google/services/container/resource_container_node_pool.go sets `node_count` from the instance
groups on read and calls setSize in `nodePoolUpdate` on `d.HasChange("node_count")`;
hashicorp/terraform-provider-aws internal/service/eks/node_group.go reads `scaling_config` from
DescribeNodegroup and calls UpdateNodegroupConfig on `d.HasChange("scaling_config")`), and
Pulumi does not refresh before an update unless asked (pulumi/pulumi#3664, #2247): its state
still holds the old size, so a plain `pulumi up` would leave the pool at zero. A full refresh is
no way out: it would bring back the Jobs the step recorders deleted and rerun their steps.

So one small dynamic resource asks the cloud itself: its `diff` reads the pool's live target
size (`infra.node_scaler`) and reports a change when the pool has fewer nodes than
declared; its `update` sets the size back and waits for the nodes. A plain `pulumi up` after a
guard stop therefore scales back, then creates the steps not yet recorded (resume as usual), and
the guard, seeing its own scale-down undone, counts the deadline again from then. It never
shrinks a pool (only the guard does that) and never runs where the cluster does not exist yet.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic as dynamic
from pulumi import ResourceOptions


def scaler_for(props: dict[str, Any]):
    """The real client-library scaler for the pool the props name."""
    from infra.node_scaler import EksNodeScaler, GkeNodeScaler

    if props["cloud"] == "gke":
        return GkeNodeScaler(props["project"], props["location"], props["cluster"],
                             props["pool"])
    return EksNodeScaler(props["location"], props["cluster"], props["pool"])


class NodeSizeProvider(dynamic.ResourceProvider):
    """create: nothing (the pool was just created at its size); diff: live size below the
    declared one; update: scale back and wait."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=f"{props['cluster']}/{props['pool']}", outs=props)

    def diff(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        live, _created = scaler_for(news).pool()
        return dynamic.DiffResult(changes=live < int(news["nodes"]), replaces=[], stables=[],
                                  delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any],
               news: dict[str, Any]) -> dynamic.UpdateResult:
        scaler_for(news).scale_to(int(news["nodes"]))
        return dynamic.UpdateResult(outs=news)


class NodeSize(dynamic.Resource):
    """`study:guard:NodeSize`-like holder (a dynamic resource's type is fixed by the SDK)."""

    def __init__(self, name: str, props: dict[str, Any], opts: ResourceOptions | None = None):
        super().__init__(NodeSizeProvider(), name, props, opts)


def hold_node_size(plan, nodes: int, pool_resource: pulumi.Resource,
                   parent: pulumi.Resource) -> NodeSize:
    """The holder for `plan`'s pool (infra.guard.GuardPlan), after the pool itself."""
    props = {"cloud": plan.cloud, "project": plan.project, "location": plan.location,
             "cluster": plan.cluster, "pool": plan.pool, "nodes": nodes}
    return NodeSize(f"{plan.stack}-node-size", props,
                    ResourceOptions(parent=parent, depends_on=[pool_resource]))
