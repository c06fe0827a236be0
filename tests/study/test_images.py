"""Resolving, locking and mirroring images against a real OCI registry on loopback.

The registry is Debian's docker-registry (github.com/docker/distribution 2.8.2), the reference
implementation of the OCI distribution spec: a manifest's digest is the sha256 of its bytes
(distribution-spec spec.md, "Pulling manifests": `Docker-Content-Digest`), and a copy that moves
those bytes unchanged keeps the digest. Images are pushed by the test itself (tests/oci_registry).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

import pytest
import requests

from core.image_lock import ImageLock
from study.images import (
    CREDENTIALS_HINT,
    ImageError,
    StackImages,
    copy_image,
    lock_images,
    mirror_pairs,
    mirror_plan,
    resolve,
    stack_images,
)
from tests.oci_registry import OCI_MANIFEST, free_port, push_image, push_index

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class TestResolve:
    """A reference resolves to the digest the registry serves; failures name image and registry."""

    def test_digest_is_the_sha256_of_the_manifest_the_registry_serves(self, registry):
        pushed = push_image(registry, "library/hello", "1.0.0", b"hello")
        head = requests.head(f"http://{registry}/v2/library/hello/manifests/1.0.0", timeout=5,
                             headers={"Accept": OCI_MANIFEST})
        assert resolve(f"{registry}/library/hello:1.0.0") == pushed
        assert head.headers["Docker-Content-Digest"] == pushed

    def test_an_index_resolves_to_the_index_digest_not_a_platform(self, registry):
        index, children = push_index(registry, "tools/multi", "2.0.0")
        assert resolve(f"{registry}/tools/multi:2.0.0") == index
        assert index not in children

    def test_unknown_image_is_named(self, registry):
        push_image(registry, "library/hello", "1.0.0", b"hello")
        with pytest.raises(ImageError) as exc:
            resolve(f"{registry}/library/hello:9.9.9")
        assert str(exc.value) == (
            f"image {registry}/library/hello:9.9.9: unknown to registry {registry} "
            "(no manifest 9.9.9)"
        )

    def test_registry_down_is_named_at_once(self):
        host = f"127.0.0.1:{free_port()}"  # nothing listens there
        started = time.monotonic()
        with pytest.raises(ImageError) as exc:
            resolve(f"{host}/library/hello:1.0.0")
        assert str(exc.value) == (
            f"image {host}/library/hello:1.0.0: cannot reach registry {host} (ConnectionError); "
            "`study images` needs the network"
        )
        assert time.monotonic() - started < 5  # oras-py's own retries would take minutes

    def test_registry_without_our_credentials_says_log_in(self, auth_registry):
        with pytest.raises(ImageError) as exc:
            resolve(f"{auth_registry}/private/app:1.0.0")
        assert str(exc.value) == (
            f"image {auth_registry}/private/app:1.0.0: registry {auth_registry} asks for "
            f"credentials we do not have; {CREDENTIALS_HINT}"
        )


class TestLock:
    """The lock is deterministic, keyed by reference, and records digest, time and stacks."""

    def test_lock_records_digest_time_and_stacks_deterministically(self, registry):
        a = push_image(registry, "library/a", "1.0.0", b"a")
        b = push_image(registry, "library/b", "2.0.0", b"b")
        refs = [f"{registry}/library/b:2.0.0", f"{registry}/library/a:1.0.0"]
        lock = lock_images("s1", refs, ImageLock(), now=T0)
        lock = lock_images("s2", refs[:1], lock, now=T0)
        doc = json.loads(lock.dumps())
        assert doc == {
            "version": 1,
            "images": {
                f"{registry}/library/a:1.0.0": {
                    "digest": a, "locked_at": "2026-12-01T12:00:00Z", "stacks": ["s1"]},
                f"{registry}/library/b:2.0.0": {
                    "digest": b, "locked_at": "2026-12-01T12:00:00Z", "stacks": ["s1", "s2"]},
            },
        }
        assert ImageLock.loads(lock.dumps()).dumps() == lock.dumps()

    def test_relock_keeps_unchanged_entries_and_records_a_moved_tag(self, registry):
        ref_a, ref_b = f"{registry}/library/a:1.0.0", f"{registry}/library/b:1.0.0"
        push_image(registry, "library/a", "1.0.0", b"a")
        push_image(registry, "library/b", "1.0.0", b"b")
        first = lock_images("s1", [ref_a, ref_b], ImageLock(), now=T0)
        moved = push_image(registry, "library/b", "1.0.0", b"b, rebuilt")  # the tag moves
        second = lock_images("s1", [ref_a, ref_b], first, now=T1)
        assert second.entries[ref_a] == first.entries[ref_a]
        assert second.entries[ref_b].digest == moved != first.entries[ref_b].digest
        assert second.entries[ref_b].locked_at == "2026-12-02T12:00:00Z"

    def test_an_image_no_stack_runs_any_more_leaves_the_lock(self, registry):
        ref_a, ref_b = f"{registry}/library/a:1.0.0", f"{registry}/library/b:1.0.0"
        push_image(registry, "library/a", "1.0.0", b"a")
        push_image(registry, "library/b", "1.0.0", b"b")
        lock = lock_images("s1", [ref_a, ref_b], ImageLock(), now=T0)
        lock = lock_images("s1", [ref_a], lock, now=T0)
        assert set(lock.entries) == {ref_a}

    def test_a_mirrored_reference_is_locked_to_its_source_digest(self, registry):
        src = f"{registry}/upstream/app:1.0.0"
        dst = "us-central1-docker.pkg.dev/p/r/app:1.0.0"  # not reachable here, and not needed
        digest = push_image(registry, "upstream/app", "1.0.0", b"app")
        lock = lock_images("s1", [dst], ImageLock(), sources={dst: src}, now=T0)
        assert lock.entries[dst].digest == digest
        assert lock.entries[dst].source == src

    def test_an_unknown_image_fails_the_lock_by_name(self, registry):
        with pytest.raises(ImageError, match="unknown to registry"):
            lock_images("s1", [f"{registry}/library/none:1.0.0"], ImageLock(), now=T0)


class TestMirror:
    """A copy moves manifest bytes and blobs unchanged, so the copy has the source's digest."""

    def test_copy_keeps_the_digest_and_every_blob(self, registry, registry_b):
        digest = push_image(registry, "upstream/app", "1.0.0", b"payload")
        src, dst = f"{registry}/upstream/app:1.0.0", f"{registry_b}/mirror/app:1.0.0"
        assert copy_image(src, dst) == digest
        assert resolve(f"{registry_b}/mirror/app:1.0.0") == digest
        manifest = requests.get(f"http://{registry_b}/v2/mirror/app/manifests/1.0.0", timeout=5,
                                headers={"Accept": OCI_MANIFEST}).content
        assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest
        for desc in [json.loads(manifest)["config"], *json.loads(manifest)["layers"]]:
            blob = requests.get(f"http://{registry_b}/v2/mirror/app/blobs/{desc['digest']}",
                                timeout=5)
            assert "sha256:" + hashlib.sha256(blob.content).hexdigest() == desc["digest"]

    def test_copy_of_an_index_copies_every_platform(self, registry, registry_b):
        index, children = push_index(registry, "upstream/multi", "3.1.0")
        copy_image(f"{registry}/upstream/multi:3.1.0", f"{registry_b}/mirror/multi:3.1.0")
        assert resolve(f"{registry_b}/mirror/multi:3.1.0") == index
        for child in children:
            assert resolve(f"{registry_b}/mirror/multi@{child}") == child

    def test_copy_again_is_a_no_op_with_the_same_digest(self, registry, registry_b):
        digest = push_image(registry, "upstream/app", "1.0.0", b"payload")
        src, dst = f"{registry}/upstream/app:1.0.0", f"{registry_b}/mirror/app:1.0.0"
        assert copy_image(src, dst) == copy_image(src, dst) == digest

    def test_copy_by_the_locked_digest_after_the_tag_moved(self, registry, registry_b):
        """Pods ask for `dst@locked-digest`: the mirror must hold that content, not whatever
        the tag points at today (a tag moves; distribution-spec, "Pulling manifests")."""
        locked = push_image(registry, "upstream/app", "1.0.0", b"first build")
        moved = push_image(registry, "upstream/app", "1.0.0", b"a later build")
        assert moved != locked
        src, dst = f"{registry}/upstream/app:1.0.0", f"{registry_b}/mirror/app:1.0.0"
        assert copy_image(src, dst, locked) == locked
        assert resolve(dst) == locked  # the destination tag holds the locked content

    def test_a_locked_build_the_source_no_longer_has_is_named(self, registry, registry_b):
        """The lock pins a build the upstream repository has since deleted: the mirror says so
        rather than copying today's tag under the old name."""
        locked = push_image(registry, "upstream/app", "1.0.0", b"first build")
        push_image(registry, "upstream/other", "1.0.0", b"unrelated")
        src, dst = f"{registry}/upstream/other:1.0.0", f"{registry_b}/mirror/app:1.0.0"
        with pytest.raises(ImageError) as err:
            copy_image(src, dst, locked)
        assert str(err.value) == (f"image {src}: unknown to registry {registry} "
                                  f"(no manifest {locked})")

    def test_plan_copies_every_image_into_the_owned_registry(self):
        images = StackImages(
            refs=[
                "public.ecr.aws/docker/library/python:3.12.7-slim-bookworm",
                "us-central1-docker.pkg.dev/p/chonks/container-chonks-run1:9-layers-size-1-bytes",
            ],
            sources={
                "us-central1-docker.pkg.dev/p/chonks/container-chonks-run1:9-layers-size-1-bytes":
                    "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1-bytes",
            },
            registry="us-central1-docker.pkg.dev/p/chonks",
        )
        assert mirror_plan(images) == [
            ("public.ecr.aws/docker/library/python:3.12.7-slim-bookworm",
             "us-central1-docker.pkg.dev/p/chonks/python:3.12.7-slim-bookworm"),
            ("ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1-bytes",
             "us-central1-docker.pkg.dev/p/chonks/container-chonks-run1:9-layers-size-1-bytes"),
        ]

    def test_a_public_registry_is_not_mirrored_into(self):
        with pytest.raises(ImageError) as exc:
            mirror_plan(StackImages(["ghcr.io/a/b:1.0.0"], {}, "ghcr.io"))
        assert str(exc.value).startswith(
            "study:cluster.image_registry 'ghcr.io' is not a registry the stack owns; allowed: "
        )


