"""Every object a plan would apply is written and validated, operator install objects included."""

from __future__ import annotations

from study.plan import make_plan, manifests_of
from study.schemas import validate_object


def test_operator_objects_inside_a_config_group_are_planned(tmp_path, locked_images):
    plan = make_plan("gke-64-osu", tmp_path)
    assert plan.ok, plan.violations
    kinds = {(o["kind"], o["metadata"]["name"]) for o in plan.manifests}
    assert ("CustomResourceDefinition", "jobsets.jobset.x-k8s.io") in kinds
    assert ("CustomResourceDefinition", "metricsets.flux-framework.org") in kinds
    written = {p.name for p in tmp_path.glob("*.yaml")}
    assert any(n.endswith("-customresourcedefinition-jobsets.jobset.x-k8s.io.yaml") for n in written)
    assert len(written) == len(plan.manifests)


def test_a_broken_operator_object_would_be_a_violation():
    group_inputs = {
        "objs": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "controller"},
                "spec": {
                    "replicas": 1.0,  # the mock engine's float, turned back into an int
                    "selector": {"matchLabels": {"a": "b"}},
                    "template": {
                        "metadata": {"labels": {"a": "b"}},
                        "spec": {"containers": [{"name": "c", "image": "x", "imagePullPolicyy": "Always"}]},
                    },
                },
            }
        ]
    }
    (obj,) = manifests_of("kubernetes:yaml/v2:ConfigGroup", group_inputs)
    assert obj["spec"]["replicas"] == 1 and isinstance(obj["spec"]["replicas"], int)
    problems = validate_object(obj, "1.35")
    assert len(problems) == 1 and "imagePullPolicyy" in problems[0]
