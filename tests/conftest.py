"""Shared test helpers: a fixed date for tests that pass it, stack configs built from dicts, and
offline plans. Nothing pins the validation clock for every test: the shipped stacks must plan
whatever today's date is (tests/study/test_years_ahead.py)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# A fixed "now" for tests that pass it explicitly (fake worlds, dated calendar cases).
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def stack_yaml(stack: str) -> dict:
    return yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())


def config_of(doc: dict) -> dict[str, str]:
    """A stack document's config as the engine passes it (JSON text for objects)."""
    from core.stacks import _as_config_value

    return {k: _as_config_value(v) for k, v in (doc.get("config") or {}).items()}


def sections(stack: str) -> dict:
    """The stack's `study:` sections as a plain dict, safe to mutate in a test."""
    cfg = stack_yaml(stack)["config"]
    return copy.deepcopy({k.split(":", 1)[1]: v for k, v in cfg.items() if k.startswith("study:")})


def to_config(sec: dict) -> dict[str, str]:
    return config_of({"config": {f"study:{k}": v for k, v in sec.items()}})


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(autouse=True)
def _one_instant_per_test(monkeypatch):
    """The validation clock holds still within a test at the real time it started (no date that
    rots): a stack's expiry stamp is counted from it, so two plans in one test render the same
    manifests whichever second each ran in. A test of another date sets its own."""
    import infra.validate

    started = infra.validate.clock()
    monkeypatch.setattr(infra.validate, "clock", lambda: started)


@pytest.fixture(autouse=True)
def _no_user_overlay(monkeypatch, tmp_path_factory):
    """A developer's own stacks/local.yaml or STUDY_GCP_PROJECT never reaches a test's stacks."""
    monkeypatch.delenv("STUDY_GCP_PROJECT", raising=False)
    monkeypatch.setenv("STUDY_LOCAL_CONFIG", str(tmp_path_factory.getbasetemp() / "no-overlay"))


# The shipped stacks' images with neither a released tag nor a digest in the committed lock
# (infra/image_lock.json): `study images lock STACK` resolves them, which needs the network and
# registry credentials these machines lack. Until then those stacks' plans fail the image-pinned
# rule (tests/study/test_shipped_image_lock.py); tests of a plan as it is after locking use
# the `locked_images` fixture.
UNLOCKED_SHIPPED_IMAGES = (
    "ghcr.io/converged-computing/container-chonks:topology-flux-0.66.0",  # the seed topology app
    "ghcr.io/converged-computing/flux-view-ubuntu:tag-jammy",
    "ghcr.io/converged-computing/flux-view-ubuntu:tag-noble",
    "ghcr.io/converged-computing/metric-osu-benchmark:latest",
    "public.ecr.aws/docker/library/buildpack-deps:noble-curl",
    "us-central1-docker.pkg.dev/llnl-flux/converged-computing/ensemble-minife:spack-skylake",
    "us-central1-docker.pkg.dev/study-harness-sandbox/apps/ensemble-amg2023:spack-skylake",
    "us-central1-docker.pkg.dev/study-harness-sandbox/apps/ensemble-lammps:spack-skylake",
    "us-central1-docker.pkg.dev/study-harness-sandbox/apps/ensemble-minife:spack-skylake",
    "us-central1-docker.pkg.dev/study-harness-sandbox/apps/ensemble-osu:spack-skylake",
)


@pytest.fixture
def locked_images(monkeypatch):
    """The committed lock as `study images lock` leaves it for the shipped stacks: each unlocked
    image with a digest (here the sha256 of its reference, a well-formed stand-in)."""
    import hashlib

    from core import image_lock

    entries = {
        ref: image_lock.LockEntry("sha256:" + hashlib.sha256(ref.encode()).hexdigest(),
                                  "2026-12-01T00:00:00Z", ("test",))
        for ref in UNLOCKED_SHIPPED_IMAGES
    }
    lock = image_lock.ImageLock(entries)
    monkeypatch.setattr(image_lock, "committed", lambda: lock)
    return lock


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A throwaway copy of the project layout whose stack files a test may write."""
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (tmp_path / "__main__.py").write_text((ROOT / "__main__.py").read_text())
    monkeypatch.setenv("STUDY_PROJECT_DIR", str(tmp_path))

    def write(stack: str, sec: dict) -> str:
        doc = {"config": {f"study:{k}": v for k, v in sec.items()}}
        (tmp_path / "stacks" / f"Pulumi.{stack}.yaml").write_text(
            yaml.safe_dump(json.loads(json.dumps(doc, default=str)))
        )
        return stack

    write.root = tmp_path  # type: ignore[attr-defined]
    return write


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the `study` console entry point in-process: returns (exit code, stdout, stderr)."""
    import sys

    from study.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["study", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke
