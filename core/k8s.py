"""Create a Pulumi resource from a plain Kubernetes object dict.

Why dicts: kinds and operators build objects as data (easy to test, to print, to validate against
schemas without an engine); this one function turns any of them into the matching typed
pulumi-kubernetes resource (so `study plan` sees and validates it) or a CustomResource.
Nested keys stay camelCase, exactly as the API server expects them. Every image an object names
is rendered by digest here when the committed image lock has one (`core.image_lock`), so no kind
can forget to.
"""

from __future__ import annotations

import copy
from typing import Any

import pulumi

from core import sdk

# apiVersion -> pulumi_kubernetes module path of the typed classes.
_MODULES = {
    "v1": "core.v1",
    "apps/v1": "apps.v1",
    "batch/v1": "batch.v1",
    "rbac.authorization.k8s.io/v1": "rbac.v1",
}
_TOP_LEVEL = {"roleRef": "role_ref"}

SKIP_AWAIT = "pulumi.com/skipAwait"


def batch_job(name: str, namespace: str, labels: dict[str, str], pod: dict[str, Any], *,
              skip_await: bool = False, **spec: Any) -> dict[str, Any]:
    """A `batch/v1` Job of pods that never restart in place (a retry is a new pod, counted by
    `backoffLimit`), its pods labelled like the Job; `spec` holds the Job's own fields, in order.

    `skip_await`: Pulumi creates the Job and moves on instead of awaiting it Complete (the step
    recorder waits for it and records a failure as data).
    """
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if skip_await:
        meta["annotations"] = {SKIP_AWAIT: "true"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            **spec,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", **pod},
            },
        },
    }


def create(obj: dict[str, Any], opts: pulumi.ResourceOptions, name: str | None = None):
    """The typed resource for `obj`; the Pulumi name defaults to `<kind>-<metadata.name>`."""
    import pulumi_kubernetes as k8s

    from core.image_lock import pin_object

    obj = pin_object(copy.deepcopy(obj))
    api, kind = obj["apiVersion"], obj["kind"]
    meta = obj.get("metadata", {})
    rname = name or f"{kind.lower()}-{meta.get('name')}"
    mod = _MODULES.get(api)
    if mod is None:
        spec = obj.get("spec")
        return k8s.apiextensions.CustomResource(
            rname, api_version=api, kind=kind, metadata=meta, spec=spec, opts=opts
        )
    # Module files are named after their kinds; importing just that one keeps plans fast.
    cls = getattr(sdk.package(f"pulumi_kubernetes.{mod}", kind), kind)
    kwargs = {_TOP_LEVEL.get(k, k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return cls(rname, opts=opts, **kwargs)
