"""GKE rules the provider would only reject after minutes (or silently ignore), caught offline."""

from __future__ import annotations

from infra.machines import LOCAL_SSD_GB, compact_placement_families, gce_shape
from infra.spec.gke import gke_versions
from infra.validate import Problem, error, quota_problems, warning

K = "study:cluster"


def gke_problems(spec) -> list[Problem]:
    c = spec.cluster
    shape = gce_shape(c.machine_type)
    out: list[Problem] = []
    if not c.zone.startswith(c.region + "-"):
        out.append(error(f"{K}.zone", f"'{c.zone}' is not in region '{c.region}'"))
    if c.compact_placement and not shape.compact_placement:
        out.append(
            error(
                f"{K}.compact_placement",
                f"true is not allowed for machine family '{shape.family}' ({c.machine_type}); "
                f"compact placement needs one of: {', '.join(compact_placement_families())}",
            )
        )
    cos = c.image_type == "COS_CONTAINERD"
    if c.image_streaming and not cos:
        out.append(
            error(
                f"{K}.image_streaming",
                f"true needs image_type 'COS_CONTAINERD', not '{c.image_type}'",
            )
        )
    if c.gvnic and not cos:
        out.append(
            error(f"{K}.gvnic", f"true needs image_type 'COS_CONTAINERD', not '{c.image_type}'")
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
                error(
                    f"{K}.local_ssd_count",
                    f"{c.local_ssd_count} is not allowed for {c.machine_type}; allowed: "
                    f"{allowed_text}",
                )
            )
    if c.threads_per_core is not None and shape.family == "e2":
        out.append(error(f"{K}.threads_per_core", "is not supported on e2 machines; remove it"))
    out += _lifetime_problems(spec)
    needs = {
        "cpus": c.node_count * shape.vcpus,
        "in_use_addresses": c.node_count,
        "instances": c.node_count,
    }
    if c.local_ssd_count:
        needs["local_ssd_gb"] = c.node_count * c.local_ssd_count * LOCAL_SSD_GB
    out += quota_problems(needs, spec.quota, f"for {c.node_count} x {c.machine_type}")
    return out


def _lifetime_problems(spec) -> list[Problem]:
    """The maintenance exclusion that keeps nodes fixed ends at study:expires_at. GKE refuses an
    exclusion of that scope ending after the minor version's end of support (and upgrades the
    cluster at that date whatever the exclusions say), so the expiry must fall within support."""
    c = spec.cluster
    expiry = spec.expires_at.date()
    if expiry <= c.support_end:
        return []
    fixes = ["an earlier expiry"]
    extended_end = gke_versions()[c.minor]["extended_end"]
    if c.release_channel != "EXTENDED" and extended_end >= expiry:
        fixes.append(f"release_channel EXTENDED (supports {c.minor} until {extended_end})")
    return [
        error(
            "study:expires_at",
            f"'{expiry}' is after GKE's end of support for {c.minor} on the {c.release_channel} "
            f"channel ({c.support_end}), when the study's maintenance exclusion must end; use "
            + " or ".join(fixes),
        )
    ]
