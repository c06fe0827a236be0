"""Every operator version and every image the harness itself runs, pinned in one place.

Why one module: a study is only reproducible if the controllers and helper images under it do not
move. Upstream dist manifests use `:latest`; `infra.operators.manifests` replaces those references
with the pins below, and a test fails if any rendered object still says `:latest`.

`verified` says whether the tag was checked to exist in its registry when it was pinned. The
flux-operator and metrics-operator builds the studies need are main-branch commits, and upstream
CI publishes main builds only as `:latest` (flux-operator: `.github/workflows/build-deploy.yaml`
runs `make docker-push` with `IMG ?= ghcr.io/flux-framework/flux-operator`). The `main-<commit>`
tags below therefore name the image a study team builds from that commit into its own registry;
`study plan` warns until a digest is recorded here (a digest makes the pin immutable).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    digest: str | None = None  # "sha256:..." when known; then the reference is immutable
    verified: bool = False

    @property
    def ref(self) -> str:
        base = f"{self.repository}:{self.tag}"
        return f"{base}@{self.digest}" if self.digest else base


@dataclass(frozen=True)
class Operator:
    name: str  # the stack's `study:operators` entry
    version: str  # upstream tag or commit the manifest was taken from
    manifest: str  # path under infra/operators/manifests
    controller: Image | None  # replaces the manifest's controller image


# flux-operator main @0d75cef (2026-06-27): the first line with `flux.topology` is after tag 0.2.1.
FLUX_OPERATOR = Operator(
    name="flux-operator",
    version="0d75cef855dee5351d68e32ec139a70e892b5268",
    manifest="flux-operator/flux-operator-0d75cef.yaml",
    controller=Image("ghcr.io/flux-framework/flux-operator", "main-0d75cef"),
)
# metrics-operator main @8f15755 (2024-09-24); its kube-rbac-proxy sidecar is removed.
METRICS_OPERATOR = Operator(
    name="metrics-operator",
    version="8f15755c2daa5f0f2531b1e3ec9cca5dad472491",
    manifest="metrics-operator/metrics-operator-8f15755.yaml",
    controller=Image("ghcr.io/converged-computing/metrics-operator", "main-8f15755"),
)
# JobSet v0.12.0 (>= v0.8: no kube-rbac-proxy); the rendered manifest already names this image.
JOBSET = Operator(
    name="jobset",
    version="v0.12.0",
    manifest="jobset/jobset-v0.12.0.yaml",
    controller=Image("registry.k8s.io/jobset/jobset", "v0.12.0", verified=True),
)
# The event recorder has no upstream manifest: infra/operators/event_recorder.py renders it.
EVENT_RECORDER = Operator(
    name="event-recorder",
    version="v1.7",
    manifest="",
    controller=Image("ghcr.io/resmoio/kubernetes-event-exporter", "v1.7", verified=True),
)

OPERATORS: dict[str, Operator] = {
    op.name: op for op in (FLUX_OPERATOR, METRICS_OPERATOR, JOBSET, EVENT_RECORDER)
}

# Helper images the experiment steps run (never the studied images).
PYTHON = Image("python", "3.12.7-slim-bookworm", verified=True)  # step recorder, archive server
DEBIAN = Image("debian", "12.7-slim", verified=True)  # nsenter for the containerd cache clear
BUSYBOX = Image("busybox", "1.36.1", verified=True)  # results volume preparation
GCRANE = Image("gcr.io/go-containerregistry/gcrane", "v0.20.2")  # registry mirror (GCP keychain)
# The topology app image: bash, coreutils, curl; Ubuntu noble like the default flux view.
TOPOLOGY_APP = Image("buildpack-deps", "noble-curl", verified=True)

HELPER_IMAGES = {"python": PYTHON, "debian": DEBIAN, "busybox": BUSYBOX, "gcrane": GCRANE}


def unverified_pins(operators: list[str]) -> list[str]:
    """Image references of the named operators whose tags were not checked against a registry."""
    out = []
    for name in operators:
        img = OPERATORS[name].controller
        if img is not None and not img.verified and img.digest is None:
            out.append(f"{name}={img.ref}")
    return out
