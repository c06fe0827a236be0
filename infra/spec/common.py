"""Spec pieces shared by every cloud: budget, declared quota, ownership and expiry, labels.

Field names are the stack-config keys (snake_case). Every model forbids unknown keys so a typo in a
stack file is an error, never a silently ignored setting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

# GCP label values (the stricter of the two clouds): lowercase letters, digits, '_' and '-'.
LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")
LABEL_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class Strict(BaseModel):
    """Base for every spec model: unknown keys are errors, values are immutable once loaded.

    Strict types: `node_count: true` or `usd: "5"` are errors rather than 1 node and 5 USD, and
    `.inf` or `.nan` are refused everywhere (an infinite cap is no cap).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# Beyond these a cap stops capping: no study here needs more than a few thousand dollars or more
# than a month of wall clock, and a typo'd extra digit must not pass.
MAX_BUDGET_USD = 100_000
MAX_HOURS = 720
MAX_QUOTA = 10_000_000
MAX_PRICE_USD_PER_HOUR = 1_000


class Budget(Strict):
    usd: float = Field(gt=0, le=MAX_BUDGET_USD,
                       description="Hard spending cap for one run, in US dollars.")
    max_hours: float = Field(gt=0, le=MAX_HOURS,
                             description="Wall-clock cap for one run, cluster up to down.")


class Quota(Strict):
    """Quota the owner has (or has requested) in the stack's region; checked before any cloud call.

    Read live when credentials are present (study run); this declared figure is the offline bound.
    """

    cpus: int | None = Field(default=None, ge=0, le=MAX_QUOTA,
                             description="vCPUs of the machine family")
    local_ssd_gb: int | None = Field(default=None, ge=0, le=MAX_QUOTA)
    in_use_addresses: int | None = Field(default=None, ge=0, le=MAX_QUOTA,
                                         description="one per node")
    instances: int | None = Field(default=None, ge=0, le=MAX_QUOTA)


class PriceOverride(Strict):
    """Per-stack price corrections (negotiated rates, another region); USD per hour."""

    # Positive and bounded: a zero or tiny price makes every budget pass.
    machine_usd_per_hour: float | None = Field(default=None, gt=0, le=MAX_PRICE_USD_PER_HOUR)
    # Zero is real: GKE's free tier covers one zonal control plane per billing account.
    control_plane_usd_per_hour: float | None = Field(default=None, ge=0,
                                                     le=MAX_PRICE_USD_PER_HOUR)
    local_ssd_usd_per_hour: float | None = Field(default=None, gt=0, le=MAX_PRICE_USD_PER_HOUR)


def expiry_label(when: datetime) -> str:
    """An expiry as a label value both clouds accept and the janitor parses back."""
    return when.astimezone(UTC).strftime("%Y%m%dt%H%M%Sz")


def parse_expiry_label(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dt%H%M%Sz").replace(tzinfo=UTC)
