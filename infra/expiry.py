"""When a stack's cluster expires, as the `expires-at` label and the maintenance exclusion's end.

`study:ttl` is a lifetime from creation, so the stack files never carry a date that rots. The
time is stamped once, in the Pulumi state, by a pulumiverse-time `Offset` resource: the bridge of
hashicorp/terraform-provider-time's `time_offset` (internal/provider/resource_time_offset.go,
read at HEAD 2026-12). Its Create takes the base from `time.Now().UTC()` when `base_rfc3339` is
unset and stores base and result in state; Read does nothing; ModifyPlan recomputes the result
only when an offset changes, and then from the base kept in state. So a later `pulumi up`
never moves the expiry, and a changed `study:ttl` moves it relative to the first creation. A
destroy deletes the stamp with the cluster; the next `up` stamps anew.

An absolute `study:expires_at` (one-off stacks) is used as is, with no resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pulumi

from infra.spec.common import expiry_label

# The pulumiverse-time resource and its computed output (what the mock engine must fill in).
OFFSET_TYPE = "time:index/offset:Offset"


@dataclass(frozen=True)
class ExpiryStamp:
    label: pulumi.Input[str]  # the `expires-at` label value (infra.spec.common.expiry_label)
    rfc3339: pulumi.Input[str]  # e.g. 2027-01-01T12:00:00Z, for APIs that take a time


def zulu(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def expiry_stamp(spec, stack: str) -> ExpiryStamp:
    """The stack's expiry, as a resource stamped at creation (ttl) or the declared date."""
    if spec.expires_at is not None:
        return ExpiryStamp(expiry_label(spec.expires_at), zulu(spec.expires_at))
    from pulumiverse_time import Offset

    offset = Offset(
        f"{stack}-expiry",
        # One offset field only: the provider applies the last non-zero one to the base.
        offset_minutes=int(spec.ttl.total_seconds() // 60),
    )
    rfc3339 = offset.rfc3339
    return ExpiryStamp(rfc3339.apply(lambda t: expiry_label(parse_rfc3339(t))), rfc3339)
