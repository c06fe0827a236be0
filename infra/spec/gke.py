"""The GKE cluster a study runs on: every knob the seed studies turned, typed and bounded.

Cross-field rules that need other sections (quota, budget) live in `infra.validate`; the rules
here are the ones a single field or this model alone can decide.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import Field, field_validator

from infra.spec.common import GCP_PROJECT_ID, Strict, ascii_name, gcp_labels

VERSIONS = Path(__file__).resolve().parent.parent / "data" / "gke_versions.yaml"

ImageType = Literal["COS_CONTAINERD", "UBUNTU_CONTAINERD"]
DiskType = Literal["pd-standard", "pd-balanced", "pd-ssd", "hyperdisk-balanced"]
# "No channel" (UNSPECIFIED) is deprecated and GKE removes it on 2027-06-14 (GKE release notes);
# a channel plus a maintenance exclusion (infra.clusters.gke) keeps the versions fixed instead.
ReleaseChannel = Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]
CHANNELS: tuple[str, ...] = get_args(ReleaseChannel)


@cache
def gke_versions() -> dict[str, dict[str, dt.date]]:
    """GKE minor -> {regular, standard_end, extended_end} (dates), from data/gke_versions.yaml."""
    return yaml.safe_load(VERSIONS.read_text())


class GkeClusterSpec(Strict):
    cloud: Literal["gke"] = "gke"
    project: str = Field(description="GCP project id")
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d+$", description="e.g. us-central1")
    zone: str = Field(pattern=r"^[a-z]+-[a-z]+\d+-[a-z]$", description="e.g. us-central1-a")
    # A minor ("1.35") or an exact GKE version; required because the maintenance exclusion that
    # keeps nodes fixed can last only until the end of support of this minor version.
    kubernetes_version: str = Field(pattern=r"^1\.\d{2}(\.\d+(-gke\.\d+)?)?$")
    # EXTENDED keeps a minor version for up to 24 months; the others for about 14.
    release_channel: ReleaseChannel = "REGULAR"
    # GKE's limit per node pool and zone (cloud.google.com/kubernetes-engine/quotas).
    node_count: int = Field(ge=1, le=1000)
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

    @field_validator("release_channel", mode="before")
    @classmethod
    def _not_no_channel(cls, v: object) -> object:
        if v == "UNSPECIFIED":
            msg = (
                "deprecated: GKE removes 'No channel' on 2027-06-14; use one of "
                f"{', '.join(CHANNELS)} (the study's maintenance exclusion keeps versions fixed)"
            )
            raise ValueError(msg)
        return v

    @field_validator("region", "zone", "kubernetes_version")
    @classmethod
    def _ascii(cls, v: str) -> str:
        return ascii_name(v)

    @field_validator("kubernetes_version")
    @classmethod
    def _known_version(cls, v: str) -> str:
        if v != _minor(v):
            # The patches GKE offers change weekly and cannot be known offline; within a minor
            # GKE picks the channel's default patch, which the plan can check.
            msg = (f"not a GKE minor version; give the minor, e.g. '{_minor(v)}' (GKE chooses "
                   "the patch its release channel offers)")
            raise ValueError(msg)
        if _minor(v) not in gke_versions():
            msg = (
                "not a GKE minor version this harness knows the support dates of; known: "
                f"{', '.join(gke_versions())} (infra/data/gke_versions.yaml)"
            )
            raise ValueError(msg)
        return v

    @field_validator("machine_type")
    @classmethod
    def _known_machine(cls, v: str) -> str:
        from infra.machines import gce_shape

        gce_shape(v)  # raises ValueError naming what is allowed
        return v

    @field_validator("labels")
    @classmethod
    def _gcp_labels(cls, v: dict[str, str]) -> dict[str, str]:
        return gcp_labels(v)

    @field_validator("project")
    @classmethod
    def _gcp_project_id(cls, v: str) -> str:
        # GCP's rule (cloud.google.com/resource-manager/docs/creating-managing-projects).
        if not GCP_PROJECT_ID.fullmatch(v):
            msg = ("a GCP project id is 6-30 lowercase letters, digits or '-', starting with a "
                   "letter and not ending with '-'")
            raise ValueError(msg)
        return v

    @property
    def artifact_registry(self) -> bool:
        # The registry is a host plus a path (`us-central1-docker.pkg.dev/PROJECT/REPO`).
        return self.image_registry.split("/", 1)[0].endswith("-docker.pkg.dev")

    @property
    def minor(self) -> str:
        return _minor(self.kubernetes_version)

    @property
    def support_end(self) -> dt.date:
        """The last day GKE supports this minor here (only EXTENDED goes past standard support)."""
        dates = gke_versions()[self.minor]
        return dates["extended_end" if self.release_channel == "EXTENDED" else "standard_end"]


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])
