"""Leftover checks find a disk a PersistentVolume left behind, on both clouds.

PersistentVolume deletion is asynchronous (the CSI provisioner deletes the disk after the claim
is gone): if destroy removes the driver or the cluster first, the disk outlives the stack. It
carries what the harness's StorageClass gave it (`infra.storage`):
- EBS: the `tagSpecification_<n>` tags, plus the driver's own `CSIVolumeName` and
  `ebs.csi.aws.com/cluster` (kubernetes-sigs/aws-ebs-csi-driver v1.64.0, docs/tagging.md,
  pkg/driver/controller.go). Listed with EC2 DescribeVolumes, filter `tag:stack` (botocore
  Stubber checks the exact request).
- PD: the `labels` parameter as GCE disk labels (kubernetes-sigs/gcp-compute-persistent-disk-
  csi-driver v1.26.4, pkg/parameters/parameters.go); listed with Cloud Asset's
  `search_all_resources` and the query `labels.stack:<stack>` (tests/doubles/cloud_asset.py).
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from infra.labels import study_labels
from infra.spec import load_spec
from infra.storage import storage_class
from study.lifecycle import aws_inventory, gcp_inventory
from study.lifecycle.interfaces import CloudResource
from tests.conftest import sections, to_config
from tests.doubles.cloud_asset import FakeAssetInventory

EKS_STACK, GKE_STACK = "eks-16-pulling", "gke-4-nightly"


def _spec(stack: str):
    return load_spec(to_config(sections(stack)))


def _ebs_volume_tags(spec, stack: str) -> dict[str, str]:
    params = storage_class("eks", study_labels(spec, stack))["parameters"]
    tags = dict(v.split("=", 1) for k, v in params.items() if k.startswith("tagSpecification"))
    return {**tags, "CSIVolumeName": "pvc-0f1e", "ebs.csi.aws.com/cluster": "true"}


class _Session:
    """A boto3 session whose clients are real but stubbed (no network, no credentials)."""

    def __init__(self, region: str):
        real = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name=region
        )
        self.clients = {n: real.client(n) for n in ("ec2", "resourcegroupstaggingapi")}
        self.stubs = {n: Stubber(c) for n, c in self.clients.items()}

    def client(self, name: str):
        return self.clients[name]


@pytest.fixture
def aws(monkeypatch):
    spec = _spec(EKS_STACK)
    session = _Session(spec.cluster.region)
    monkeypatch.setattr(aws_inventory.AwsInventory, "_session", lambda self, region: (session,
                                                                                      None))
    return spec, session


class TestAwsVolumes:
    """An EBS volume tagged by the StorageClass is a leftover, reported once."""

    def _expect(self, session, stack, tagged: list[dict], volumes: list[dict]):
        session.stubs["resourcegroupstaggingapi"].add_response(
            "get_resources", {"ResourceTagMappingList": tagged},
            {"TagFilters": [{"Key": "stack", "Values": [stack]}]},
        )
        session.stubs["ec2"].add_response(
            "describe_volumes", {"Volumes": volumes},
            {"Filters": [{"Name": "tag:stack", "Values": [stack]}]},
        )

    def test_orphaned_volume_is_listed(self, aws):
        spec, session = aws
        tags = _ebs_volume_tags(spec, EKS_STACK)
        vol = {"VolumeId": "vol-0abc", "AvailabilityZone": "us-east-2a", "State": "available",
               "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        gone = {**vol, "VolumeId": "vol-0def", "State": "deleted"}  # DescribeVolumes lags too
        self._expect(session, EKS_STACK, [], [vol, gone])
        with session.stubs["ec2"], session.stubs["resourcegroupstaggingapi"]:
            found = aws_inventory.AwsInventory().labelled(spec, EKS_STACK)
        for stub in session.stubs.values():
            stub.assert_no_pending_responses()
        assert found == [CloudResource("ec2:volume", "vol-0abc", tags, "us-east-2a")]

    def test_volume_also_in_the_tagging_api_is_reported_once(self, aws):
        spec, session = aws
        arn = "arn:aws:ec2:us-east-2:123456789012:volume/vol-0abc"
        tag_list = [{"Key": "stack", "Value": EKS_STACK}]
        self._expect(
            session, EKS_STACK, [{"ResourceARN": arn, "Tags": tag_list}],
            [{"VolumeId": "vol-0abc", "AvailabilityZone": "us-east-2a", "Tags": tag_list}],
        )
        with session.stubs["ec2"], session.stubs["resourcegroupstaggingapi"]:
            found = aws_inventory.AwsInventory().labelled(spec, EKS_STACK)
        for stub in session.stubs.values():
            stub.assert_no_pending_responses()
        assert found == [
            CloudResource("ec2:volume", arn, {"stack": EKS_STACK}, spec.cluster.region)
        ]


def test_gcp_disk_from_the_storage_class_is_listed():
    """The PD CSI driver's disk, found by the Cloud Asset label search; a disk of a stack whose
    name extends this one's (`:` matches it too) is not this stack's leftover."""
    spec = _spec(GKE_STACK)
    value = storage_class("gke", study_labels(spec, GKE_STACK))["parameters"]["labels"]
    labels = dict(kv.split("=") for kv in value.split(","))  # as the pd CSI driver parses it
    project = spec.cluster.project
    assets = FakeAssetInventory()
    assets.add(project, "compute.googleapis.com/Disk", "zones/us-central1-a/disks/pvc-0f1e",
               labels, "us-central1-a")
    assets.add(project, "compute.googleapis.com/Disk", "zones/us-central1-a/disks/other",
               {"stack": "x"}, "us-central1-a")
    assets.add(project, "compute.googleapis.com/Disk", "zones/us-central1-a/disks/longer",
               {"stack": f"{GKE_STACK}-2"}, "us-central1-a")
    inventory = gcp_inventory.GcpInventory(asset_client=assets.client)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gcp_inventory, "credentials_problem", lambda: None)
        mp.setattr(gcp_inventory.GcpInventory, "_named_network",
                   staticmethod(lambda p, r, s: []))
        found = inventory.labelled(spec, GKE_STACK)
    assert found == [CloudResource("compute.disks", "pvc-0f1e", labels, "us-central1-a")]
    assert [(r.scope, r.query) for r in assets.requests] == [
        (f"projects/{project}", f"labels.stack:{GKE_STACK}")]
