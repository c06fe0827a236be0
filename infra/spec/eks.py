"""The EKS cluster a study runs on: the knobs of the seed EKS studies, typed and bounded.

Field names match `GkeClusterSpec` wherever the meaning is the same (region, zone, node_count,
machine_type, boot disk, network_mtu, image_registry, labels), so `study compare-stacks` and the
estimate read both clouds alike. Rules that need several fields or other sections (EFA needs a
cluster placement group in one AZ, quota) live in `infra.rules.eks`.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, field_validator

from infra.spec.common import Strict, ascii_name, aws_tags

VERSIONS = Path(__file__).resolve().parent.parent / "data" / "eks_versions.yaml"

# An availability zone name (fullmatch, ASCII digits: it is sent to AWS as written).
AZ_NAME = re.compile(r"[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]")

EbsType = Literal["gp2", "gp3", "io1"]
PlacementStrategy = Literal["cluster", "partition", "spread"]


@cache
def eks_versions() -> dict[str, dict]:
    """EKS minor version -> {standard_end, extended_end} (dates), from data/eks_versions.yaml."""
    return yaml.safe_load(VERSIONS.read_text())


class PlacementGroupSpec(Strict):
    # cluster: one rack-dense group in one AZ (lowest latency, needed for EFA);
    # partition: racks kept apart; spread: at most 7 running instances per AZ.
    strategy: PlacementStrategy
    partition_count: int | None = Field(default=None, ge=1, le=7, description="partition only")


class EksClusterSpec(Strict):
    cloud: Literal["eks"] = "eks"  # the union tag; required in stack files all the same
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="e.g. us-east-2")
    # The control plane needs subnets in at least two AZs; one private /18 per zone.
    zones: list[str] = Field(min_length=2, max_length=3)
    # The node group's single AZ; required for a placement group or EFA. Unset: nodes spread
    # over `zones`.
    zone: str | None = Field(default=None, pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")
    kubernetes_version: str = Field(pattern=r"^1\.\d{2}$", description="EKS minor, e.g. 1.27")
    # EKS's default quota of nodes per managed node group (docs.aws.amazon.com/eks, service quotas).
    node_count: int = Field(ge=1, le=450)
    machine_type: str = Field(description="EC2 instance type, e.g. c5a.4xlarge")
    boot_disk_type: EbsType = "gp3"
    boot_disk_size_gb: int = Field(default=80, ge=20, le=16384)
    boot_disk_iops: int | None = Field(default=None, ge=100, le=64000, description="gp3/io1")
    placement_group: PlacementGroupSpec | None = None
    efa: bool = False
    # Pod network MTU set on the VPC CNI (AWS_VPC_ENI_MTU); unset keeps the CNI default 9001.
    network_mtu: int | None = Field(default=None, ge=576, le=9001)
    image_registry: str = Field(default="ghcr.io", min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("zones")
    @classmethod
    def _zone_names(cls, v: list[str]) -> list[str]:
        for z in v:
            if not AZ_NAME.fullmatch(z):
                msg = f"'{z}' is not an availability zone name, e.g. us-east-2a"
                raise ValueError(msg)
        if len(set(v)) != len(v):
            msg = "zones must be distinct"
            raise ValueError(msg)
        return v

    @field_validator("region", "zone", "kubernetes_version")
    @classmethod
    def _ascii(cls, v: str | None) -> str | None:
        return None if v is None else ascii_name(v)

    @field_validator("kubernetes_version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        if v not in eks_versions():
            msg = f"not an EKS version this harness knows; known: {', '.join(eks_versions())}"
            raise ValueError(msg)
        return v

    @field_validator("machine_type")
    @classmethod
    def _known_instance(cls, v: str) -> str:
        from infra.aws_instances import instance_shape

        instance_shape(v)  # raises ValueError naming what is allowed
        return v

    @field_validator("labels")
    @classmethod
    def _aws_tags(cls, v: dict[str, str]) -> dict[str, str]:
        # The labels also tag the results disk, whose CSI driver is stricter (infra.storage).
        return aws_tags(v)

    @property
    def node_zones(self) -> list[str]:
        """The AZs the node group runs in: the one `zone`, or all `zones`."""
        return [self.zone] if self.zone else list(self.zones)
