"""`study:guard`: the in-cluster guard that stops the node spend when nobody else does.

On for every stack: a stack brought up with plain `pulumi up`, a `study run` whose process died
and a cluster nobody remembers all keep billing until someone acts; the guard is that someone.
`enabled: false` is refused with the reason (and the policy pack and the real-cloud rules refuse a
stack whose program lacks the guard), so a stack file that tries to turn it off learns why.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from infra.spec.common import Strict

_DURATION = re.compile(r"([0-9]+)(s|m|h)")  # fullmatch; ASCII digits (\d takes '１５')
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
# Kubernetes CronJob schedules are standard 5-field cron; the guard's own period is fixed below.
SCHEDULE = "*/5 * * * *"


def duration_seconds(text: str) -> int:
    """'15m' -> 900; ValueError naming the value and the allowed form."""
    m = _DURATION.fullmatch(text.strip())
    if not m:
        msg = f"'{text}' is not a duration; use a whole number with s, m or h (e.g. 15m)"
        raise ValueError(msg)
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


class GuardSpec(Strict):
    """Who stops the nodes when the run is over or out of budget."""

    enabled: bool = True
    # After the last step's results are in the bucket, how long the nodes may stay for someone to
    # look at the cluster before the guard scales them to zero.
    grace: str = Field(default="15m", description="e.g. 15m, 1h; 0s = at once")

    @field_validator("enabled")
    @classmethod
    def _always_on(cls, v: bool) -> bool:
        if not v:
            msg = ("every study cluster runs the guard, which stops its nodes at the deadline "
                   "when nobody else does (study:guard.grace changes when it acts after the run)")
            raise ValueError(msg)
        return v

    @field_validator("grace")
    @classmethod
    def _grace_is_duration(cls, v: str) -> str:
        # The error formatter already names the key and the value.
        if not _DURATION.fullmatch(v.strip()):
            msg = "not a duration; use a whole number with s, m or h (e.g. 15m)"
            raise ValueError(msg)
        if duration_seconds(v) > 24 * 3600:
            msg = "longer than 24h; the deadline bounds a run, the grace only its tail"
            raise ValueError(msg)
        return v

    @property
    def grace_seconds(self) -> int:
        return duration_seconds(self.grace)
