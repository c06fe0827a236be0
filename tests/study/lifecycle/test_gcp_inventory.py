"""GCP leftovers through Cloud Asset's label search, against tests/doubles/cloud_asset.py.

The client is googleapis/google-cloud-python's google-cloud-asset (asset_v1,
`AssetServiceClient.search_all_resources`, 3.x): one search by `labels.<key>:<value>` over the
project replaces one listing per resource kind, as the Resource Groups Tagging API does on AWS.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.api_core.exceptions import InvalidArgument

from infra.spec import load_spec
from study.lifecycle import gcp_inventory
from study.lifecycle.destroy import delete_disk_command
from study.lifecycle.interfaces import CloudResource
from tests.conftest import sections, to_config
from tests.doubles.cloud_asset import FakeAssetInventory

STACK = "gke-4-nightly"


@pytest.fixture
def spec():
    return load_spec(to_config(sections(STACK)))


@pytest.fixture
def offline(monkeypatch):
    """Credentials present, no network: the networks (found by name) are not there."""
    monkeypatch.setattr(gcp_inventory, "credentials_problem", lambda: None)
    monkeypatch.setattr(gcp_inventory.GcpInventory, "_named_network",
                        staticmethod(lambda p, r, s: []))


def test_every_kind_labelled_with_the_stack_is_a_leftover(spec, offline):
    p = spec.cluster.project
    labels = {"stack": STACK, "managed-by": "study-harness"}
    assets = FakeAssetInventory(page_size=1)  # three pages: the pager is followed to the end
    assets.add(p, "container.googleapis.com/Cluster", f"locations/us-central1-a/clusters/{STACK}",
               labels, "us-central1-a")
    assets.add(p, "compute.googleapis.com/Instance", "zones/us-central1-a/instances/gke-n-1",
               labels, "us-central1-a")
    assets.add(p, "compute.googleapis.com/Address", "regions/us-central1/addresses/ip",
               labels, "us-central1")
    assets.add(p, "compute.googleapis.com/Instance", "zones/us-central1-a/instances/other",
               {"stack": "other"}, "us-central1-a")
    found = gcp_inventory.GcpInventory(asset_client=assets.client).labelled(spec, STACK)
    assert found == [
        CloudResource("container.clusters", STACK, labels, "us-central1-a"),
        CloudResource("compute.instances", "gke-n-1", labels, "us-central1-a"),
        CloudResource("compute.addresses", "ip", labels, "us-central1"),
    ]


def test_a_found_disk_gets_its_delete_command(spec, offline):
    p = spec.cluster.project
    assets = FakeAssetInventory()
    assets.add(p, "compute.googleapis.com/Disk", "zones/us-central1-a/disks/pvc-1",
               {"stack": STACK}, "us-central1-a")
    [disk] = gcp_inventory.GcpInventory(asset_client=assets.client).labelled(spec, STACK)
    assert delete_disk_command(disk) == (
        "gcloud compute disks delete pvc-1 --zone us-central1-a --quiet")


def test_a_deleted_resource_is_no_longer_listed(spec, offline):
    p = spec.cluster.project
    assets = FakeAssetInventory()
    assets.add(p, "compute.googleapis.com/Disk", "zones/us-central1-a/disks/pvc-1",
               {"stack": STACK}, "us-central1-a")
    inventory = gcp_inventory.GcpInventory(asset_client=assets.client)
    assets.delete(p, "pvc-1")
    assert inventory.labelled(spec, STACK) == []


def test_expiring_stacks_search_the_harness_label(spec, offline):
    p = spec.cluster.project
    assets = FakeAssetInventory()
    for name, exp in (("a", "20270101t000000z"), ("b", "20261231t120000z")):
        assets.add(p, "compute.googleapis.com/Instance", f"zones/us-central1-a/instances/{name}",
                   {"stack": STACK, "managed-by": "study-harness", "expires-at": exp})
    assets.add(p, "compute.googleapis.com/Instance", "zones/us-central1-a/instances/c",
               {"stack": "theirs", "managed-by": "someone-else", "expires-at": "20200101t000000z"})
    got = gcp_inventory.GcpInventory(asset_client=assets.client).expiring_stacks(spec)
    assert got == {STACK: datetime(2026, 12, 31, 12, tzinfo=UTC)}
    assert [(r.scope, r.query) for r in assets.requests] == [
        (f"projects/{p}", "labels.managed-by:study-harness")]


def test_the_double_refuses_what_the_api_refuses():
    client = FakeAssetInventory().client()
    with pytest.raises(InvalidArgument, match="Invalid scope: folders/1/projects/x"):
        client.search_all_resources(request={"scope": "folders/1/projects/x",
                                             "query": "labels.stack:x"})
