"""The committed image lock, and the rule for which image references a plan accepts.

Why: a tag is a name a publisher can move; only a digest names content (opencontainers
distribution-spec, "Pulling manifests"). A study is reproducible only if every image its nodes
pull is fixed, so `study images lock` (study/images.py) resolves every image a stack renders to
a digest and writes `infra/image_lock.json`; the Pulumi program reads it here and renders each
locked image as `name:tag@digest` (containerd then pulls the digest; the tag stays readable).

This module only reads the lock and judges references: it never talks to a registry, so the
program and `study plan` stay offline. What counts as pinned (`image_pin_problems`):

1. a reference that carries a digest, or one the lock has a digest for;
2. a released tag of an official registry. Official registries are those a project publishes its
   own releases to or a cloud's mirror of the Docker official images: `OFFICIAL_REGISTRIES`;
   Docker Hub counts only for `library/` images. A released tag is a version number, at least
   `MAJOR.MINOR`, optionally `v`-prefixed, optionally followed by a variant or build suffix
   (`v0.12.0`, `v1.7`, `3.12.7-slim-bookworm`, `v0.1.13-1`); never `latest`, `main`, `master`,
   `edge`, `nightly`, `dev` or a branch or commit tag (`main-0d75cef`, `tag-noble`);
3. a studied container-chonks image by its content tag (`<L>-layers-size-<B>-bytes`). Why
   accepted without a digest: the image is the subject of the pulling study and its tag is its
   content specification (L layers of B bytes in all, generated from /dev/zero); the seed data
   records only its layer digests (pulling/analysis/data/run1/containers/container-layers.csv),
   not a manifest digest, and a pulling stack must plan offline before anyone can resolve it.
   Once `study images lock` has resolved it the plan renders it by digest like any other.

An image an operator injects itself (the flux view, a metric's image) counts too: a MiniCluster or
MetricSet that leaves it unset is checked against the operator's default, named in `DEFAULTS`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

# The lock is the Pulumi program's input, kept beside it; this reader sits in core so that the
# experiments render images by digest without importing infra.
LOCK_PATH = Path(__file__).resolve().parent.parent / "infra" / "image_lock.json"
LOCK_VERSION = 1

# Registries projects publish their releases to. Any owner's version tag counts there: what
# makes `v1.2.3` stable is the publisher's release process, which this check cannot see, so a
# stricter pin is the lock's digest (`study images lock`), which the plan prefers when it has one.
OFFICIAL_REGISTRIES = frozenset(
    {
        "registry.k8s.io",  # Kubernetes SIG releases (JobSet)
        "ghcr.io",  # GitHub release workflows (flux-operator, metrics-operator, event exporter)
        "gcr.io",  # go-containerregistry's release images (gcrane)
        "quay.io",
        "public.ecr.aws",  # ECR Public, including its mirror of the Docker official images
        "mirror.gcr.io",  # Google's cache of Docker Hub
    }
)
# Amazon EKS's own image registries (account 602401143452, one per region): where AWS publishes
# the EKS add-ons and device plugins (Amazon EKS user guide, "Amazon container image registries
# for Amazon EKS add-ons"); the EFA device plugin comes from there.
EKS_ADDON_REGISTRY = re.compile(r"^602401143452\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com$")
DOCKER_HUB = "docker.io"
MOVING_WORDS = ("latest", "main", "master", "edge", "nightly", "dev", "snapshot", "head")
RELEASED_TAG = re.compile(r"^v?\d+(\.\d+){1,3}([-+_.][0-9A-Za-z][0-9A-Za-z._-]*)?$")
CHONK_CONTENT_TAG = re.compile(r"^\d+-layers-size-\d+-bytes$")
CHONK_REPOSITORY = "container-chonks"

# Images an operator runs when the object leaves the field unset (read at the pinned versions):
# flux-operator @1f686fea api/v1alpha2/minicluster_types.go `+kubebuilder:default` of
# FluxSpec.Container.Image and MiniClusterContainer.Image; metrics-operator 0.1.13-1
# pkg/metrics/network/osu-benchmark.go `OSUContainer`.
DEFAULTS = {
    "flux-view": "ghcr.io/converged-computing/flux-view-rocky:tag-9",
    "minicluster-container": "ghcr.io/rse-ops/accounting:app-latest",
    "network-osu-benchmark": "ghcr.io/converged-computing/metric-osu-benchmark:latest",
}

_WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"}


@dataclass(frozen=True)
class LockEntry:
    digest: str  # "sha256:<64 hex>"
    locked_at: str  # ISO 8601 UTC, when `study images lock` resolved it
    stacks: tuple[str, ...]  # the stacks that run it
    source: str | None = None  # for a mirrored copy: the reference it was copied from


@dataclass
class ImageLock:
    """Reference (as rendered, without digest) -> its locked digest."""

    entries: dict[str, LockEntry] = field(default_factory=dict)

    def digest(self, ref: str) -> str | None:
        entry = self.entries.get(ref)
        return entry.digest if entry else None

    def pinned(self, ref: str) -> str:
        """`ref` by digest when the lock has one (a reference with a digest stays as it is)."""
        digest = None if "@" in ref else self.digest(ref)
        return f"{ref}@{digest}" if digest else ref

    def dumps(self) -> str:
        """Deterministic JSON: sorted references, sorted keys, stacks sorted."""
        images = {}
        for ref in sorted(self.entries):
            e = self.entries[ref]
            row: dict[str, Any] = {
                "digest": e.digest,
                "locked_at": e.locked_at,
                "stacks": sorted(e.stacks),
            }
            if e.source:
                row["source"] = e.source
            images[ref] = row
        doc = {"version": LOCK_VERSION, "images": images}
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    @classmethod
    def loads(cls, text: str, where: str = "image lock") -> ImageLock:
        data = json.loads(text)
        if data.get("version") != LOCK_VERSION:
            msg = f"{where}: version {data.get('version')!r} is not supported; allowed: 1"
            raise ValueError(msg)
        entries = {}
        for ref, row in (data.get("images") or {}).items():
            digest = row.get("digest", "")
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
                msg = (
                    f"{where}: images.{ref}.digest {digest!r} is not allowed; "
                    "must be sha256:<64 hex>"
                )
                raise ValueError(msg)
            entries[ref] = LockEntry(
                digest, str(row.get("locked_at", "")), tuple(row.get("stacks") or ()),
                row.get("source"),
            )
        return cls(entries)


def load(path: Path | None = None) -> ImageLock:
    """The lock at `path` (default: the committed one); an absent file is an empty lock."""
    path = path or LOCK_PATH
    if not path.exists():
        return ImageLock()
    return ImageLock.loads(path.read_text(), str(path))


@cache
def committed() -> ImageLock:
    """The committed lock, read once per process (the program renders every object through it)."""
    return load(LOCK_PATH)


# --- where images are in rendered objects -------------------------------------------------------


def pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every pod spec an object carries: Pods, workload templates, JobSet replicated jobs."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind in _WORKLOADS:
        yield (spec.get("template") or {}).get("spec") or {}
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        yield (job.get("template") or {}).get("spec") or {}
    elif kind == "JobSet":
        for rj in spec.get("replicatedJobs") or []:
            job = (rj.get("template") or {}).get("spec") or {}
            yield (job.get("template") or {}).get("spec") or {}


def image_slots(obj: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(holder, key, image) for every image `obj` makes a node pull; an unset operator field
    yields the operator's default, so callers can tell the user to set it."""
    for pod in pod_specs(obj):
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in pod.get(key) or []:
                if c.get("image"):
                    yield c, "image", c["image"]
    spec = obj.get("spec") or {}
    if obj.get("kind") == "MiniCluster":
        for c in spec.get("containers") or []:
            yield c, "image", c.get("image") or DEFAULTS["minicluster-container"]
        view = (spec.get("flux") or {}).get("container") or {}
        if not view.get("disable"):
            yield view, "image", view.get("image") or DEFAULTS["flux-view"]
    if obj.get("kind") == "MetricSet":
        for m in spec.get("metrics") or []:
            default = DEFAULTS.get(str(m.get("name")), "")
            if m.get("image") or default:
                yield m, "image", m.get("image") or default


