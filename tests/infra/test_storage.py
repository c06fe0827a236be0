"""The harness's StorageClass: what each CSI driver does with its parameters, and the wiring.

Driver behaviour the tests replay (read at the latest releases):
- kubernetes-sigs/gcp-compute-persistent-disk-csi-driver v1.26.4, pkg/convert/convert.go
  `ConvertLabelsStringToMap`: the `labels` parameter is split on "," then "=" (exactly two
  parts), keys `^\\p{Ll}[\\p{Ll}0-9_-]{0,62}$`, values `^[\\p{Ll}0-9_-]{0,63}$`, at most 64;
  README "CreateVolume Parameters" (`type`: pd-balanced, ...).
- kubernetes-sigs/aws-ebs-csi-driver v1.64.0, pkg/driver/controller.go (a parameter key with
  prefix `tagSpecification` is a tag; any other unknown key fails CreateVolume),
  pkg/util/template/template.go `Evaluate` (split at the first "=", the value is a Go template),
  pkg/driver/validation.go `validateExtraTags` (reserved keys), docs/parameters.md (`type: gp3`).
- pulumi/pulumi-kubernetes v4.32.0 provider/pkg/await/awaiters.go
  `untilCoreV1PersistentVolumeClaimReady`: the provider reads the claim's class for its binding
  mode, so the class must exist before any claim: the study namespace (which every workload
  waits on) depends on it.
"""

from __future__ import annotations

import re

import pytest

from core.errors import SpecError
from infra import storage
from infra.spec import load_spec
from infra.validate import validate_stack
from study.mock_engine import run_program
from study.plan import make_plan
from tests.conftest import ROOT, sections, to_config

LABELS = {
    "study": "pulling", "stack": "gke-4-nightly", "owner": "study-harness",
    "expires-at": "20271231t000000z", "budget-usd": "5_00", "managed-by": "study-harness",
}
SC_TYPE = "kubernetes:storage.k8s.io/v1:StorageClass"
GCE_KEYS = "GCE label keys are a lowercase letter, then up to 62 of a-z 0-9 _ -"
GCE_VALUES = "GCE label values are up to 63 of a-z 0-9 _ -"
EBS_KEYS = ("EBS CSI tag keys are 1-128 characters without '=', not "
            "CSIVolumeName/CSIVolumeSnapshotName nor prefixed kubernetes.io or ebs.csi.aws.com/")
EBS_VALUES = "EBS CSI tag values are up to 256 characters without '{{'"


def pd_csi_labels(value: str) -> dict[str, str]:
    """ConvertLabelsStringToMap at v1.26.4, line for line; raises where the driver errors."""
    out = {}
    for kv in value.split(","):
        parts = kv.split("=")
        if len(parts) != 2:
            raise ValueError(value)
        key, val = parts[0].strip(), parts[1].strip()
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key) or not re.fullmatch(
            r"[a-z0-9_-]{0,63}", val
        ):
            raise ValueError(kv)
        out[key] = val
    assert len(out) <= 64
    return out


def ebs_csi_tags(params: dict[str, str]) -> dict[str, str]:
    """The tags CreateVolume adds from `tagSpecification*` parameters (template.Evaluate)."""
    known = {"type"}
    assert set(params) - known == {k for k in params if k.startswith("tagSpecification")}
    return dict(v.split("=", 1) for k, v in params.items() if k.startswith("tagSpecification"))


class TestStorageClassObject:
    """One class name; each driver gets its provisioner, disk type and the study labels."""

    def test_gke_pd_balanced_with_labels_the_driver_parses_back(self):
        sc = storage.storage_class("gke", LABELS)
        assert sc["metadata"] == {"name": storage.STORAGE_CLASS}
        assert sc["provisioner"] == "pd.csi.storage.gke.io"
        assert sc["parameters"]["type"] == "pd-balanced"
        assert set(sc["parameters"]) == {"type", "labels"}
        assert pd_csi_labels(sc["parameters"]["labels"]) == LABELS
        assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
        assert sc["reclaimPolicy"] == "Delete"

    def test_eks_gp3_with_tags_the_driver_parses_back(self):
        sc = storage.storage_class("eks", LABELS)
        assert sc["provisioner"] == "ebs.csi.aws.com"
        assert sc["parameters"]["type"] == "gp3"
        assert ebs_csi_tags(sc["parameters"]) == LABELS
        assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
        assert sc["reclaimPolicy"] == "Delete"

    @pytest.mark.parametrize(
        ("cloud", "labels", "allowed"),
        [
            ("gke", {"Team": "x"}, GCE_KEYS),
            ("gke", {"team": "a,b=c"}, GCE_VALUES),
            ("gke", {"team": "hpc\n"}, GCE_VALUES),  # a `$` anchor would let the newline in
            ("eks", {"kubernetes.io/x": "1"}, EBS_KEYS),
            ("eks", {"CSIVolumeName": "1"}, EBS_KEYS),
            ("eks", {"team": "{{ .PVName }}"}, EBS_VALUES),
        ],
    )
    def test_labels_the_driver_would_reject_are_one_line_errors(self, cloud, labels, allowed):
        ((key, value),) = labels.items()
        with pytest.raises(SpecError) as err:
            storage.storage_class(cloud, labels)
        assert err.value.problems == [
            f"study label {key}={value!r} cannot tag the results disk: {allowed}"
        ]

    @pytest.mark.parametrize(("cloud", "most"), [("gke", 64), ("eks", 41)])
    def test_too_many_labels(self, cloud, most):
        """pd CSI: at most 64 labels; EC2: 50 tags per volume, 9 of them the driver's own."""
        labels = {f"k{i}": "v" for i in range(most + 1)}
        with pytest.raises(SpecError) as err:
            storage.storage_class(cloud, labels)
        assert err.value.problems == [
            f"study labels: {most + 1} labels; the results disk takes at most {most}"
        ]
        assert storage.storage_class(cloud, dict(list(labels.items())[:most]))


