"""The harness's own StorageClass: every PersistentVolumeClaim the harness renders names it.

Why our own class: EKS clusters from 1.30 on create no default StorageClass (and the in-tree
`gp2` class needs the EBS CSI driver anyway), and a GKE default could change under a study. One
class per cloud, one name (`STORAGE_CLASS`), created before the study namespace so every claim's
class exists when the claim is created. pulumi-kubernetes looks the class up to learn its binding
mode (provider/pkg/await/awaiters.go, untilCoreV1PersistentVolumeClaimReady): a missing class
means it waits for Bound, which a WaitForFirstConsumer claim never reaches without a pod.

Disks created through the class carry the study labels, so the leftover check after destroy
(`study.lifecycle.*_inventory`) finds a disk a PersistentVolume left behind:
- GKE, pd.csi.storage.gke.io `labels` parameter: "k1=v1,k2=v2", split on "," then "=", keys
  `^\\p{Ll}[\\p{Ll}0-9_-]{0,62}$`, values `^[\\p{Ll}0-9_-]{0,63}$`
  (kubernetes-sigs/gcp-compute-persistent-disk-csi-driver v1.26.4, pkg/convert/convert.go
  ConvertLabelsStringToMap, pkg/parameters/parameters.go).
- EKS, ebs.csi.aws.com `tagSpecification_<n>` parameters: "key=value", split at the first "=",
  the value run through Go text/template; keys `kubernetes.io*`, `ebs.csi.aws.com/*`,
  `CSIVolumeName` and `CSIVolumeSnapshotName` are reserved (kubernetes-sigs/aws-ebs-csi-driver
  v1.64.0, docs/tagging.md, pkg/driver/controller.go, pkg/driver/validation.go validateExtraTags,
  pkg/util/template/template.go). The driver adds `CSIVolumeName` and `ebs.csi.aws.com/cluster`
  itself.

This module builds the object as data (tests and the plan read it) and creates it; it does not
install the CSI drivers (the cluster components do).
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import SpecError

STORAGE_CLASS = "study-results"
PROVISIONERS = {"gke": "pd.csi.storage.gke.io", "eks": "ebs.csi.aws.com"}
# pd-balanced: SSD-backed at a fraction of pd-ssd's price, plenty for appending event lines.
# gp3: the EBS CSI default, 3000 IOPS baseline whatever the size.
DISK_TYPES = {"gke": "pd-balanced", "eks": "gp3"}

_GCE_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")  # fullmatch: `$` would let a "\n" through
_GCE_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
GCE_MAX_LABELS = 64  # ConvertLabelsStringToMap's own limit
# EC2 allows 50 tags per volume; the driver adds up to 9 of its own (CSIVolumeName,
# ebs.csi.aws.com/cluster, three kubernetes.io/created-for/*, four cluster-id tags).
EBS_MAX_TAGS = 41
_EBS_RESERVED_KEYS = {"CSIVolumeName", "CSIVolumeSnapshotName"}
_EBS_RESERVED_PREFIXES = ("kubernetes.io", "ebs.csi.aws.com/")


def _bad(key: str, value: str, allowed: str) -> SpecError:
    return SpecError([f"study label {key}={value!r} cannot tag the results disk: {allowed}"])


def gce_labels_parameter(labels: dict[str, str]) -> str:
    """The pd CSI `labels` parameter, or a SpecError naming the label the driver would reject."""
    if len(labels) > GCE_MAX_LABELS:
        msg = f"study labels: {len(labels)} labels; the results disk takes at most 64"
        raise SpecError([msg])
    for key, value in labels.items():
        if not _GCE_KEY.fullmatch(key):
            raise _bad(key, value, "GCE label keys are a lowercase letter, then up to 62 of a-z "
                                   "0-9 _ -")
        if not _GCE_VALUE.fullmatch(value):
            raise _bad(key, value, "GCE label values are up to 63 of a-z 0-9 _ -")
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def ebs_tag_parameters(labels: dict[str, str]) -> dict[str, str]:
    """`tagSpecification_<n>` parameters, or a SpecError naming a tag the driver would reject."""
    if len(labels) > EBS_MAX_TAGS:
        msg = f"study labels: {len(labels)} labels; the results disk takes at most {EBS_MAX_TAGS}"
        raise SpecError([msg])
    out: dict[str, str] = {}
    for i, (key, value) in enumerate(sorted(labels.items()), 1):
        if (key in _EBS_RESERVED_KEYS or key.startswith(_EBS_RESERVED_PREFIXES)
                or "=" in key or not 1 <= len(key) <= 128):
            raise _bad(key, value, "EBS CSI tag keys are 1-128 characters without '=', not "
                                   "CSIVolumeName/CSIVolumeSnapshotName nor prefixed "
                                   "kubernetes.io or ebs.csi.aws.com/")
        if "{{" in value or len(value) > 256:
            # The driver evaluates tag values as Go templates: "{{" would be interpreted.
            raise _bad(key, value, "EBS CSI tag values are up to 256 characters without '{{'")
        out[f"tagSpecification_{i}"] = f"{key}={value}"
    return out


def storage_class(cloud: str, labels: dict[str, str]) -> dict[str, Any]:
    """The StorageClass object for `cloud` ('gke' or 'eks'); disks carry `labels`."""
    if cloud not in PROVISIONERS:
        msg = f"study:cluster.cloud={cloud!r}: no storage class for it; allowed: gke, eks"
        raise SpecError([msg])
    params = {"type": DISK_TYPES[cloud]}
    if cloud == "gke":
        params["labels"] = gce_labels_parameter(labels)
    else:
        params.update(ebs_tag_parameters(labels))
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS},
        "provisioner": PROVISIONERS[cloud],
        "parameters": params,
        # The disk is created in the zone where the first pod using it is scheduled, so a
        # multi-zone cluster never gets a disk its pod cannot attach.
        "volumeBindingMode": "WaitForFirstConsumer",
        # A study's results are collected before destroy; the disk must not outlive the claim.
        "reclaimPolicy": "Delete",
    }


def stamped_storage_class(cloud: str, labels: dict[str, Any]) -> dict[str, Any]:
    """`storage_class` with labels that may be Outputs (the expiry stamped at creation): the
    parameters resolve with them; the labels known now are checked now, before any cloud call."""
    import pulumi

    known = {k: v for k, v in labels.items() if isinstance(v, str)}
    obj = storage_class(cloud, known)
    if len(known) < len(labels):
        obj["parameters"] = pulumi.Output.all(**labels).apply(
            lambda resolved: storage_class(cloud, resolved)["parameters"]
        )
    return obj


def storage_problems(spec, stack: str) -> list:
    """The labels `storage_class` would refuse, as input errors for `infra.validate`."""
    from infra.labels import study_labels
    from infra.validate import input_error

    try:
        storage_class(spec.cluster.cloud, study_labels(spec, stack))
    except SpecError as err:
        return [input_error("study:cluster.labels", p) for p in err.problems]
    return []


def create_storage_class(obj: dict[str, Any], provider, driver=None):
    """The StorageClass resource for `obj` (from `storage_class`, built before any cloud resource
    so bad labels fail first) on `provider`, after the CSI `driver` resource when given.

    EKS passes its `aws-ebs-csi-driver` add-on; on GKE the PD CSI driver is a cluster add-on,
    ready once the cluster is, which the provider already waits for.
    """
    import pulumi

    from core import sdk

    storage = sdk.package("pulumi_kubernetes.storage.v1", "StorageClass")
    return storage.StorageClass(
        "study-storage-class",
        metadata=obj["metadata"],
        provisioner=obj["provisioner"],
        parameters=obj["parameters"],
        volume_binding_mode=obj["volumeBindingMode"],
        reclaim_policy=obj["reclaimPolicy"],
        opts=pulumi.ResourceOptions(
            provider=provider, depends_on=[driver] if driver is not None else []
        ),
    )
