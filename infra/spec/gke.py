"""The GKE cluster a study runs on: every knob the seed studies turned, typed and bounded.

Cross-field rules that need other sections (quota, budget) live in `infra.validate`; the rules
here are the ones a single field or this model alone can decide.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from infra.spec.common import Strict

ImageType = Literal["COS_CONTAINERD", "UBUNTU_CONTAINERD"]
DiskType = Literal["pd-standard", "pd-balanced", "pd-ssd", "hyperdisk-balanced"]
ReleaseChannel = Literal["UNSPECIFIED", "RAPID", "REGULAR", "STABLE", "EXTENDED"]


class GkeClusterSpec(Strict):
    cloud: Literal["gke"] = "gke"
    project: str = Field(min_length=1, description="GCP project id")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d+$", description="e.g. us-central1")
    zone: str = Field(pattern=r"^[a-z]+-[a-z]+\d+-[a-z]$", description="e.g. us-central1-a")
    # Pin a version so nodes do not change under a study; a channel implies node auto-upgrade.
    kubernetes_version: str | None = Field(default=None, pattern=r"^1\.\d{2}(\.\d+(-gke\.\d+)?)?$")
    release_channel: ReleaseChannel = "UNSPECIFIED"
    node_count: int = Field(ge=1)
    machine_type: str
    threads_per_core: Literal[1, 2] | None = None
    gvnic: bool = False
    local_ssd_count: int = Field(default=0, ge=0, description="375 GB ephemeral SSDs per node")
    image_streaming: bool = False
    compact_placement: bool = False
    network_mtu: int = Field(default=1460, ge=1300, le=8896)
    image_type: ImageType = "COS_CONTAINERD"
    boot_disk_type: DiskType = "pd-balanced"
    boot_disk_size_gb: int = Field(default=100, ge=10, le=65536)
    # Where the studied images live; image streaming only helps images in Artifact Registry.
    image_registry: str = Field(default="ghcr.io", min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("machine_type")
    @classmethod
    def _known_machine(cls, v: str) -> str:
        from infra.machines import gce_shape

        gce_shape(v)  # raises ValueError naming what is allowed
        return v

    @property
    def artifact_registry(self) -> bool:
        # The registry is a host plus a path (`us-central1-docker.pkg.dev/PROJECT/REPO`).
        return self.image_registry.split("/", 1)[0].endswith("-docker.pkg.dev")
