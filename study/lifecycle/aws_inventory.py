"""`CloudInventory` for AWS: the vCPU service quota of the instance family, and tagged leftovers.

Quota: Service Quotas for EC2, by code for the standard family (`L-1216C47A`, Running On-Demand
Standard (A, C, D, H, I, M, R, T, Z) instances) and otherwise by the quota's name from
`infra.aws_instances.QUOTA_NAMES`; usage is the vCPUs of pending/running instances of that
family. Leftovers: the Resource Groups Tagging API with the tag `stack=<stack>` (it lags after
deletes, which the destroy verification tolerates), plus EC2 `DescribeVolumes` with the filter
`tag:stack`: an EBS volume the CSI driver provisioned (tagged through the harness's StorageClass,
`infra.storage`) outlives the cluster when destroy removes the driver before its PersistentVolume
is deleted, and `DescribeVolumes` is EC2's own, current view of it. boto3 is imported lazily
(extra `cloud`); without credentials the quota falls back to the stack's declared figures, with a
message.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from study.lifecycle.interfaces import (
    CloudResource,
    PermanentError,
    QuotaReading,
    earliest_expiries,
)

STANDARD_VCPU_QUOTA = "L-1216C47A"
STANDARD_LETTERS = set("acdhimrtz")


def family_of(instance_type: str) -> str:
    """'standard' or 'hpc' the way EC2 quotas group instance types."""
    return "hpc" if instance_type.startswith("hpc") else "standard"


def counts_against(instance_type: str, family: str) -> bool:
    if family == "hpc":
        return instance_type.startswith("hpc")
    return instance_type[:1] in STANDARD_LETTERS and not instance_type.startswith("hpc")


AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def credentials_configured() -> bool:
    """Credentials without a network probe (boto3 would otherwise ask the EC2 metadata service)."""
    if any(os.environ.get(k) for k in AWS_ENV):
        return True
    home = Path.home() / ".aws"
    if (home / "credentials").is_file() or (home / "config").is_file():
        return True
    try:
        return "Amazon EC2" in Path("/sys/class/dmi/id/sys_vendor").read_text() or Path(
            "/sys/class/dmi/id/board_asset_tag").read_text().startswith("i-")
    except OSError:
        return False


class AwsInventory:
    def _session(self, region: str):
        if not credentials_configured():
            return None, "no AWS credentials (environment, ~/.aws or EC2 instance role)"
        try:
            import boto3
        except ImportError:
            return None, "boto3 is not installed (pip install 'study-harness[cloud]')"
        session = boto3.session.Session(region_name=region)
        if session.get_credentials() is None:
            return None, "no AWS credentials"
        return session, None

    def quota(self, spec) -> QuotaReading:
        from infra.aws_instances import QUOTA_NAMES, instance_shape
        from study.lifecycle.preflight import declared_quota

        c = spec.cluster
        session, problem = self._session(c.region)
        if session is None:
            return declared_quota(spec, f"{problem}; using the stack's declared quota")
        family = instance_shape(c.machine_type).quota_family
        sq = session.client("service-quotas")
        limit: float | None = None
        if family == "standard":
            limit = float(sq.get_service_quota(ServiceCode="ec2", QuotaCode=STANDARD_VCPU_QUOTA)
                          ["Quota"]["Value"])
        else:
            for page in sq.get_paginator("list_service_quotas").paginate(ServiceCode="ec2"):
                for q in page["Quotas"]:
                    if q["QuotaName"] == QUOTA_NAMES[family]:
                        limit = float(q["Value"])
        if limit is None:
            return declared_quota(spec, f"no EC2 service quota named '{QUOTA_NAMES[family]}' "
                                        f"in {c.region}; using the stack's declared quota")
        used = 0.0
        ec2 = session.client("ec2")
        flt = [{"Name": "instance-state-name", "Values": ["pending", "running"]}]
        for page in ec2.get_paginator("describe_instances").paginate(Filters=flt):
            for res in page["Reservations"]:
                for inst in res["Instances"]:
                    if counts_against(inst["InstanceType"], family):
                        cpu = inst.get("CpuOptions", {})
                        used += cpu.get("CoreCount", 0) * cpu.get("ThreadsPerCore", 1)
        return QuotaReading("live", {"cpus": limit}, {"cpus": used},
                            f"{c.region} {QUOTA_NAMES[family]}")

    def labelled(self, spec, stack: str) -> list[CloudResource]:
        region = spec.cluster.region
        found = self._tagged(region, [{"Key": "stack", "Values": [stack]}])
        listed = {r.name.rsplit("/", 1)[-1] for r in found if r.kind == "ec2:volume"}
        return found + [v for v in self._volumes(region, stack) if v.name not in listed]

    def expiring_stacks(self, spec_hint=None) -> dict[str, datetime]:
        if spec_hint is None:
            return {}
        try:
            found = self._tagged(spec_hint.cluster.region,
                                 [{"Key": "managed-by", "Values": ["study-harness"]}])
        except PermanentError:
            return {}
        return earliest_expiries(found)

    def _volumes(self, region: str, stack: str) -> list[CloudResource]:
        """EBS volumes tagged `stack=<stack>`, by volume id, in their availability zone."""
        session, problem = self._session(region)
        if session is None:
            msg = f"cannot list EBS volumes tagged stack={stack} in {region}: {problem}"
            raise PermanentError(msg)
        flt = [{"Name": "tag:stack", "Values": [stack]}]
        out = []
        for page in session.client("ec2").get_paginator("describe_volumes").paginate(Filters=flt):
            for vol in page["Volumes"]:
                if vol.get("State") == "deleted":  # still listed for a while, but gone
                    continue
                tags = {t["Key"]: t["Value"] for t in vol.get("Tags", [])}
                out.append(CloudResource("ec2:volume", vol["VolumeId"], tags,
                                         vol.get("AvailabilityZone", region)))
        return out

    def _tagged(self, region: str, tag_filters: list[dict]) -> list[CloudResource]:
        session, problem = self._session(region)
        if session is None:
            msg = f"cannot list AWS resources by tag in {region}: {problem}"
            raise PermanentError(msg)
        client = session.client("resourcegroupstaggingapi")
        out = []
        for page in client.get_paginator("get_resources").paginate(TagFilters=tag_filters):
            for item in page["ResourceTagMappingList"]:
                arn = item["ResourceARN"]
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                parts = arn.split(":", 5)
                kind = f"{parts[2]}:{parts[5].split('/')[0]}" if len(parts) == 6 else "aws"
                out.append(CloudResource(kind, arn, tags, region))
        return out