def images_of(objs: list[dict[str, Any]]) -> list[str]:
    """Every image the objects run, in order of first appearance (CRDs excluded)."""
    seen: dict[str, None] = {}
    for obj in objs:
        for _, _, ref in image_slots(obj):
            seen.setdefault(ref, None)
    return list(seen)


def pin_object(obj: dict[str, Any], lock: ImageLock | None = None) -> dict[str, Any]:
    """`obj` with every image the lock knows rendered by digest (in place; returns `obj`).

    Only images set in the object are rewritten; an operator default stays unset (the plan
    reports it, with the field to set).
    """
    lock = committed() if lock is None else lock
    for holder, key, ref in list(image_slots(obj)):
        if holder.get(key) == ref:
            holder[key] = lock.pinned(ref)
    return obj


# --- the plan rule ------------------------------------------------------------------------------


def split(ref: str) -> tuple[str, str, str | None, str | None]:
    """(registry host, repository path, tag, digest), normalised as containerd does."""
    from core.reference import REFERENCE, normalize

    m = REFERENCE.match(normalize(ref))
    if m is None:  # normalize has already raised for these
        msg = f"image {ref!r} does not match the reference grammar"
        raise ValueError(msg)
    host, _, path = m.group(1).partition("/")
    return host, path, m.group(2), m.group(3)


