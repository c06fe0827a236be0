"""Offline cost model: USD per hour of a stack's cluster, from the dated price table in data/.

What a run costs = (control plane + nodes x (machine + local SSD + boot disk)) x hours. Egress,
registry storage and logging are left out: for these studies they are cents, and the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from infra.machines import LOCAL_SSD_GB

PRICES = Path(__file__).parent / "data" / "prices.yaml"


@cache
def price_table() -> dict:
    return yaml.safe_load(PRICES.read_text())


@dataclass(frozen=True)
class HourlyPrice:
    machine: float  # one node's machine, USD/h
    local_ssd: float  # one node's local SSDs, USD/h
    boot_disk: float  # one node's boot disk, USD/h
    control_plane: float  # the cluster, USD/h
    nodes: int

    @property
    def per_node(self) -> float:
        return self.machine + self.local_ssd + self.boot_disk

    @property
    def total(self) -> float:
        return self.control_plane + self.nodes * self.per_node


def _region_table(cloud: str, region: str) -> dict:
    table = price_table()[cloud]
    return {**table["default"], **table.get(region, {})}


def gce_machine_price(machine_type: str, region: str) -> float:
    """USD/h of one GCE machine, from its family's per-vCPU and per-GB rates."""
    from infra.machines import gce_shape

    shape = gce_shape(machine_type)
    rates = _region_table("gcp", region)["family_rates"].get(shape.family)
    if rates is None:
        msg = f"no price for machine family '{shape.family}' in {PRICES.name}"
        raise KeyError(msg)
    per_vcpu, per_gb = rates
    return shape.vcpus * per_vcpu + shape.memory_gb * per_gb


def gke_hourly(spec, overrides) -> HourlyPrice:  # spec: GkeClusterSpec, overrides: PriceOverride
    table = _region_table("gcp", spec.region)
    per_month = price_table()["hours_per_month"]
    machine = overrides.machine_usd_per_hour
    if machine is None:
        machine = gce_machine_price(spec.machine_type, spec.region)
    ssd = overrides.local_ssd_usd_per_hour
    if ssd is None:
        ssd = spec.local_ssd_count * LOCAL_SSD_GB * table["local_ssd_gb_month"] / per_month
    disk = spec.boot_disk_size_gb * table["disk_gb_month"][spec.boot_disk_type] / per_month
    cp = overrides.control_plane_usd_per_hour
    return HourlyPrice(
        machine=machine,
        local_ssd=ssd,
        boot_disk=disk,
        control_plane=table["control_plane_per_hour"] if cp is None else cp,
        nodes=spec.node_count,
    )


def eks_hourly(spec, overrides) -> HourlyPrice:  # spec: EksClusterSpec, overrides: PriceOverride
    """EKS: instance list price + EBS root volume (GB and provisioned IOPS) per node; the cluster's
    fixed part is the EKS fee plus the one NAT gateway the private node subnets route through."""
    table = _region_table("aws", spec.region)
    per_month = price_table()["hours_per_month"]
    machine = overrides.machine_usd_per_hour
    if machine is None:
        machine = table["machines"].get(spec.machine_type)
        if machine is None:
            msg = f"no price for EC2 instance type '{spec.machine_type}' in {PRICES.name}"
            raise KeyError(msg)
    disk = spec.boot_disk_size_gb * table["disk_gb_month"][spec.boot_disk_type]
    iops = spec.boot_disk_iops or 0
    if spec.boot_disk_type == "gp3":
        iops = max(0, iops - table["gp3_free_iops"])
    disk += iops * table["iops_month"].get(spec.boot_disk_type, 0.0)
    cp = overrides.control_plane_usd_per_hour
    if cp is None:
        cp = table["control_plane_per_hour"] + table["nat_gateway_per_hour"]
    return HourlyPrice(
        machine=machine,
        local_ssd=overrides.local_ssd_usd_per_hour or 0.0,  # instance store is not modelled
        boot_disk=disk / per_month,
        control_plane=cp,
        nodes=spec.node_count,
    )
