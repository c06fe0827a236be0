"""What the harness knows about EC2 instance types: vCPUs, memory, EFA support, network, quota.

A fixed table (`data/aws_instance_types.yaml`, which names its sources) rather than a live
`describe-instance-types` call, so a plan works offline. An unknown type is a validation error
that lists the known ones, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

TABLE = Path(__file__).parent / "data" / "aws_instance_types.yaml"

QUOTA_NAMES = {
    "standard": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
    "hpc": "Running On-Demand HPC instances",
}


@dataclass(frozen=True)
class InstanceShape:
    instance_type: str
    vcpus: int
    memory_gb: float  # GiB, as EC2 reports it
    efa: bool
    network: str
    quota_family: str

    @property
    def quota_name(self) -> str:
        return QUOTA_NAMES[self.quota_family]


@cache
def instance_table() -> dict[str, dict]:
    return yaml.safe_load(TABLE.read_text())


def instance_shape(instance_type: str) -> InstanceShape:
    """Look up an EC2 instance type; ValueError names the known types."""
    row = instance_table().get(instance_type)
    if row is None:
        msg = f"unknown EC2 instance type; known: {', '.join(sorted(instance_table()))}"
        raise ValueError(msg)
    return InstanceShape(
        instance_type=instance_type,
        vcpus=int(row["vcpus"]),
        memory_gb=float(row["memory_gib"]),
        efa=bool(row["efa"]),
        network=str(row["network"]),
        quota_family=str(row["quota_family"]),
    )


def efa_instance_types() -> list[str]:
    return sorted(t for t, row in instance_table().items() if row["efa"])