class TestStackImages:
    """The image list comes from the plan's rendered objects: controllers, helpers, studied
    images and the images operators inject, with no second list to drift."""

    def test_a_pulling_stack_lists_controllers_helpers_and_studied_images(self):
        from core.versions import EVENT_RECORDER, PYTHON

        found = stack_images("gke-64-artifact-registry")
        assert EVENT_RECORDER.controller is not None
        assert EVENT_RECORDER.controller.ref in found.refs
        assert PYTHON.ref in found.refs
        studied = [r for r in found.refs if "container-chonks-run1" in r]
        assert studied and all(r.startswith(found.registry + "/") for r in studied)
        assert found.sources[studied[0]].startswith("ghcr.io/converged-computing/")

    def test_an_osu_stack_lists_the_metric_image_the_operator_runs(self):
        found = stack_images("gke-64-osu")
        assert any(r.startswith("ghcr.io/converged-computing/metric-osu-benchmark:")
                   for r in found.refs)
        assert "ghcr.io/converged-computing/metrics-operator:v0.1.13-1" in found.refs

    def test_mirror_pairs_read_the_copy_commands(self):
        job = {"kind": "Job", "spec": {"template": {"spec": {"initContainers": [
            {"name": "copy-0", "image": "gcrane",
             "command": ["gcrane", "cp", f"a/b:1@sha256:{'0' * 64}", "c/b:1"]},
        ]}}}}
        assert mirror_pairs([job]) == {"c/b:1": "a/b:1"}

    def test_the_in_cluster_copy_takes_the_locked_digest(self, monkeypatch):
        """gcrane (go-containerregistry pkg/name/digest.go NewDigest) pulls `tag@digest` by
        the digest, so the copy is the locked content even after the tag moves."""
        from core import image_lock
        from core.image_lock import LockEntry
        from experiments.base import Step
        from experiments.images import mirror_job

        src, dst, digest = "ghcr.io/a/app:1.0.0", "us-central1-docker.pkg.dev/p/r/app:1.0.0", (
            "sha256:" + "cd" * 32)
        lock = ImageLock({src: LockEntry(digest, "2026-12-01T00:00:00Z", ("s",))})
        monkeypatch.setattr(image_lock, "committed", lambda: lock)

        class Ctx:
            namespace = "ns"

        job = mirror_job(Step("mirror-images", 50.0, 900.0, {"copies": [(src, dst)]}), Ctx(), {})
        (copy,) = job["spec"]["template"]["spec"]["initContainers"]
        assert copy["command"] == ["gcrane", "cp", f"{src}@{digest}", dst]
