"""Studied image references: the container-chonks tag scheme, and mirroring into a stack's registry.

Why: the pulling and apps studies name images as data (a repository plus layer counts x sizes, or
explicit references), and an Artifact Registry stack must pull from its own repository, which the
seed filled by hand (re-tag and push). Here the copy is a preparation step of the experiment,
run beside the operators' installation: one Job whose init containers run `gcrane cp SRC DST`
(idempotent: blobs already present are skipped) with the node's Google credentials, so a re-run
copies nothing new. `study images mirror` does the same
copy from a workstation before `up`. A source the image lock has a digest for is copied as
`name:tag@digest`, so the copy is the locked content even if the tag has moved since
(go-containerregistry pkg/name/digest.go `NewDigest` accepts `tag@digest` and uses the digest).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from experiments.base import ClusterFacts, Step

CHONK_TAG = re.compile(r"^(?P<layers>\d+)-layers-size-(?P<bytes>\d+)-bytes$")
MIRROR_STEP = "mirror-images"


def chonk_tag(layers: int, size_bytes: int) -> str:
    return f"{layers}-layers-size-{size_bytes}-bytes"


def parse_chonk(ref: str) -> tuple[int, int] | None:
    """(layers, uncompressed bytes) for a container-chonks tag, else None."""
    tag = ref.rsplit(":", 1)[-1] if ":" in ref.rsplit("/", 1)[-1] else ""
    m = CHONK_TAG.match(tag)
    return (int(m["layers"]), int(m["bytes"])) if m else None


def is_artifact_registry(registry: str) -> bool:
    host = registry.split("/", 1)[0]
    return host.endswith("-docker.pkg.dev")


def mirrored(ref: str, registry: str) -> str:
    """Where `ref` lives for this cluster: under the stack's Artifact Registry repo, else as is."""
    if not is_artifact_registry(registry) or ref.startswith(registry.rstrip("/") + "/"):
        return ref
    name_tag = ref.rsplit("/", 1)[-1]
    return f"{registry.rstrip('/')}/{name_tag}"


def slug(ref: str) -> str:
    """A short DNS-safe name for an image: `l9-s1176249324` for chonks, else name + hash."""
    chonk = parse_chonk(ref)
    if chonk:
        return f"l{chonk[0]}-s{chonk[1]}"
    name = ref.rsplit("/", 1)[-1].split("@")[0].split(":")[0]
    name = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:20] or "image"
    return f"{name}-{hashlib.sha256(ref.encode()).hexdigest()[:6]}"


def mirror_steps(sources: list[str], cluster: ClusterFacts) -> list[Step]:
    """The copy step when the cluster's registry is Artifact Registry (else none).

    Estimate: 30 s to start plus 20 s per image: the chonk images are ~20 MB compressed and
    registry-to-registry copies run at hundreds of MB/s, so per-image overhead dominates.
    """
    pairs = [(s, mirrored(s, cluster.image_registry)) for s in sources]
    pairs = [(s, d) for s, d in pairs if s != d]
    if not pairs:
        return []
    est = 30.0 + 20.0 * len(pairs)
    # All overhead: the seed copied its images by hand before it started. A preparation step:
    # it needs the repository, not the operators, so it runs beside their installation.
    return [Step(MIRROR_STEP, est, max(3 * est, 900.0), {"copies": pairs}, work_seconds=0.0,
                 preparation=True)]


def mirror_job(step: Step, ctx, labels: dict[str, str]) -> dict[str, Any]:
    """One pod, one init container per copy (no shell needed), then a no-op main container."""
    from core.image_lock import committed
    from core.versions import GCRANE

    lock = committed()
    return init_containers_job(step, ctx, labels, [
        {"name": f"copy-{i}", "image": GCRANE.ref,
         "command": ["gcrane", "cp", lock.pinned(s), d]}
        for i, (s, d) in enumerate(step.params["copies"])
    ], backoff_limit=3)  # registry hiccups; gcrane cp is idempotent


def init_containers_job(step: Step, ctx, labels: dict[str, str],
                        init_containers: list[dict[str, Any]], backoff_limit: int
                        ) -> dict[str, Any]:
    """A Job of one pod whose init containers run in turn (each an image operation), then a no-op
    main container.

    A preparation step's Job (the mirror, the priming pull) is awaited by Pulumi until Complete:
    it runs beside the operators, and what needs it (the priming pull needs the copies) depends
    on it having finished, which only Pulumi's await puts in the graph. Any other such Job skips
    the await: its step recorder waits for it and records a failure as data."""
    from core.k8s import batch_job
    from core.versions import BUSYBOX

    return batch_job(
        step.name, ctx.namespace, labels,
        {"initContainers": init_containers,
         "containers": [{"name": "done", "image": BUSYBOX.ref, "command": ["true"]}]},
        skip_await=not step.preparation,
        backoffLimit=backoff_limit, activeDeadlineSeconds=int(step.deadline_seconds),
    )
