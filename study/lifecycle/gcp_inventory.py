"""`CloudInventory` for GCP: live regional quota and everything labelled with the stack.

Quota: `RegionsClient.get(project, region).quotas` - the machine family's own metric
(`N2_CPUS`, `C2D_CPUS`, ...) when the region lists one, else `CPUS` (N1 and friends);
`LOCAL_SSD_TOTAL_GB`, `IN_USE_ADDRESSES`, `INSTANCES`.

Leftovers: every resource of the project that carries `stack=<stack>`, in one Cloud Asset
search by label (`AssetServiceClient.search_all_resources`, query `labels.stack:<stack>`), the
twin of the Resource Groups Tagging API the AWS side uses: instances, disks (including any the
PD CSI driver provisioned through the harness's StorageClass, which labels them with the study
labels, `infra.storage`, and outlive a cluster deleted before them), addresses, GKE clusters
(their resource labels) and whatever else the stack labelled. `:` matches label values by
token, so the results are kept only where the label equals the stack exactly. The VPC network
and subnetwork are looked up by name (`<stack>-net`, `<stack>-subnet`: networks cannot carry
labels). SDKs are imported lazily (optional extra `cloud`); without credentials quota falls
back to the stack's declared figures, with a message saying so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from study.lifecycle.interfaces import (
    CloudResource,
    PermanentError,
    QuotaReading,
    earliest_expiries,
)

METRICS = {"local_ssd_gb": "LOCAL_SSD_TOTAL_GB", "in_use_addresses": "IN_USE_ADDRESSES",
           "instances": "INSTANCES"}
MANAGED = ("managed-by", "study-harness")
# Cloud Asset types -> the kinds the leftover report (and `delete_disk_command`) name.
KINDS = {
    "compute.googleapis.com/Instance": "compute.instances",
    "compute.googleapis.com/Disk": "compute.disks",
    "compute.googleapis.com/Address": "compute.addresses",
    "container.googleapis.com/Cluster": "container.clusters",
}


def _adc_configured() -> bool:
    """ADC without a network probe: a key/WIF file, a gcloud ADC login, or a GCE machine.

    `google.auth.default()` would otherwise ping the metadata server on any machine.
    """
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    gcloud = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    if (gcloud / "application_default_credentials.json").is_file():
        return True
    try:
        return "Google" in Path("/sys/class/dmi/id/product_name").read_text()
    except OSError:
        return False


def credentials_problem() -> str | None:
    """None when Application Default Credentials resolve, else why not (one line)."""
    if not _adc_configured():
        return ("no GCP credentials (no GOOGLE_APPLICATION_CREDENTIALS, no `gcloud auth "
                "application-default login`, not on GCE)")
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError:
        return "google-cloud-compute is not installed (pip install 'study-harness[cloud]')"
    try:
        google.auth.default()
    except DefaultCredentialsError as exc:
        return f"no GCP credentials ({str(exc).splitlines()[0][:120]})"
    return None


def cpu_metric(family: str, metrics: set[str]) -> str:
    specific = f"{family.upper()}_CPUS"
    return specific if specific in metrics else "CPUS"


class GcpInventory:
    def __init__(self, asset_client: Callable[[], Any] | None = None):
        """`asset_client`: makes the Cloud Asset client (default: `asset_v1.AssetServiceClient`;
        tests pass a double behind the same `search_all_resources`)."""
        self._asset_client = asset_client

    def quota(self, spec) -> QuotaReading:
        from study.lifecycle.preflight import declared_quota

        problem = credentials_problem()
        if problem:
            return declared_quota(spec, f"{problem}; using the stack's declared quota")
        from google.cloud import compute_v1

        from infra.machines import gce_shape

        c = spec.cluster
        region = compute_v1.RegionsClient().get(project=c.project, region=c.region)
        by_metric = {q.metric: q for q in region.quotas}
        keys = dict(METRICS)
        keys["cpus"] = cpu_metric(gce_shape(c.machine_type).family, set(by_metric))
        limits: dict[str, float] = {}
        usage: dict[str, float] = {}
        for key, metric in keys.items():
            q = by_metric.get(metric)
            if q is not None:
                limits[key], usage[key] = float(q.limit), float(q.usage)
        return QuotaReading("live", limits, usage, f"{c.project}/{c.region} ({keys['cpus']})")

    def labelled(self, spec, stack: str) -> list[CloudResource]:
        if credentials_problem():
            msg = f"cannot list GCP resources labelled stack={stack}: {credentials_problem()}"
            raise PermanentError(msg)
        c = spec.cluster
        found = self._labelled_with(c.project, "stack", stack)
        found += self._named_network(c.project, c.region, stack)
        return found

    def expiring_stacks(self, spec_hint=None) -> dict[str, datetime]:
        if spec_hint is None or credentials_problem():
            return {}
        return earliest_expiries(self._labelled_with(spec_hint.cluster.project, *MANAGED))

    # -- listings -------------------------------------------------------------------------------
    def _labelled_with(self, project: str, key: str, value: str) -> list[CloudResource]:
        """Every resource of `project` whose label `key` is exactly `value` (Cloud Asset)."""
        if self._asset_client is None:
            from google.cloud import asset_v1

            client = asset_v1.AssetServiceClient()
        else:
            client = self._asset_client()
        request = {"scope": f"projects/{project}", "query": f"labels.{key}:{value}"}
        out: list[CloudResource] = []
        for result in client.search_all_resources(request=request):
            labels = dict(result.labels)
            if labels.get(key) != value:  # `:` matched a token of a longer value
                continue
            kind = KINDS.get(result.asset_type, result.asset_type)
            name = result.display_name or result.name.rsplit("/", 1)[-1]
            out.append(CloudResource(kind, name, labels, result.location))
        return out

    @staticmethod
    def _named_network(project: str, region: str, stack: str) -> list[CloudResource]:
        from google.api_core.exceptions import NotFound
        from google.cloud import compute_v1

        out = []
        try:
            compute_v1.NetworksClient().get(project=project, network=f"{stack}-net")
            out.append(CloudResource("compute.networks", f"{stack}-net", {"stack": stack}))
        except NotFound:
            pass
        try:
            compute_v1.SubnetworksClient().get(project=project, region=region,
                                               subnetwork=f"{stack}-subnet")
            out.append(CloudResource("compute.subnetworks", f"{stack}-subnet",
                                     {"stack": stack}, region))
        except NotFound:
            pass
        return out
