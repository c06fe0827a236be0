"""`study images lock` and `study images mirror` as a user runs them, against a real registry.

The stack's image list is replaced by images on the loopback registry (the shipped stacks name
public registries, which tests must not contact); everything after it is the real command:
oras-py against Debian's docker-registry (distribution 2.8.2), the lock file written to disk.
"""

from __future__ import annotations

import json

import study.images
from study.images import StackImages
from tests.oci_registry import free_port, push_image


def _stack(monkeypatch, refs, registry="", sources=None):
    images = StackImages(list(refs), dict(sources or {}), registry)
    monkeypatch.setattr(study.images, "stack_images", lambda stack: images)


def test_lock_writes_every_image_with_its_digest(cli, monkeypatch, registry, tmp_path):
    digest = push_image(registry, "library/tool", "1.2.3", b"tool")
    ref = f"{registry}/library/tool:1.2.3"
    _stack(monkeypatch, [ref])
    lock = tmp_path / "lock.json"
    code, _, err = cli("images", "lock", "gke-4-nightly", "--lock", str(lock))
    assert code == 0, err
    entry = json.loads(lock.read_text())["images"][ref]
    assert (entry["digest"], entry["stacks"]) == (digest, ["gke-4-nightly"])


def test_lock_without_the_registry_is_one_line_and_exit_1(cli, monkeypatch, tmp_path):
    host = f"127.0.0.1:{free_port()}"
    _stack(monkeypatch, [f"{host}/library/tool:1.2.3"])
    lock = tmp_path / "lock.json"
    code, out, err = cli("images", "lock", "gke-4-nightly", "--lock", str(lock))
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: image {host}/library/tool:1.2.3: cannot reach registry {host} "
        "(ConnectionError); `study images` needs the network"
    ]
    assert not lock.exists()  # nothing half-written


def test_lock_names_an_unknown_image(cli, monkeypatch, registry, tmp_path):
    _stack(monkeypatch, [f"{registry}/library/nothing:1.0.0"])
    code, _, err = cli("images", "lock", "gke-4-nightly", "--lock", str(tmp_path / "l.json"))
    assert code == 1
    assert err.strip() == (
        f"error: image {registry}/library/nothing:1.0.0: unknown to registry {registry} "
        "(no manifest 1.0.0)"
    )


def test_mirror_copies_into_the_stack_registry(cli, monkeypatch, registry, registry_b):
    digest = push_image(registry, "upstream/app", "4.5.6", b"app")
    _stack(monkeypatch, [f"{registry}/upstream/app:4.5.6"], registry=f"{registry_b}/study")
    code, out, err = cli("images", "mirror", "gke-4-nightly")
    assert code == 0, err
    assert out.strip() == (
        f"{registry}/upstream/app:4.5.6 -> {registry_b}/study/app:4.5.6@{digest}"
    )
    assert study.images.resolve(f"{registry_b}/study/app:4.5.6") == digest


def test_mirror_refuses_a_registry_the_stack_does_not_own(cli):
    code, _, err = cli("images", "mirror", "gke-64-ghcr")
    assert code == 1
    assert err.strip().startswith(
        "error: study:cluster.image_registry 'ghcr.io' is not a registry the stack owns; allowed:"
    )


def test_lock_of_several_stacks_records_each(cli, monkeypatch, registry, tmp_path):
    push_image(registry, "library/tool", "1.2.3", b"tool")
    ref = f"{registry}/library/tool:1.2.3"
    _stack(monkeypatch, [ref])
    lock = tmp_path / "lock.json"
    code, _, err = cli("images", "lock", "gke-4-nightly", "gke-64-ghcr", "--lock", str(lock))
    assert code == 0, err
    assert json.loads(lock.read_text())["images"][ref]["stacks"] == ["gke-4-nightly", "gke-64-ghcr"]


def test_unknown_stack_is_one_line(cli):
    code, _, err = cli("images", "lock", "no-such-stack")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: stack 'no-such-stack' not found")
