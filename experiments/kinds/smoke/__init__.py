"""Smoke: one short step of every experiment kind, in one stack, before a team's first real study.

Why: the first real `pulumi up` is where everything the offline plan cannot see shows up (storage
that never binds, controller images that do not exist, an operator's Service shared by two
steps). A smoke stack runs each kind's smallest real step on a 2-node cluster with all four
operators, so those failures cost minutes and a few dollars instead of a study.

Each member is an ordinary kind with its own validated params (the defaults below are the
smallest steps that still exercise the kind's mechanism: a cache clear and a cold pull, one
MiniCluster distribution, one MiniCluster application run, one OSU pair benchmark). The smoke
kind concatenates the members' steps in a fixed order and hands each step back to its member to
render; its duration model is the members' own.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from experiments.base import ClusterFacts, RenderContext, Step, Workload
from experiments.registry import get_kind, register

MEMBERS = ("pulling", "topology", "apps", "osu")

# The smallest step of each kind that still does what the kind does on a real cluster.
DEFAULTS: dict[str, dict[str, Any]] = {
    # A 104 MB chonk (9 layers), pulled cold on both nodes once.
    "pulling": {"layers": [9], "sizes": [103513992]},
    # One binomial tree, one 1 GB archive, no baseline download.
    "topology": {"designs": ["binomial"], "sizes_gb": [1.0], "baseline": False},
    # The quickest application of the catalogue (9 s in the seed) on both nodes.
    "apps": {"apps": ["minife"], "node_counts": [2]},
    # One point-to-point latency run on a pair.
    "osu": {"benchmarks": ["osu_latency"], "node_counts": [2]},
}


class SmokeParams(BaseModel):
    """Per-member params; a member left out runs with DEFAULTS, `skip` leaves members out."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    pulling: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULTS["pulling"]))
    topology: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULTS["topology"]))
    apps: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULTS["apps"]))
    osu: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULTS["osu"]))
    skip: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _members(self):
        unknown = [m for m in self.skip if m not in MEMBERS]
        if unknown:
            msg = f"skip: {unknown} is not allowed; allowed: {', '.join(MEMBERS)}"
            raise ValueError(msg)
        for name in self.members():
            try:
                get_kind(name).Params.model_validate(getattr(self, name))
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                first = str(exc).splitlines()
                detail = "; ".join(line.strip() for line in first[1:3]) or first[0]
                msg = f"{name}: {detail}"
                raise ValueError(msg) from None
        return self

    def members(self) -> list[str]:
        return [m for m in MEMBERS if m not in self.skip]

    def member_params(self, name: str) -> BaseModel:
        return get_kind(name).Params.model_validate(getattr(self, name))


@register
class Smoke:
    name = "smoke"
    # Every layer: the smoke exists to show that all four operators come up and work.
    requires = ("flux-operator", "metrics-operator", "jobset", "event-recorder")
    Params = SmokeParams

    def _owners(self, params: SmokeParams, cluster: ClusterFacts) -> dict[str, str]:
        """Step name -> the member kind that made it."""
        return {
            s.name: name
            for name in params.members()
            for s in get_kind(name).steps(params.member_params(name), cluster)
        }

    def steps(self, params: SmokeParams, cluster: ClusterFacts) -> list[Step]:
        out: list[Step] = []
        for name in params.members():
            out += get_kind(name).steps(params.member_params(name), cluster)
        return out

    def member_of(self, step: Step, params: SmokeParams, cluster: ClusterFacts) -> str:
        """The kind that renders `step` (what the step recorder records as the step's kind)."""
        return self._owners(params, cluster)[step.name]

    def prepare(self, params: SmokeParams, ctx: RenderContext, opts) -> list:
        out: list = []
        for name in params.members():
            prepare = getattr(get_kind(name), "prepare", None)
            if prepare is not None:
                out += prepare(params.member_params(name), ctx, opts)
        return out

    def helper_images(self, params: SmokeParams, cluster: ClusterFacts) -> list[str]:
        out: list[str] = []
        for name in params.members():
            images = getattr(get_kind(name), "helper_images", None)
            for ref in images(params.member_params(name), cluster) if images else []:
                if ref not in out:
                    out.append(ref)
        return out

    def render(self, step: Step, params: SmokeParams, ctx: RenderContext, opts) -> Workload:
        name = self.member_of(step, params, ctx.cluster)
        return get_kind(name).render(step, params.member_params(name), ctx, opts)