def _render(stack: str):
    run = run_program(stack, to_config(sections(stack)), ROOT / "__main__.py")
    assert run.error is None, run.error
    return run


def _urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


@pytest.mark.parametrize(("stack", "cloud"), [("gke-4-nightly", "gke"), ("eks-16-pulling", "eks")])
class TestWiredIntoTheProgram:
    """The class is created on the cluster's provider before the namespace every workload needs."""

    def test_one_class_before_the_namespace(self, stack, cloud):
        run = _render(stack)
        (sc,) = [r for r in run.resources if r.type == SC_TYPE]
        assert sc.inputs["provisioner"] == storage.PROVISIONERS[cloud]
        assert sc.inputs["parameters"]["type"] == storage.DISK_TYPES[cloud]
        (ns,) = [r for r in run.resources if r.name == "study-namespace"]
        # The namespace's labels carry the expiry stamped at creation (infra.expiry).
        assert sorted(_urn_name(u) for u in ns.options["dependencies"]) == [
            f"{stack}-expiry", "study-storage-class"]
        assert sc.provider == ns.provider

    def test_disks_carry_the_stack_label(self, stack, cloud):
        (sc,) = [r for r in _render(stack).resources if r.type == SC_TYPE]
        params = sc.inputs["parameters"]
        tags = pd_csi_labels(params["labels"]) if cloud == "gke" else ebs_csi_tags(params)
        assert tags["stack"] == stack and tags["managed-by"] == "study-harness"


def test_eks_class_waits_for_the_ebs_csi_driver():
    (sc,) = [r for r in _render("eks-16-pulling").resources if r.type == SC_TYPE]
    # The disk tags carry the expiry stamped at creation (infra.expiry).
    assert sorted(_urn_name(u) for u in sc.options["dependencies"]) == [
        "eks-16-pulling-ebs-csi-driver", "eks-16-pulling-expiry"]


@pytest.mark.parametrize("stack", ["gke-4-nightly", "eks-6-topology"])
def test_every_claim_in_the_plan_names_the_class_the_plan_installs(stack, locked_images):
    """Plan manifests: the class validates (kubernetes-validate strict) and every claim names it."""
    plan = make_plan(stack)
    assert plan.manifest_problems == []
    classes = [m["metadata"]["name"] for m in plan.manifests if m["kind"] == "StorageClass"]
    assert classes == [storage.STORAGE_CLASS]
    claims = [m for m in plan.manifests if m["kind"] == "PersistentVolumeClaim"]
    assert claims
    assert {c["spec"]["storageClassName"] for c in claims} == {storage.STORAGE_CLASS}


def test_a_label_the_ebs_driver_rejects_fails_before_any_cloud_resource():
    """EKS cluster labels become volume tags; a reserved key (validateExtraTags) would fail every
    CreateVolume after the cluster is up, so the program refuses it before registering any.
    (The driver refuses the prefix `kubernetes.io`, with or without a '/'; a key with a '/' is
    refused earlier still, as no Kubernetes label name.)"""
    sec = sections("eks-16-pulling")
    sec["cluster"]["labels"] = {"kubernetes.io-team": "hpc"}
    message = (
        "study:cluster.labels: study label kubernetes.io-team='hpc' cannot tag the results disk: "
        "EBS CSI tag keys are 1-128 characters without '=', not "
        "CSIVolumeName/CSIVolumeSnapshotName nor prefixed kubernetes.io or ebs.csi.aws.com/"
    )
    report = validate_stack(load_spec(to_config(sec)), "eks-16-pulling")
    assert [(str(p), p.invalid_input) for p in report.errors] == [(message, True)]
    run = run_program("eks-16-pulling", to_config(sec), ROOT / "__main__.py")
    assert isinstance(run.error, SpecError)
    assert run.error.problems == [message]
    assert [r for r in run.resources if r.type.startswith(("aws:", "kubernetes:"))] == []
