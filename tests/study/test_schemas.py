"""Offline schema validation catches the mistakes a real API server would reject."""

from __future__ import annotations

from study.schemas import _to_json_schema, crd_schemas, validate_object


def job(**spec_extra):
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pull"},
        "spec": {
            "template": {
                "spec": {"restartPolicy": "Never", "containers": [{"name": "a", "image": "b"}]}
            },
            **spec_extra,
        },
    }


def test_valid_builtin_passes():
    assert validate_object(job()) == []


def test_builtin_typo_is_caught_in_strict_mode():
    obj = job()
    obj["spec"]["template"]["spec"]["restartPolicyy"] = "Never"
    problems = validate_object(obj)
    assert len(problems) == 1
    assert problems[0].startswith("Job/pull: spec.template.spec: Additional properties")
    assert "restartPolicyy" in problems[0]


def test_builtin_wrong_type_is_caught():
    problems = validate_object(job(parallelism="four"))
    assert problems and "parallelism" in problems[0]


def test_the_crds_we_ship_are_loaded():
    assert {k for k in crd_schemas()} >= {
        ("flux-framework.org/v1alpha2", "MiniCluster"),
        ("flux-framework.org/v1alpha2", "MetricSet"),
        ("jobset.x-k8s.io/v1alpha2", "JobSet"),
    }


def minicluster(**spec):
    return {
        "apiVersion": "flux-framework.org/v1alpha2",
        "kind": "MiniCluster",
        "metadata": {"name": "topo"},
        "spec": {"size": 4, "containers": [{"image": "ghcr.io/x/y:1"}], **spec},
    }


def test_custom_resource_valid_and_typo():
    assert validate_object(minicluster(flux={"topology": "kary:2"})) == []
    bad = validate_object(minicluster(flux={"topolgy": "kary:2"}))
    assert (
        len(bad) == 1 and "topolgy" in bad[0] and bad[0].startswith("MiniCluster/topo: spec.flux:")
    )


def test_unknown_custom_kind_is_reported_not_skipped():
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    problems = validate_object(obj)
    assert problems and problems[0].startswith("Widget/w: no schema for example.com/v1 Widget")


def test_crd_conversion_int_or_string_nullable_and_strictness():
    converted = _to_json_schema(
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    )
    assert converted["additionalProperties"] is False
    assert converted["properties"]["port"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert converted["properties"]["note"]["type"] == ["string", "null"]
    assert "additionalProperties" not in converted["properties"]["free"]
