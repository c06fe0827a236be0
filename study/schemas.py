"""Offline validation of rendered Kubernetes objects against real schemas.

Built-in kinds: `kubernetes-validate` in strict mode (unknown fields such as `restartPolicyy` fail).
Custom kinds: the openAPIV3Schema of the CRDs shipped in infra/operators/manifests, converted to
JSON Schema the way the API server reads it (x-kubernetes-int-or-string, nullable) and made strict
(additionalProperties: false wherever properties are listed), checked with jsonschema.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

MANIFESTS = Path(__file__).resolve().parent.parent / "infra" / "operators" / "manifests"
DEFAULT_K8S_VERSION = "1.30"


def _to_json_schema(node: Any) -> Any:
    """CRD structural schema -> strict JSON Schema (Draft 4 semantics)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        out[key] = _to_json_schema(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return out
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    return out


@cache
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict JSON Schema, from every CRD in the shipped manifests."""
    found: dict[tuple[str, str], dict] = {}
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        # libyaml: the JobSet CRD alone is 800 kB, 40x slower through the pure-Python loader.
        for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema is None:
                    continue
                schema = _to_json_schema(schema)
                # apiVersion, kind and metadata are checked by the API server, not the CRD.
                props = schema.setdefault("properties", {})
                props.setdefault("apiVersion", {"type": "string"})
                props.setdefault("kind", {"type": "string"})
                props["metadata"] = {"type": "object"}
                api = f"{spec['group']}/{version['name']}"
                found[(api, spec["names"]["kind"])] = schema
    return found


def custom_kinds() -> list[str]:
    return sorted(f"{api} {kind}" for api, kind in crd_schemas())


def validate_object(obj: dict, k8s_version: str | None = None) -> list[str]:
    """Problems with one object, as lines naming kind/name and the offending path; [] if valid."""
    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    name = (obj.get("metadata") or {}).get("name", "?")
    where = f"{kind or '?'}/{name}"
    group = api.rpartition("/")[0]
    custom = "." in group and not group.endswith(".k8s.io")
    schema = crd_schemas().get((api, kind)) if custom else None
    if schema is not None:
        import jsonschema

        validator = jsonschema.Draft4Validator(schema)
        return [
            f"{where}: {'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path)))
        ]
    if custom:  # a custom group we have no CRD for
        return [f"{where}: no schema for {api} {kind}; known custom kinds: {custom_kinds()}"]
    return _validate_builtin(obj, where, k8s_version or DEFAULT_K8S_VERSION)


def _validate_builtin(obj: dict, where: str, version: str) -> list[str]:
    import jsonschema

    api, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    validator = _builtin_validator(_supported(version), api, kind)
    if isinstance(validator, str):
        return [f"{where}: {validator}"]
    error = jsonschema.exceptions.best_match(validator.iter_errors(obj))
    if error is None:
        return []
    path = ".".join(map(str, error.absolute_path)) or "(root)"
    return [f"{where}: {path}: {error.message}"]


@cache
def _builtin_validator(version: str, api_version: str, kind: str):
    """kubernetes-validate's strict schema for one kind, compiled once per process.

    Same schema files and the same Draft 2020-12 validator as `kubernetes_validate.validate`, which
    re-reads its 1.2 MB definitions file and rebuilds the validator on every call (about 40 ms
    per object; a pulling study renders dozens of objects). A string means no schema exists.
    """
    import re

    import jsonschema
    from referencing import Registry, Resource

    # rbac.authorization.k8s.io/v1 -> rbac-v1, as kubernetes-validate names its files.
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _schema_dir(version) / f"{kind.lower()}-{api}.json"
    if not path.is_file():
        return f"no schema for {api_version} {kind} in Kubernetes {version}"
    schema = _load_json(path)
    registry = _definitions(version) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _schema_dir(version: str) -> Path:
    import kubernetes_validate

    return Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / (
        f"v{version}-local-strict"
    )


def _load_json(path: Path) -> Any:
    import orjson

    return orjson.loads(path.read_bytes())


@cache
def _definitions(version: str):
    """The 1.2 MB shared definitions every kind refers to: parsed once per process, not per kind."""
    from referencing import Resource

    return Resource.from_contents(_load_json(_schema_dir(version) / "_definitions.json"))


@cache
def _supported(version: str) -> str:
    """Clamp a cluster version (1.30, 1.30.5-gke.1) to one kubernetes-validate ships."""
    import kubernetes_validate.utils as kvu

    def minor(v: str) -> tuple[int, int]:
        major, minor_, *_ = v.split("-")[0].split(".")
        return int(major), int(minor_)

    have = sorted({minor(v) for v in kvu.all_versions()})
    want = min(max(minor(version), have[0]), have[-1])
    return f"{want[0]}.{want[1]}.0"
