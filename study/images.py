"""Resolve every image a stack runs to a digest (the lock), and copy them into the stack's registry.

Why: tags move, so a study is reproducible only if the lock records what each tag named when the
study was planned; and a stack with its own registry (Artifact Registry for image streaming, ECR
for pulls inside the VPC) must have every image in it before `up`, which the seed studies did by
hand. The image list is taken from the plan's rendered objects (`core.image_lock.image_slots`),
not from a second list, so operator-injected images are included.

Registry access is oras-py (`oras.provider.Registry`): it speaks the distribution API and reads
credentials the way docker does (~/.docker/config.json, credential helpers such as
`gcloud auth configure-docker` and `docker login` with `aws ecr get-login-password`).
Copies move the manifest's bytes unchanged, so a copy has the source's digest (distribution-spec:
the digest is the sha256 of the manifest bytes); the lock therefore pins a mirrored reference to
the digest of its source. Plain HTTP is used only for loopback registries (as containerd and
docker do for localhost).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import StudyError
from core.image_lock import ImageLock, LockEntry, images_of, split

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[0], MANIFEST_TYPES[2]
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
CREDENTIALS_HINT = (
    "log in first (docker login HOST; Artifact Registry: gcloud auth configure-docker HOST; "
    "ECR: aws ecr get-login-password | docker login --username AWS --password-stdin HOST)"
)


class ImageError(StudyError):
    """An image could not be resolved or copied: unknown, refused, or the registry is down."""


def _api_host(host: str) -> str:
    return "registry-1.docker.io" if host == "docker.io" else host


def _registry(host: str) -> Any:
    """An oras-py Registry for `host` that tries each request once.

    Why once: oras-py retries failed requests five times with sleeps of 3 to 83 s; a registry
    that is down is reported by name at once instead (the user reruns the command).
    """
    import oras.provider

    class OneTry(oras.provider.Registry):
        do_request = oras.provider.Registry.do_request.__wrapped__  # type: ignore[attr-defined]

    api = _api_host(host)
    return OneTry(hostname=api, insecure=api.split(":")[0] in LOOPBACK or api.startswith("[::1]"))


def _request(reg: Any, ref: str, url: str, method: str, **kw: Any) -> Any:
    """One registry request; connection failures and refusals become one-line errors."""
    import requests

    host = reg.hostname
    try:
        resp = reg.do_request(f"{reg.prefix}://{url}", method, **kw)
    except requests.exceptions.ConnectionError as exc:
        msg = (
            f"image {ref}: cannot reach registry {host} ({type(exc).__name__}); "
            "`study images` needs the network"
        )
        raise ImageError(msg) from None
    except ValueError:
        # oras-py raises ValueError when it cannot answer the registry's 401 challenge (no
        # credentials in the docker config for this host, or a Basic realm it cannot follow).
        msg = f"image {ref}: registry {host} asks for credentials we do not have; " + (
            CREDENTIALS_HINT
        )
        raise ImageError(msg) from None
    if resp.status_code in (401, 403):
        msg = f"image {ref}: registry {host} refused access (HTTP {resp.status_code}); " + (
            CREDENTIALS_HINT
        )
        raise ImageError(msg)
    return resp


@dataclass(frozen=True)
class Ref:
    """A parsed reference: registry host, repository path and tag or digest."""

    host: str
    path: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, ref: str) -> Ref:
        try:
            return cls(*split(ref))
        except ValueError as exc:
            msg = f"image {ref!r}: {exc}"
            raise ImageError(msg) from None

    @property
    def reference(self) -> str:
        return self.digest or self.tag or "latest"

    def manifest_url(self, reference: str | None = None) -> str:
        return f"{_api_host(self.host)}/v2/{self.path}/manifests/{reference or self.reference}"

    def blob_url(self, digest: str) -> str:
        return f"{_api_host(self.host)}/v2/{self.path}/blobs/{digest}"


def _get_manifest(reg: Any, ref: str, r: Ref, reference: str | None = None) -> tuple[bytes, str]:
    """(manifest bytes, media type) exactly as the registry stores them."""
    resp = _request(reg, ref, r.manifest_url(reference), "GET",
                    headers={"Accept": ", ".join(MANIFEST_TYPES)})
    if resp.status_code == 404:
        want = reference or r.reference
        msg = f"image {ref}: unknown to registry {reg.hostname} (no manifest {want})"
        raise ImageError(msg)
    if resp.status_code != 200:
        msg = f"image {ref}: registry {reg.hostname} answered HTTP {resp.status_code}"
        raise ImageError(msg)
    media = resp.headers.get("Content-Type", "").split(";")[0].strip()
    return resp.content, media


def resolve(ref: str) -> str:
    """The digest `ref` names now: the sha256 of its manifest bytes (index for multi-arch)."""
    r = Ref.parse(ref)
    body, _ = _get_manifest(_registry(r.host), ref, r)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if r.digest and r.digest != digest:
        msg = f"image {ref}: registry {r.host} serves content with digest {digest}"
        raise ImageError(msg)
    return digest


# --- what a stack runs --------------------------------------------------------------------------


def mirror_pairs(manifests: list[dict[str, Any]]) -> dict[str, str]:
    """destination -> source of the copies the stack's mirror step makes (`gcrane cp SRC DST`)."""
    from core.image_lock import image_slots

    out = {}
    for obj in manifests:
        for holder, _, _ in image_slots(obj):
            argv = holder.get("command") or []
            if len(argv) == 4 and argv[:2] == ["gcrane", "cp"]:
                out[argv[3]] = argv[2].split("@", 1)[0]  # the source as tagged, not as locked
    return out


