"""Install the operators a stack names, each as its own component, ready before any step.

One component per operator with a fixed type token (`study:infra:FluxOperator`, ...). Upstream
operators go through `pulumi_kubernetes.yaml.v2.ConfigGroup(objs=...)` with the patched objects
from `infra.operators.manifests`: the provider applies CRDs and Namespaces first and awaits every
Deployment's rollout, so an experiment that `depends_on` the component starts only after the
controller is Ready. (Under the mock engine a ConfigGroup is one resource with no children; the
patched objects are validated by tests/infra/operators instead.) The event recorder is rendered as
typed resources so `study plan` validates each object.
"""

from __future__ import annotations

import pulumi
from pulumi import ComponentResource, ResourceOptions

TYPE_TOKENS = {
    "flux-operator": "study:infra:FluxOperator",
    "metrics-operator": "study:infra:MetricsOperator",
    "jobset": "study:infra:JobSet",
    "event-recorder": "study:infra:EventRecorder",
}
# Install order: metrics-operator creates JobSets, so JobSet's CRD and webhook come first.
ORDER = ["jobset", "flux-operator", "metrics-operator", "event-recorder"]


class OperatorInstall(ComponentResource):
    """One operator, installed from its pinned, patched manifest."""

    def __init__(self, name: str, opts: ResourceOptions | None = None):
        super().__init__(TYPE_TOKENS[name], name, None, opts)
        child = ResourceOptions(parent=self)
        if name == "event-recorder":
            from core.k8s import create
            from infra.operators.event_recorder import objects

            self.children = [create(o, child, f"{name}-{o['kind'].lower()}") for o in objects()]
        else:
            import pulumi_kubernetes as k8s

            from infra.operators.manifests import install_objects

            self.children = [
                k8s.yaml.v2.ConfigGroup(f"{name}-manifest", objs=install_objects(name), opts=child)
            ]
        from core.versions import OPERATORS

        op = OPERATORS[name]
        self.version = op.version
        self.register_outputs(
            {"version": op.version, "image": op.controller.ref if op.controller else None}
        )


def install_operators(names: list[str], opts: ResourceOptions) -> dict[str, OperatorInstall]:
    """Install in dependency order; each waits for the ones before it (JobSet before metrics)."""
    installed: dict[str, OperatorInstall] = {}
    previous: list[pulumi.Resource] = []
    for name in ORDER:
        if name not in names:
            continue
        comp = OperatorInstall(
            name, ResourceOptions.merge(opts, ResourceOptions(depends_on=list(previous)))
        )
        installed[name] = comp
        if name == "jobset":
            previous.append(comp)
    return installed
