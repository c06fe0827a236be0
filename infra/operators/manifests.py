"""Operator install manifests: read the upstream copies in manifests/ and patch them in Python.

Why patch in code rather than edit the YAML: the files stay byte-identical to upstream (see
manifests/README.md), and every change we make is visible, reviewed and tested here:

- controller images: `:latest` -> the pin in `core.versions`, then by digest where the
  committed image lock has one (`core.image_lock`);
- metrics-operator: the `kube-rbac-proxy` sidecar (images no longer published since 2025-03) is
  removed with its Service port; the manager's metrics then stay on 127.0.0.1:8080 as upstream;
- CustomResourceDefinitions get `pulumi.com/patchForce`, so the server-side apply that
  pulumi-kubernetes v4 uses by default takes ownership of fields another manager (an earlier
  `kubectl apply`) set. The JobSet CRD is too large for client-side apply's last-applied annotation.

Pure functions on plain dicts; nothing here talks to Pulumi or a cluster.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

from core.image_lock import pin_object
from core.versions import OPERATORS, Operator

MANIFESTS_DIR = Path(__file__).resolve().parent / "manifests"
RBAC_PROXY = "kube-rbac-proxy"
PATCH_FORCE = "pulumi.com/patchForce"


@cache
def _load(relpath: str) -> tuple[dict, ...]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the JobSet file is 10k lines
    text = (MANIFESTS_DIR / relpath).read_text()
    return tuple(d for d in yaml.load_all(text, Loader=loader) if d)


def upstream_objects(name: str) -> list[dict]:
    """The operator's manifest as shipped upstream (deep copies, safe to mutate)."""
    op = OPERATORS[name]
    if not op.manifest:
        return []
    return copy.deepcopy(list(_load(op.manifest)))


def _pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        return obj.get("spec", {}).get("template", {}).get("spec")
    return None


def pin_images(obj: dict, op: Operator) -> None:
    """Replace the controller's image (whatever its upstream tag) with the pinned reference."""
    spec = _pod_spec(obj)
    if spec is None or op.controller is None:
        return
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        repo = c.get("image", "").rsplit("@", 1)[0].rsplit(":", 1)[0]
        if repo == op.controller.repository:
            c["image"] = op.controller.ref
            # Always re-pulls a moving tag; a pinned tag never needs it.
            c["imagePullPolicy"] = "IfNotPresent"


def drop_rbac_proxy(obj: dict) -> dict | None:
    """Remove the kube-rbac-proxy sidecar and the Service that only exposed it; None = drop obj."""
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    if obj.get("kind") == "Service" and labels.get("app.kubernetes.io/component") == RBAC_PROXY:
        return None
    spec = _pod_spec(obj)
    if spec is not None:
        spec["containers"] = [
            c for c in spec.get("containers", []) if RBAC_PROXY not in c.get("image", "")
        ]
    return obj


def force_ssa(obj: dict) -> None:
    if obj.get("kind") == "CustomResourceDefinition":
        ann = obj.setdefault("metadata", {}).setdefault("annotations", {})
        ann[PATCH_FORCE] = "true"


def install_objects(name: str) -> list[dict[str, Any]]:
    """The patched objects that install operator `name` (empty for the event recorder)."""
    op = OPERATORS[name]
    out = []
    for obj in upstream_objects(name):
        kept = drop_rbac_proxy(obj)
        if kept is None:
            continue
        pin_images(kept, op)
        pin_object(kept)
        force_ssa(kept)
        out.append(kept)
    return out


def images_in(objs: list[dict]) -> list[str]:
    """Every container image the objects would run."""
    found = []
    for obj in objs:
        spec = _pod_spec(obj)
        if spec is None:
            continue
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            found.append(c.get("image", ""))
    return found
