"""A real OCI registry on loopback for tests, and pushes of small images the test builds itself.

The registry is Debian's `docker-registry` package (github.com/docker/distribution 2.8, the
reference implementation of the distribution spec), started per test with its storage in a temp
directory and bound to 127.0.0.1 on a free port; `.ci/run` installs the package. Images are built
here from bytes (a gzip'd tar layer and a config) and pushed with plain distribution-API calls,
independent of the code under test.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

BINARY = Path("/usr/bin/docker-registry")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path, auth: bool = False) -> Iterator[str]:
    assert BINARY.exists(), "install Debian's docker-registry (apt-get install docker-registry)"
    port = free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(tmp / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if auth:
        # A user whose password no test knows: every request is refused without credentials.
        (tmp / "htpasswd").write_text("nobody:$2y$05$" + "a" * 53 + "\n")
        config["auth"] = {"htpasswd": {"realm": "test", "path": str(tmp / "htpasswd")}}
    (tmp / "config.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
    proc = subprocess.Popen(
        [str(BINARY), "serve", str(tmp / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                requests.get(f"http://{host}/v2/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"docker-registry did not start on {host}")
                time.sleep(0.05)
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def registry(tmp_path) -> Iterator[str]:
    """host:port of an empty registry without authentication."""
    (tmp_path / "reg").mkdir()
    yield from _start(tmp_path / "reg")


@pytest.fixture
def registry_b(tmp_path) -> Iterator[str]:
    """A second, separate registry (the mirror's destination)."""
    (tmp_path / "reg-b").mkdir()
    yield from _start(tmp_path / "reg-b")


@pytest.fixture
def auth_registry(tmp_path) -> Iterator[str]:
    """A registry that requires credentials (htpasswd) which the test does not have."""
    (tmp_path / "reg-auth").mkdir()
    yield from _start(tmp_path / "reg-auth", auth=True)


def _push_blob(host: str, repo: str, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(f"http://{host}/v2/{repo}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    loc = start.headers["Location"]
    loc = loc if loc.startswith("http") else f"http://{host}{loc}"
    sep = "&" if "?" in loc else "?"
    put = requests.put(f"{loc}{sep}digest={digest}", data=data, timeout=10,
                       headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 201, put.text
    return {"digest": digest, "size": len(data)}


def layer(content: bytes, name: str = "hello.txt") -> bytes:
    """A gzip'd tar holding one file (mtime 0, so the bytes are deterministic)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return gzip.compress(buf.getvalue(), mtime=0)


def push_image(host: str, repo: str, tag: str, content: bytes, arch: str = "amd64") -> str:
    """Push a one-layer OCI image; returns the manifest's digest."""
    config = json.dumps({"architecture": arch, "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    cfg = _push_blob(host, repo, config)
    lay = _push_blob(host, repo, layer(content))
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **lay}],
    }, separators=(",", ":")).encode()
    return put_manifest(host, repo, tag, manifest, OCI_MANIFEST)


def put_manifest(host: str, repo: str, ref: str, body: bytes, media: str) -> str:
    resp = requests.put(f"http://{host}/v2/{repo}/manifests/{ref}", data=body, timeout=10,
                        headers={"Content-Type": media})
    assert resp.status_code == 201, resp.text
    return "sha256:" + hashlib.sha256(body).hexdigest()


def push_index(host: str, repo: str, tag: str) -> tuple[str, list[str]]:
    """Push a two-platform image index; returns (index digest, child manifest digests)."""
    children = []
    for arch in ("amd64", "arm64"):
        children.append(push_image(host, repo, f"tmp-{arch}", arch.encode(), arch=arch))
    manifests = []
    for arch, digest in zip(("amd64", "arm64"), children, strict=True):
        size = len(requests.get(f"http://{host}/v2/{repo}/manifests/{digest}", timeout=10,
                                headers={"Accept": OCI_MANIFEST}).content)
        manifests.append({"mediaType": OCI_MANIFEST, "digest": digest, "size": size,
                          "platform": {"architecture": arch, "os": "linux"}})
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
                      separators=(",", ":")).encode()
    return put_manifest(host, repo, tag, body, OCI_INDEX), children
