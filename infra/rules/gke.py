"""GKE rules the provider would only reject after minutes (or silently ignore), caught offline."""

from __future__ import annotations

from datetime import datetime

from infra.machines import LOCAL_SSD_GB, compact_placement_families, gce_shape
from infra.spec.gke import gke_versions
from infra.validate import Problem, expiry_key, input_error, quota_problems, warning

K = "study:cluster"


def gke_problems(spec, now: datetime) -> list[Problem]:
    c = spec.cluster
    shape = gce_shape(c.machine_type)
    out: list[Problem] = []
    if not c.zone.startswith(c.region + "-"):
        out.append(input_error(f"{K}.zone", f"'{c.zone}' is not in region '{c.region}'"))
    if c.compact_placement and not shape.compact_placement:
        out.append(
            input_error(
                f"{K}.compact_placement",
                f"true is not allowed for machine family '{shape.family}' ({c.machine_type}); "
                f"compact placement needs one of: {', '.join(compact_placement_families())}",
            )
        )
    cos = c.image_type == "COS_CONTAINERD"
    if c.image_streaming and not cos:
        out.append(
            input_error(
                f"{K}.image_streaming",
                f"true needs image_type 'COS_CONTAINERD', not '{c.image_type}'",
            )
        )
    if c.gvnic and not cos:
        out.append(
            input_error(f"{K}.gvnic",
                        f"true needs image_type 'COS_CONTAINERD', not '{c.image_type}'")
        )
    if c.image_streaming and not c.artifact_registry:
        out.append(
            warning(
                f"{K}.image_registry",
                f"'{c.image_registry}' is not Artifact Registry (<region>-docker.pkg.dev); image "
                "streaming only accelerates Artifact Registry images",
            )
        )
    if c.local_ssd_count:
        allowed = shape.local_ssd_counts
        if c.local_ssd_count not in allowed:
            allowed_text = ", ".join(map(str, allowed)) if allowed else "none (0 only)"
            out.append(
                input_error(
                    f"{K}.local_ssd_count",
                    f"{c.local_ssd_count} is not allowed for {c.machine_type}; allowed: "
                    f"{allowed_text}",
                )
            )
    if c.threads_per_core is not None and shape.family == "e2":
        out.append(input_error(f"{K}.threads_per_core",
                               "is not supported on e2 machines; remove it"))
    out += _lifetime_problems(spec, now)
    from core.stacks import PLACEHOLDER_PROJECT, placeholder_message

    if c.project == PLACEHOLDER_PROJECT:  # fine for a plan; `study run` refuses it
        out.append(warning(f"{K}.project", f"{placeholder_message()}; study run refuses it"))
    needs = {
        "cpus": c.node_count * shape.vcpus,
        "in_use_addresses": c.node_count,
        "instances": c.node_count,
    }
    if c.local_ssd_count:
        needs["local_ssd_gb"] = c.node_count * c.local_ssd_count * LOCAL_SSD_GB
    out += quota_problems(needs, spec.quota, f"for {c.node_count} x {c.machine_type}")
    return out


def _lifetime_problems(spec, now: datetime) -> list[Problem]:
    """GKE creates clusters only at the minors it offers; the maintenance exclusion that keeps
    nodes fixed ends at the expiry, and GKE refuses an exclusion of that scope ending after the
    minor's end of support (and upgrades the cluster then whatever the exclusions say).

    The calendar (infra/data/gke_versions.yaml) is dated: when no minor it knows is supported on
    the date asked about, the calendar is what is out of date, not the stack, so that is a
    warning naming the file (the shipped stacks plan whatever today's date is)."""
    c = spec.cluster
    calendar = gke_versions()
    today, expiry = now.date(), spec.expiry(now).date()
    key, shown = expiry_key(spec)
    regular = calendar[c.minor]["regular"]
    if today < regular:
        return [input_error(
            f"{K}.kubernetes_version",
            f"'{c.kubernetes_version}' is not offered for new clusters until {regular}; use one "
            f"of {', '.join(m for m, d in calendar.items() if d['regular'] <= today) or 'none'}",
        )]
    if expiry <= c.support_end:
        return []
    covering = [m for m, d in calendar.items()
                if d["regular"] <= today and _end(d, c.release_channel) >= expiry]
    extended_end = calendar[c.minor]["extended_end"]
    if not covering and not (c.release_channel != "EXTENDED" and extended_end >= expiry):
        last = max(_end(d, "EXTENDED") for d in calendar.values())
        return [warning(
            f"{K}.kubernetes_version",
            f"no GKE minor in infra/data/gke_versions.yaml is supported until {expiry} (its "
            f"last date is {last}); the calendar is out of date: add the minors GKE offers now",
        )]
    absolute = spec.expires_at is not None
    fixes = ["an earlier expiry" if absolute else "a shorter lifetime"]
    if c.release_channel != "EXTENDED" and extended_end >= expiry:
        fixes.append(f"release_channel EXTENDED (supports {c.minor} until {extended_end})")
    if covering:
        fixes.append(f"kubernetes_version {' or '.join(repr(m) for m in covering)}")
    when = f"'{expiry}' is" if absolute else f"{shown} ends on {expiry},"
    return [
        input_error(
            key,
            f"{when} after GKE's end of support for {c.minor} on the {c.release_channel} "
            f"channel ({c.support_end}), when the study's maintenance exclusion must end; use "
            + " or ".join(fixes),
        )
    ]


def _end(dates: dict, channel: str):
    return dates["extended_end" if channel == "EXTENDED" else "standard_end"]