def why_unpinned(ref: str, lock: ImageLock, studied: Collection[str] = ()) -> str | None:
    """None when `ref` is pinned by the rules in the module docstring, else the reason.

    `studied`: the images the stack's pulling study measures; only those may go by a chonk
    content tag (any other object naming a `container-chonks` repository is judged as usual).
    """
    try:
        host, path, tag, digest = split(ref)
    except ValueError as exc:
        return str(exc)
    if digest or lock.digest(ref):
        return None
    tag = tag or "latest"
    chonk = CHONK_CONTENT_TAG.match(tag) and path.rsplit("/", 1)[-1].startswith(CHONK_REPOSITORY)
    if chonk and ref in studied:
        return None
    official = (
        host in OFFICIAL_REGISTRIES
        or bool(EKS_ADDON_REGISTRY.match(host))
        or (host == DOCKER_HUB and path.startswith("library/"))
    )
    moving = any(w in tag.lower().split("-") for w in MOVING_WORDS)
    if official and RELEASED_TAG.match(tag) and not moving:
        return None
    if not official:
        return f"'{host}' is not an official registry and the lock has no digest for it"
    return f"tag '{tag}' is not a released version tag and the lock has no digest for it"


def image_pin_problems(manifests: list[dict[str, Any]], lock: ImageLock | None = None,
                       studied: Collection[str] = ()) -> list[str]:
    """One line per image that is neither locked by digest nor a released tag (see module doc),
    naming the first object that runs it and how many others do."""
    lock = committed() if lock is None else lock
    users: dict[str, list[str]] = {}
    defaulted: set[str] = set()
    for obj in manifests:
        name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        for holder, key, ref in image_slots(obj):
            users.setdefault(ref, [])
            if name not in users[ref]:
                users[ref].append(name)
            if holder.get(key) != ref:
                defaulted.add(ref)
    out = []
    for ref, names in users.items():
        why = why_unpinned(ref, lock, studied)
        if why is None:
            continue
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        unset = ", an operator default: set the image explicitly" if ref in defaulted else ""
        out.append(
            f"'{ref}' (run by {names[0]}{more}{unset}): {why}; run `study images lock STACK` "
            "and commit infra/image_lock.json, or use a released tag"
        )
    return out
