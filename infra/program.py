"""The Pulumi program: stack config -> typed spec -> cluster, operators and experiment resources.

`__main__.py` calls `main()`; `study plan` runs the same function under the SDK's mock engine.
Validation runs first, so a bad stack fails before any cloud call.
"""

from __future__ import annotations

import pulumi
from pulumi import ResourceOptions

from core import sdk
from core.errors import SpecError
from core.layout import NAMESPACE as STUDY_NAMESPACE
from infra.config import all_config
from infra.expiry import ExpiryStamp, expiry_stamp
from infra.labels import study_labels
from infra.spec import StackSpec, load_spec
from infra.storage import create_storage_class, stamped_storage_class
from infra.validate import validate_stack


def main() -> None:
    stack = pulumi.get_stack()
    spec = load_spec(all_config())
    report = validate_stack(spec, stack)
    for p in report.warnings:
        pulumi.log.warn(str(p))
    if report.errors:
        raise SpecError([str(p) for p in report.errors])
    build(stack, spec)


def make_cluster(stack: str, spec: StackSpec, labels: dict, stamp: ExpiryStamp):
    """The cloud's cluster component; only that cloud's SDK is imported."""
    if spec.cluster.cloud == "gke":
        from infra.clusters.gke import GkeCluster

        return GkeCluster(stack, spec.cluster, labels, expires_at=stamp.rfc3339)
    from infra.clusters.eks import EksCluster

    return EksCluster(stack, spec.cluster, labels)


def build(stack: str, spec: StackSpec) -> None:
    import pulumi_kubernetes as k8s

    core = sdk.package("pulumi_kubernetes.core.v1", "Namespace")
    stamp = expiry_stamp(spec, stack)  # study:ttl: stamped once, at creation, kept in state
    labels = study_labels(spec, stack, stamp.label)
    # Bad disk labels fail before the cloud.
    storage = stamped_storage_class(spec.cluster.cloud, labels)
    cluster = make_cluster(stack, spec, labels, stamp)
    # Every workload waits on the study namespace; the namespace waits on the harness's
    # StorageClass, so each claim's class (and on EKS its CSI driver) exists before the claim.
    sc = create_storage_class(storage, cluster.provider, getattr(cluster, "storage_driver", None))
    k8s_opts = ResourceOptions(provider=cluster.provider, depends_on=[sc])
    namespace = core.Namespace(
        "study-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=STUDY_NAMESPACE,
            labels={f"study-harness.io/{k}": v for k, v in labels.items()},
        ),
        opts=k8s_opts,
    )
    for key, value in cluster.outputs.items():
        pulumi.export(key, value)
    # Where the steps' results outlive the cluster: see infra/results_bucket.py.
    from infra.results_bucket import wire

    results = wire(stack, spec, cluster, namespace, labels)
    # The guard that stops the node spend at the deadline or after the results: infra/guard.py.
    from infra.guard import deploy_guard, guard_steps

    nodes = deploy_guard(stack, spec, cluster, cluster.provider, namespace, labels,
                         guard_steps(spec))
    # Operators, then the experiment (once the nodes are at their size): infra/workloads.py.
    from infra.workloads import deploy

    deploy(stack, spec, cluster.provider, namespace, labels, results, after=[nodes])
