"""The typed stack spec: everything a study stack declares, read from its `study:` config keys.

Flow: stack file (or Pulumi runtime config) -> `load_spec` -> `StackSpec`. Structural problems
(types, ranges, unknown keys) come from pydantic and are turned into one line each by
`infra.spec.errors`; rules that span sections (quota, budget, placement) live in `infra.validate`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field, ValidationError, field_validator

from experiments.spec import ExperimentSpec
from harness.errors import SpecError
from infra.spec.common import LABEL_VALUE, Budget, PriceOverride, Quota, Strict
from infra.spec.eks import EksClusterSpec
from infra.spec.gke import GkeClusterSpec
from infra.spec.results import ResultsSpec

NAMESPACE = "study"

ClusterSpec = Annotated[GkeClusterSpec | EksClusterSpec, Field(discriminator="cloud")]

OperatorName = Literal["flux-operator", "metrics-operator", "jobset", "event-recorder"]


class StackSpec(Strict):
    """One study stack. Field names are the config keys: `study:<field>` in the stack file."""

    study: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$", description="study name (a label)")
    description: str = ""
    owner: str = Field(min_length=1)
    expires_at: AwareDatetime
    cluster: ClusterSpec
    operators: list[OperatorName] = Field(default_factory=list)
    experiment: ExperimentSpec | None = None
    budget: Budget
    quota: Quota = Field(default_factory=Quota)
    prices: PriceOverride = Field(default_factory=PriceOverride)
    results: ResultsSpec = Field(default_factory=ResultsSpec)

    @field_validator("owner")
    @classmethod
    def _owner_is_label(cls, v: str) -> str:
        if not LABEL_VALUE.match(v):
            msg = "must be lowercase letters, digits, '_' or '-', at most 63 characters"
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
    from infra.spec.errors import format_validation_error

    stray = stray_keys(config)
    try:
        spec = StackSpec.model_validate(config_to_sections(config))
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, StackSpec) + stray) from None
    if stray:
        raise SpecError(stray)
    return spec
