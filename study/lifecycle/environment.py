"""What code and tools a run used: repository commit and dirty flag, package versions.

Captured once when the run starts and stored in the run state, so provenance describes the code
that ran (not whatever the checkout holds when `study collect` is repeated later).
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "study-harness",
    "pulumi",
    "pulumi-gcp",
    "pulumi-aws",
    "pulumi-kubernetes",
    "pulumi-policy",
    "kubernetes",
    "google-cloud-compute",
    "boto3",
)


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def repository(root: Path) -> dict:
    """{commit, dirty} or {commit: None, note} when git or the repository is missing."""
    head = _git(root, "rev-parse", "HEAD")
    if head is None:
        return {"commit": None, "dirty": None, "note": "not a git checkout or git not installed"}
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": head.strip(), "dirty": None if status is None else bool(status.strip())}


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def capture(root: Path, backend_versions: dict[str, str] | None = None) -> dict:
    versions: dict[str, str | None] = dict(package_versions())
    versions.update(backend_versions or {})
    return {"repository": repository(root), "versions": versions}
