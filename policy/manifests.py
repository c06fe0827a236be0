"""The objects the Kubernetes API server would receive, from the resources the program registered.

Why here: `study plan` (under the mock engine) and the policy pack (at `pulumi up`) both check
these objects against the real-cloud rules (`policy.cloud_rules`), and neither may read them
differently; the CLI sits above policy, so the one reading lives below it.
"""

from __future__ import annotations

from typing import Any


def _integral(value: Any) -> Any:
    """The mock engine turns every number into a float (64 -> 64.0); the program wrote ints.

    CRD schemas say `type: integer`, which 64.0 does not satisfy, so whole floats become ints.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def manifests_of(type_: str, inputs: dict) -> list[dict]:
    """A kubernetes:* resource's inputs as the objects the API server would receive.

    A `yaml/v2` ConfigGroup (how operators are installed) registers as one resource under the
    mock engine; its `objs` are the objects it would apply, so they are planned one by one.
    """
    if type_ == "kubernetes:yaml/v2:ConfigGroup":
        return [_integral(dict(o)) for o in inputs.get("objs") or []]
    if not type_.startswith("kubernetes:") or type_.startswith(
        ("kubernetes:yaml", "kubernetes:helm")
    ):
        return []
    _, api, kind = type_.split(":")
    if "/" not in api:
        return []
    obj = _integral(dict(inputs))
    obj.setdefault("apiVersion", api.replace("core/", "") if api.startswith("core/") else api)
    obj.setdefault("kind", kind)
    return [obj]
