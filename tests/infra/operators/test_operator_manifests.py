"""The operator install manifests we ship, after our patches, against the real schemas.

Under the mock engine a ConfigGroup is one opaque resource, so `study plan` never sees these
objects: this module is where they are validated (kubernetes-validate strict for built-ins, the
shipped CRD schemas for custom kinds).
"""

from __future__ import annotations

import json

import pytest

from core import layout, versions
from infra.operators import event_recorder, manifests
from infra.operators.install import ORDER, TYPE_TOKENS
from study.schemas import validate_object

UPSTREAM = ["flux-operator", "metrics-operator", "jobset"]


@pytest.mark.parametrize("name", UPSTREAM)
class TestPatchedManifests:
    """Every object validates; no `:latest`, no kube-rbac-proxy; controller image is the pin."""

    def test_every_object_validates(self, name):
        objs = manifests.install_objects(name)
        assert len(objs) > 5
        problems = [p for o in objs for p in validate_object(o, "1.30")]
        assert problems == []

    def test_no_latest_and_no_rbac_proxy(self, name):
        images = manifests.images_in(manifests.install_objects(name))
        assert images, "the operator runs a controller"
        assert not [i for i in images if i.endswith(":latest") or ":" not in i.rsplit("/", 1)[-1]]
        assert not [i for i in images if "kube-rbac-proxy" in i]

    def test_controller_is_the_pin(self, name):
        pin = versions.OPERATORS[name].controller.ref
        assert pin in manifests.images_in(manifests.install_objects(name))

    def test_crds_are_force_applied_server_side(self, name):
        crds = [o for o in manifests.install_objects(name) if o["kind"] == "CustomResourceDefinition"]
        assert crds
        assert all(c["metadata"]["annotations"][manifests.PATCH_FORCE] == "true" for c in crds)


def test_upstream_metrics_operator_really_had_the_proxy():
    """The patch is not vacuous: the upstream file runs the sidecar and `:latest`."""
    images = manifests.images_in(manifests.upstream_objects("metrics-operator"))
    assert any("kube-rbac-proxy" in i for i in images)
    assert any(i.endswith(":latest") for i in images)
    kinds = [(o["kind"], o["metadata"]["name"]) for o in manifests.upstream_objects("metrics-operator")]
    patched = [(o["kind"], o["metadata"]["name"]) for o in manifests.install_objects("metrics-operator")]
    assert ("Service", "metrics-controller-manager-metrics-service") in kinds
    assert ("Service", "metrics-controller-manager-metrics-service") not in patched


def test_patching_does_not_mutate_the_cached_upstream():
    manifests.install_objects("metrics-operator")
    images = manifests.images_in(manifests.upstream_objects("metrics-operator"))
    assert any("kube-rbac-proxy" in i for i in images)


def test_flux_operator_crd_has_topology():
    crd = next(o for o in manifests.install_objects("flux-operator")
               if o["kind"] == "CustomResourceDefinition")
    flux = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["flux"]["properties"]
    assert "topology" in flux


def test_jobset_is_v0_8_or_newer():
    major, minor = (int(x) for x in versions.JOBSET.version.lstrip("v").split(".")[:2])
    assert (major, minor) >= (0, 8)


def test_every_operator_has_a_component_and_an_order():
    assert set(TYPE_TOKENS) == set(versions.OPERATORS) == set(ORDER)
    assert ORDER.index("jobset") < ORDER.index("metrics-operator")


def test_no_pin_anywhere_is_latest():
    refs = [op.controller.ref for op in versions.OPERATORS.values() if op.controller]
    refs += [i.ref for i in versions.HELPER_IMAGES.values()]
    assert all(not r.endswith(":latest") for r in refs)


class TestEventRecorder:
    """Events go to the results volume as JSON lines, never through a terminal."""

    def test_objects_validate(self):
        problems = [p for o in event_recorder.objects() for p in validate_object(o, "1.30")]
        assert problems == []

    def test_file_receiver_writes_the_layout_path(self):
        cfg = json.loads(event_recorder.exporter_config())
        assert cfg["logFormat"] == "json"
        files = [r["file"] for r in cfg["receivers"] if "file" in r]
        assert [f["path"] for f in files] == [layout.EVENTS_FILE]
        assert files[0]["maxsize"] >= 10_000  # lumberjack rotates at 100 MB by default

    def test_mounts_the_results_claim_and_carries_the_results_role(self):
        dep = next(o for o in event_recorder.objects() if o["kind"] == "Deployment")
        pod = dep["spec"]["template"]
        assert pod["metadata"]["labels"][layout.LABEL_ROLE] == layout.ROLE_RESULTS
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == [layout.RESULTS_PVC]
        assert dep["spec"]["strategy"]["type"] == "Recreate"
        assert pod["spec"]["containers"][0]["image"] == versions.EVENT_RECORDER.controller.ref

    def test_can_watch_events_cluster_wide(self):
        role = next(o for o in event_recorder.objects() if o["kind"] == "ClusterRole")
        rule = role["rules"][0]
        assert {"list", "watch"} <= set(rule["verbs"]) and rule["resources"] == ["events"]
        binding = next(o for o in event_recorder.objects() if o["kind"] == "ClusterRoleBinding")
        assert binding["subjects"][0]["namespace"] == layout.NAMESPACE
