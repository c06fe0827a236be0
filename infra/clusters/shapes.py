"""Per-cloud facts a plan needs without importing any cloud SDK: node shape and hourly price.

One dispatch point on `cluster.cloud`, so adding a cloud means adding one branch here.
"""

from __future__ import annotations

from infra.pricing import HourlyPrice


def node_shape(cluster) -> tuple[int, float]:
    """(vCPUs, memory GB) of one node."""
    if cluster.cloud == "gke":
        from infra.machines import gce_shape

        gce = gce_shape(cluster.machine_type)
        return gce.vcpus, gce.memory_gb
    from infra.aws_instances import instance_shape  # EKS

    ec2 = instance_shape(cluster.machine_type)
    return ec2.vcpus, ec2.memory_gb


def hourly_price(spec) -> HourlyPrice:
    if spec.cluster.cloud == "gke":
        from infra.pricing import gke_hourly

        return gke_hourly(spec.cluster, spec.prices)
    from infra.pricing import eks_hourly

    return eks_hourly(spec.cluster, spec.prices)