@dataclass(frozen=True)
class StackImages:
    refs: list[str]  # every image the stack runs, as rendered without a digest
    sources: dict[str, str]  # mirrored destination -> its source
    registry: str  # the stack's `study:cluster.image_registry` ("" when unset)
    digests: dict[str, str] = field(default_factory=dict)  # ref -> the digest it is rendered by


def stack_images(stack: str) -> StackImages:
    """What the stack runs, from the offline plan's rendered objects."""
    from study.plan import make_plan

    plan = make_plan(stack)
    if plan.report.errors:
        msg = f"stack {stack} does not validate; run `study plan {stack}` to see why"
        raise ImageError(msg)
    rendered = images_of(plan.manifests)
    refs = [ref.split("@", 1)[0] for ref in rendered]
    digests = dict(ref.split("@", 1) for ref in rendered if "@" in ref)
    registry = getattr(plan.spec.cluster, "image_registry", None) or ""
    return StackImages(list(dict.fromkeys(refs)), mirror_pairs(plan.manifests), registry,
                       digests)


# --- the lock -----------------------------------------------------------------------------------


def lock_images(
    stack: str,
    refs: Iterable[str],
    lock: ImageLock,
    sources: dict[str, str] | None = None,
    now: datetime | None = None,
    resolver: Callable[[str], str] = resolve,
) -> ImageLock:
    """A new lock: `refs` resolved now for `stack`; other stacks' entries kept.

    A mirrored reference gets its source's digest (a copy keeps the digest). An entry whose
    digest did not change keeps its `locked_at`, so relocking an unchanged stack changes nothing.
    """
    sources = sources or {}
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    entries = {
        ref: LockEntry(e.digest, e.locked_at, tuple(s for s in e.stacks if s != stack), e.source)
        for ref, e in lock.entries.items()
    }
    wanted = list(dict.fromkeys(refs))
    resolved: dict[str, str] = {}
    for ref in wanted:
        origin = sources.get(ref, ref)
        if origin not in resolved:
            resolved[origin] = resolver(origin)
    for ref in wanted:
        src = sources.get(ref)
        digest = resolved[src or ref]
        old = entries.get(ref)
        stacks = tuple(sorted({*(old.stacks if old else ()), stack}))
        at = old.locked_at if old and old.digest == digest else stamp
        entries[ref] = LockEntry(digest, at, stacks, src)
    return ImageLock({ref: e for ref, e in entries.items() if e.stacks})


# --- the mirror ---------------------------------------------------------------------------------


def mirror_target(ref: str, registry: str) -> str:
    """Where `ref` lives in `registry`: its last path component (name:tag) under the registry."""
    r = Ref.parse(ref)
    name = r.path.rsplit("/", 1)[-1]
    return f"{registry.rstrip('/')}/{name}:{r.tag or 'latest'}"


