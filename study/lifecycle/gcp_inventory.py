"""`CloudInventory` for GCP: live regional quota and everything labelled with the stack.

Quota: `RegionsClient.get(project, region).quotas` - the machine family's own metric
(`N2_CPUS`, `C2D_CPUS`, ...) when the region lists one, else `CPUS` (N1 and friends);
`LOCAL_SSD_TOTAL_GB`, `IN_USE_ADDRESSES`, `INSTANCES`.

Leftovers: instances, disks and addresses by the label filter `labels.stack = <stack>` (disks
include any the PD CSI driver provisioned through the harness's StorageClass, which labels them
with the study labels, `infra.storage`, and outlive a cluster deleted before them), GKE
clusters by `resourceLabels.stack` through the GKE REST API (google-cloud-container is not a
dependency), and the VPC network and subnetwork by name (`<stack>-net`, `<stack>-subnet`:
networks cannot carry labels). SDKs are imported lazily (optional extra `cloud`); without
credentials quota falls back to the stack's declared figures, with a message saying so.
"""

from __future__ import annotations

import os
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
MANAGED = "labels.managed-by = study-harness"


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
        flt = f"labels.stack = {stack}"
        found = self._aggregated(c.project, flt)
        found += [r for r in self._clusters(c.project) if r.labels.get("stack") == stack]
        found += self._named_network(c.project, c.region, stack)
        return found

    def expiring_stacks(self, spec_hint=None) -> dict[str, datetime]:
        if spec_hint is None or credentials_problem():
            return {}
        project = spec_hint.cluster.project
        resources = self._aggregated(project, MANAGED) + self._clusters(project)
        # Clusters are listed unfiltered: keep only the harness's own.
        return earliest_expiries(
            r for r in resources if r.labels.get("managed-by") == "study-harness"
        )

    # -- listings -------------------------------------------------------------------------------
    @staticmethod
    def _aggregated(project: str, flt: str) -> list[CloudResource]:
        from google.cloud import compute_v1

        out: list[CloudResource] = []
        clients: list[tuple[str, Any, str]] = [
            ("compute.instances", compute_v1.InstancesClient(), "instances"),
            ("compute.disks", compute_v1.DisksClient(), "disks"),
            ("compute.addresses", compute_v1.AddressesClient(), "addresses"),
        ]
        for kind, client, attr in clients:
            req = {"project": project, "filter": flt}
            for scope, scoped in client.aggregated_list(request=req):
                for item in getattr(scoped, attr, []) or []:
                    out.append(CloudResource(kind, item.name, dict(item.labels),
                                             scope.rsplit("/", 1)[-1]))
        return out

    @staticmethod
    def _clusters(project: str) -> list[CloudResource]:
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        url = f"https://container.googleapis.com/v1/projects/{project}/locations/-/clusters"
        resp = AuthorizedSession(creds).get(url, timeout=60)
        resp.raise_for_status()
        return [
            CloudResource("container.clusters", cl["name"], cl.get("resourceLabels", {}),
                          cl.get("location", ""))
            for cl in resp.json().get("clusters", [])
        ]

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
