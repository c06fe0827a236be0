"""Quota arithmetic for the preflight: what a stack needs against what the region has left.

The offline plan already checks the declared quota; this adds the live figures (limit minus
current usage) when an inventory with credentials provides them.
"""

from __future__ import annotations

from study.lifecycle.interfaces import QuotaReading


def quota_needs(spec) -> dict[str, float]:
    """Quota keys the stack consumes: vCPUs of its family, addresses, instances, local SSD GB."""
    from infra.clusters.shapes import node_shape

    c = spec.cluster
    vcpus, _ = node_shape(c)
    needs: dict[str, float] = {"cpus": c.node_count * vcpus, "instances": c.node_count}
    if c.cloud == "gke":
        from infra.machines import LOCAL_SSD_GB

        needs["in_use_addresses"] = c.node_count
        if getattr(c, "local_ssd_count", 0):
            needs["local_ssd_gb"] = c.node_count * c.local_ssd_count * LOCAL_SSD_GB
    return needs


def declared_quota(spec, note: str) -> QuotaReading:
    limits = {k: float(v) for k, v in spec.quota.model_dump().items() if v is not None}
    return QuotaReading(source="declared", limits=limits, note=note)


def shortfalls(spec, reading: QuotaReading) -> list[str]:
    """One line per quota the stack does not fit in, with need, available, limit and usage."""
    out = []
    for key, need in quota_needs(spec).items():
        avail = reading.available(key)
        if avail is None or need <= avail:
            continue
        limit = reading.limits[key]
        used = reading.usage.get(key, 0.0)
        out.append(
            f"quota {key} ({reading.source}): the stack needs {need:g} but only {avail:g} is "
            f"available (limit {limit:g}, in use {used:g}); request more quota or use fewer or "
            "smaller nodes"
        )
    return out