def _copy_blob(src: Any, dst: Any, ref: str, sr: Ref, dr: Ref, desc: dict[str, Any]) -> None:
    digest = desc["digest"]
    head = _request(dst, ref, dr.blob_url(digest), "HEAD")
    if head.status_code == 200:
        return  # already there: copies are idempotent
    resp = _request(src, ref, sr.blob_url(digest), "GET", stream=True)
    if resp.status_code != 200:
        msg = f"image {ref}: blob {digest} answered HTTP {resp.status_code} at {src.hostname}"
        raise ImageError(msg)
    with tempfile.NamedTemporaryFile() as f:
        for chunk in resp.iter_content(chunk_size=1 << 20):
            f.write(chunk)
        f.flush()
        layer = {"digest": digest, "size": desc["size"], "mediaType": desc.get("mediaType", "")}
        up = dst.upload_blob(f.name, dst.get_container(f"{dr.host}/{dr.path}:x"), layer)
    if up.status_code not in (200, 201, 202):
        msg = f"image {ref}: {dst.hostname} refused blob {digest} (HTTP {up.status_code})"
        raise ImageError(msg)


def _copy_manifest(src: Any, dst: Any, ref: str, sr: Ref, dr: Ref, reference: str,
                   put_as: str | None = None) -> str:
    """Copy one manifest (and what it references) from `reference` in sr to dr, stored under
    `put_as` (the destination's tag for the top manifest; an index's children by digest)."""
    import json

    body, media = _get_manifest(src, ref, sr, reference)
    doc = json.loads(body)
    if media in INDEX_TYPES:
        for child in doc.get("manifests") or []:
            _copy_manifest(src, dst, ref, sr, dr, child["digest"])
    else:
        for desc in [doc.get("config") or {}, *(doc.get("layers") or [])]:
            if desc.get("digest"):
                _copy_blob(src, dst, ref, sr, dr, desc)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    target = put_as or (reference if reference.startswith("sha256:") else dr.reference)
    put = _request(dst, ref, dr.manifest_url(target), "PUT", data=body,
                   headers={"Content-Type": media})
    if put.status_code not in (200, 201):
        msg = f"image {ref}: {dst.hostname} refused manifest {target} (HTTP {put.status_code})"
        raise ImageError(msg)
    return digest


def copy_image(src_ref: str, dst_ref: str, digest: str | None = None) -> str:
    """Copy `src_ref` to `dst_ref` byte for byte (all platforms of an index); the digest.

    With `digest` (the locked one) the source is read by that digest, not by its tag as it is
    now, and a copy whose digest differs is refused: pods ask for `dst@digest`.
    """
    sr, dr = Ref.parse(src_ref), Ref.parse(dst_ref)
    src, dst = _registry(sr.host), _registry(dr.host)
    copied = _copy_manifest(src, dst, src_ref, sr, dr, digest or sr.reference, dr.reference)
    if digest and copied != digest:
        msg = f"image {src_ref}: copied {copied}, but the lock pins {digest}"
        raise ImageError(msg)
    return copied


def owned_registry(registry: str) -> bool:
    """Whether `registry` is one the stack's own account holds: Artifact Registry or ECR (or a
    loopback registry, for tests); public registries such as ghcr.io are not mirrored into."""
    host = registry.split("/", 1)[0]
    return (
        host.endswith("-docker.pkg.dev")
        or (".dkr.ecr." in host and host.endswith(".amazonaws.com"))
        or host.split(":")[0] in LOOPBACK
    )


def mirror_plan(images: StackImages) -> list[tuple[str, str]]:
    """(source, destination) for every image the stack runs, into its own registry."""
    if not owned_registry(images.registry):
        msg = (
            f"study:cluster.image_registry {images.registry!r} is not a registry the stack owns; "
            "allowed: Artifact Registry (REGION-docker.pkg.dev/PROJECT/REPO) or ECR "
            "(ACCOUNT.dkr.ecr.REGION.amazonaws.com[/PREFIX])"
        )
        raise ImageError(msg)
    prefix = images.registry.rstrip("/") + "/"
    pairs = []
    for ref in images.refs:
        if ref.startswith(prefix):
            if ref in images.sources:
                pairs.append((images.sources[ref], ref))
            continue
        pairs.append((ref, mirror_target(ref, images.registry)))
    return list(dict.fromkeys(pairs))


def write_lock(lock: ImageLock, path: Path) -> None:
    path.write_text(lock.dumps())
