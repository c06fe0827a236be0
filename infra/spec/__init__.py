"""The typed stack spec: everything a study stack declares, read from its `study:` config keys.

Flow: stack file (or Pulumi runtime config) -> `load_spec` -> `StackSpec`. Structural problems
(types, ranges, unknown keys) come from pydantic and are turned into one line each by
`infra.spec.errors`; rules that span sections (quota, budget, placement) live in `infra.validate`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from core.errors import SpecError
from experiments.spec import ExperimentSpec
from infra.spec.common import K8S_LABEL_VALUE, LABEL_VALUE, Budget, PriceOverride, Quota, Strict
from infra.spec.eks import EksClusterSpec
from infra.spec.gke import GkeClusterSpec
from infra.spec.guard import GuardSpec
from infra.spec.results import ResultsSpec

NAMESPACE = "study"

ClusterSpec = Annotated[GkeClusterSpec | EksClusterSpec, Field(discriminator="cloud")]

# A cluster's lifetime: long enough for a study, short enough that a forgotten one is destroyed
# within a month (the same bound as an absolute expiry; infra.validate).
MAX_LIFETIME = timedelta(days=30)
MIN_TTL = timedelta(minutes=10)
# ASCII digits: \d would also take other scripts' digits ('１２h').
TTL = re.compile(r"([0-9]{1,6})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def _ttl(value: object) -> timedelta:
    if not isinstance(value, str) or not TTL.fullmatch(value):
        msg = "must be a whole number of minutes, hours or days, e.g. '90m', '12h', '3d'"
        raise ValueError(msg)
    m = TTL.fullmatch(value)
    assert m is not None
    ttl = timedelta(**{_UNITS[m[2]]: int(m[1])})
    if not MIN_TTL <= ttl <= MAX_LIFETIME:
        msg = f"must be between {ttl_text(MIN_TTL)} and {ttl_text(MAX_LIFETIME)}"
        raise ValueError(msg)
    return ttl


def ttl_text(d: timedelta) -> str:
    """A lifetime as a stack file writes it: 12h, 3d, 90m."""
    minutes = int(d.total_seconds() // 60)
    if minutes % 1440 == 0 and minutes >= 3 * 1440:  # 24h stays 24h, as stack files write it
        return f"{minutes // 1440}d"
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


Ttl = Annotated[timedelta, BeforeValidator(_ttl)]

OperatorName = Literal["flux-operator", "metrics-operator", "jobset", "event-recorder"]


class StackSpec(Strict):
    """One study stack. Field names are the config keys: `study:<field>` in the stack file."""

    # A label value on both clouds and in Kubernetes, which wants a letter or digit at the end.
    study: str = Field(pattern=r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$",
                       description="study name (a label)")
    description: str = ""
    owner: str = Field(min_length=1)
    # How long the cluster may live, from its creation ("12h", "3d"): stamped once, when the
    # cluster is created, as its `expires-at` label (infra.expiry). Or, for a one-off stack, an
    # absolute `expires_at` (ISO 8601 text in the stack file). Exactly one of the two.
    ttl: Ttl | None = None
    expires_at: AwareDatetime | None = Field(default=None, strict=False)
    cluster: ClusterSpec
    operators: list[OperatorName] = Field(default_factory=list)
    experiment: ExperimentSpec | None = None
    budget: Budget
    quota: Quota = Field(default_factory=Quota)
    prices: PriceOverride = Field(default_factory=PriceOverride)
    guard: GuardSpec = Field(default_factory=GuardSpec)

    @model_validator(mode="after")
    def _one_expiry(self) -> StackSpec:
        # Whole lines that name their keys: a model-level error has no field to be reported under.
        if self.ttl is None and self.expires_at is None:
            msg = ("study:ttl: required key is missing; a lifetime from the cluster's creation, "
                   "e.g. '12h' (or study:expires_at, an ISO 8601 date-time, for a one-off stack)")
            raise ValueError(msg)
        if self.ttl is not None and self.expires_at is not None:
            msg = "study:expires_at: not allowed together with study:ttl; keep one"
            raise ValueError(msg)
        return self

    def expiry(self, now: datetime) -> datetime:
        """When the cluster expires if it is created at `now` (the absolute expiry as is)."""
        if self.expires_at is not None:
            return self.expires_at
        assert self.ttl is not None  # the model validator requires one of the two
        return now + self.ttl
    results: ResultsSpec = Field(default_factory=ResultsSpec)

    @field_validator("owner")
    @classmethod
    def _owner_is_label(cls, v: str) -> str:
        if not LABEL_VALUE.fullmatch(v):
            msg = "must be lowercase letters, digits, '_' or '-', at most 63 characters"
            raise ValueError(msg)
        if not K8S_LABEL_VALUE.fullmatch(v):  # also a label on the study's Kubernetes objects
            msg = ("must start and end with a letter or digit: it is also a Kubernetes label "
                   "on the nodes and the study's objects")
            raise ValueError(msg)
        return v


def config_to_sections(config: Mapping[str, Any]) -> dict[str, Any]:
    """Pick the `study:` keys out of a Pulumi config map; object values may arrive as JSON text."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        ns, _, field = key.partition(":")
        if ns != NAMESPACE or not field:
            continue
        if isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[field] = value
    return out


def stray_keys(config: Mapping[str, Any]) -> list[str]:
    """Keys meant for `study:` but outside it (`studdy:budget`, `budget`): the program never
    reads them, so a typo'd namespace would silently drop a section. Provider keys such as
    `gcp:project` are left alone."""
    import difflib

    out = []
    for key in config:
        ns, sep, field = str(key).partition(":")
        if ns == NAMESPACE:
            continue
        name = field if sep else ns
        near = bool(sep) and bool(difflib.get_close_matches(ns, [NAMESPACE], n=1, cutoff=0.7))
        if name in StackSpec.model_fields or near:
            out.append(f"{key}: not in the '{NAMESPACE}:' namespace, so never read; "
                       f"did you mean '{NAMESPACE}:{name}'?")
    return out


def load_spec(config: Mapping[str, Any]) -> StackSpec:
    """Validate a stack's config; SpecError lists every structural problem, one line each."""

    stray = stray_keys(config)
    sections = config_to_sections(config)
    try:
        spec = StackSpec.model_validate(sections)
    except ValidationError as exc:
        raise SpecError(_error_lines(exc, sections) + stray) from None
    if stray:
        raise SpecError(stray)
    return spec


def _error_lines(exc: ValidationError, sections: dict[str, Any]) -> list[str]:
    """One line per problem; the experiment's params are read against their kind's own model
    (its keys are what 'did you mean' offers), an unknown kind as the registry words it."""
    from experiments.spec import params_model
    from infra.spec.errors import format_error

    experiment = sections.get("experiment")
    kind = experiment.get("kind") if isinstance(experiment, dict) else None
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if loc[:2] == ("experiment", "params") and isinstance(kind, str):
            line = format_error({**err, "loc": loc[2:]}, params_model(kind),
                                prefix=("experiment", "params"))
        elif loc == ("experiment", "kind") and err["type"] == "value_error":
            line = f"study:experiment.kind: {err['ctx']['error']}"
        else:
            line = format_error(err, StackSpec)
        if line not in lines:
            lines.append(line)
    return lines
