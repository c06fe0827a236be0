"""EKS rules the AWS APIs would only reject after minutes (or accept and mis-place), offline.

EFA needs an EFA-capable type, a cluster placement group and one AZ; a spread group holds at most
7 running instances per AZ; io1 needs provisioned IOPS. The 256-node seed run had to drop its
cluster placement group, so that size gets a warning rather than a surprise at `up` time.
"""

from __future__ import annotations

from datetime import datetime

from infra.aws_instances import efa_instance_types, instance_shape
from infra.spec.eks import eks_versions
from infra.validate import Problem, expiry_key, input_error, quota_problems, warning

K = "study:cluster"
SPREAD_PER_AZ = 7  # EC2 limit: running instances per AZ in one spread placement group
LARGE_CLUSTER_GROUP = 256  # the seed EKS topology study could not get 256 nodes into one
GP3_IOPS = (3000, 16000)
IO1_IOPS_PER_GB = 50


def eks_problems(spec, now: datetime) -> list[Problem]:
    c = spec.cluster
    out: list[Problem] = []
    out += _zone_problems(c)
    out += _placement_problems(c)
    out += _disk_problems(c)
    out += _version_problems(spec, now)
    shape = instance_shape(c.machine_type)
    needs = {"cpus": c.node_count * shape.vcpus, "instances": c.node_count}
    out += quota_problems(
        needs, spec.quota, f"vCPUs for {c.node_count} x {c.machine_type} ({shape.quota_name})"
    )
    for gcp_only in ("local_ssd_gb", "in_use_addresses"):
        if getattr(spec.quota, gcp_only) is not None:
            out.append(
                warning(
                    f"study:quota.{gcp_only}", "is a GCP quota; EKS stacks ignore it, remove it"
                )
            )
    return out


def _in_region(zone: str, region: str) -> bool:
    return zone.startswith(region) and len(zone) == len(region) + 1


def _zone_problems(c) -> list[Problem]:
    out: list[Problem] = []
    for i, z in enumerate(c.zones):
        if not _in_region(z, c.region):
            out.append(input_error(f"{K}.zones[{i}]", f"'{z}' is not in region '{c.region}'"))
    if c.zone is not None:
        if not _in_region(c.zone, c.region):
            out.append(input_error(f"{K}.zone", f"'{c.zone}' is not in region '{c.region}'"))
        elif c.zone not in c.zones:
            out.append(
                input_error(
                    f"{K}.zone",
                    f"'{c.zone}' is not one of zones {c.zones}; the node group's subnet must be "
                    "one of the cluster's zones",
                )
            )
    return out


def _placement_problems(c) -> list[Problem]:
    out: list[Problem] = []
    pg = c.placement_group
    shape = instance_shape(c.machine_type)
    if c.efa and not shape.efa:
        out.append(
            input_error(
                f"{K}.efa",
                f"true is not allowed for {c.machine_type} (no EFA support); EFA instance types: "
                f"{', '.join(efa_instance_types())}",
            )
        )
    if c.efa and (pg is None or pg.strategy != "cluster"):
        got = "null" if pg is None else f"strategy '{pg.strategy}'"
        out.append(
            input_error(
                f"{K}.placement_group",
                f"{got} is not allowed with efa: true; EFA needs {{strategy: cluster}}",
            )
        )
    if (c.efa or pg is not None) and c.zone is None:
        why = "efa: true" if c.efa else "a placement group"
        out.append(
            input_error(f"{K}.zone",
                        f"required with {why}: the node group must be in one AZ of zones")
        )
    if pg is None:
        return out
    if pg.partition_count is not None and pg.strategy != "partition":
        out.append(
            input_error(
                f"{K}.placement_group.partition_count",
                f"{pg.partition_count} is not allowed with strategy '{pg.strategy}'; only with "
                "strategy 'partition'",
            )
        )
    per_az = c.node_count / len(c.node_zones)
    if pg.strategy == "spread" and per_az > SPREAD_PER_AZ:
        out.append(
            input_error(
                f"{K}.placement_group.strategy",
                f"'spread' holds at most {SPREAD_PER_AZ} instances per AZ, not {c.node_count} "
                f"in {len(c.node_zones)} AZ(s); use 'cluster' or 'partition'",
            )
        )
    if pg.strategy == "cluster" and c.node_count >= LARGE_CLUSTER_GROUP:
        out.append(
            warning(
                f"{K}.placement_group",
                f"a cluster placement group for {c.node_count} nodes may not get capacity (the "
                f"seed 256-node EKS study had to drop it); consider null or 'partition'",
            )
        )
    return out


def _disk_problems(c) -> list[Problem]:
    out: list[Problem] = []
    iops = c.boot_disk_iops
    key = f"{K}.boot_disk_iops"
    if c.boot_disk_type == "io1" and iops is None:
        out.append(input_error(key, "required with boot_disk_type 'io1' (provisioned IOPS volume)"))
    elif c.boot_disk_type == "gp2" and iops is not None:
        out.append(
            input_error(key,
                        f"{iops} is not allowed with boot_disk_type 'gp2'; only with gp3 or io1")
        )
    elif c.boot_disk_type == "gp3" and iops is not None and not GP3_IOPS[0] <= iops <= GP3_IOPS[1]:
        out.append(
            input_error(key, f"{iops} is not allowed for gp3; allowed: {GP3_IOPS[0]}-{GP3_IOPS[1]}")
        )
    elif c.boot_disk_type == "io1" and iops > IO1_IOPS_PER_GB * c.boot_disk_size_gb:
        out.append(
            input_error(
                key,
                f"{iops} is not allowed for a {c.boot_disk_size_gb} GB io1 volume; at most "
                f"{IO1_IOPS_PER_GB} IOPS per GB ({IO1_IOPS_PER_GB * c.boot_disk_size_gb})",
            )
        )
    return out


def _version_problems(spec, now: datetime) -> list[Problem]:
    """EKS refuses new clusters at a version past its extended support, and upgrades old ones.

    Past the calendar's last date (infra/data/eks_versions.yaml is dated) the calendar is out of
    date rather than the stack, which the warning names."""
    v = spec.cluster.kubernetes_version
    calendar = eks_versions()
    extended_end = calendar[v]["extended_end"]
    expiry = spec.expiry(now).date()
    if extended_end >= expiry:
        return []
    still = [k for k, d in calendar.items() if d["extended_end"] >= expiry]
    if not still:
        last = max(d["extended_end"] for d in calendar.values())
        return [warning(
            f"{K}.kubernetes_version",
            f"no EKS version in infra/data/eks_versions.yaml is supported until {expiry} (its "
            f"last date is {last}); the calendar is out of date: add the versions EKS offers now",
        )]
    key, shown = expiry_key(spec)
    until = f"{key} {expiry}" if spec.expires_at is not None else f"{key} {shown} ends on {expiry}"
    return [
        warning(
            f"{K}.kubernetes_version",
            f"'{v}' leaves EKS extended support on {extended_end}, before {until}; after that "
            f"EKS creates no {v} clusters and auto-upgrades existing ones; versions supported "
            f"until the expiry: {', '.join(still)}",
        )
    ]
