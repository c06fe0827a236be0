"""The campaign file: a base stack (or one per cloud), the node counts to sweep, the order and one
budget for the whole sweep; and its members, each the base stack's config with overrides.

Checked as strictly as a stack file: the same reader (UTF-8 text, no repeated keys, no alias
blow-up), unknown keys with a "did you mean", one line per problem naming the key, the value and
what is allowed, and every stack named must exist.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from core.errors import SpecError, StudyError
from infra.spec.common import MAX_BUDGET_USD, MAX_HOURS, Quota, Strict

CAMPAIGN_DIR = "campaigns"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_NODES = 1000  # GKE's limit per node pool and zone; EKS's own is checked by the stack's rules


class CampaignBudget(Strict):
    usd: float = Field(gt=0, le=MAX_BUDGET_USD, description="cap for the whole campaign")
    max_hours: float = Field(gt=0, le=MAX_HOURS, description="wall clock, first create to last "
                                                             "destroy")


class Sweep(Strict):
    node_count: list[int] = Field(min_length=1, max_length=32)
    # Several stacks (one per cloud, say) run the same node counts each on its own cluster.
    stacks: list[str] | None = Field(default=None, min_length=1, max_length=8)
    # An experiment parameter that lists node counts (osu: node_counts) becomes [the member's
    # count], so a kind that sweeps sizes inside one cluster runs one size per member.
    experiment_param: str | None = Field(default=None, min_length=1)

    @field_validator("node_count")
    @classmethod
    def _counts(cls, v: list[int]) -> list[int]:
        bad = [n for n in v if not 1 <= n <= MAX_NODES]
        if bad:
            msg = f"{bad[0]} is out of range; node counts are 1 to {MAX_NODES}"
            raise ValueError(msg)
        if len(set(v)) != len(v):
            dup = next(n for n in v if v.count(n) > 1)
            msg = f"{dup} is listed twice; each node count is one member"
            raise ValueError(msg)
        return v


class CampaignSpec(Strict):
    description: str = ""
    base: str | None = Field(default=None, description="the stack every member starts from")
    sweep: Sweep
    order: Literal["ascending", "descending", "as-listed"] = "ascending"
    budget: CampaignBudget
    # Members of different stacks (clouds) at the same time; otherwise one stack after another.
    parallel: bool = False
    # Replaces the base stacks' declared quota (`study:quota`) for every member.
    quota: Quota | None = None

    def stacks(self) -> list[str]:
        return list(self.sweep.stacks or ([self.base] if self.base else []))

    def node_counts(self) -> list[int]:
        counts = list(self.sweep.node_count)
        if self.order == "ascending":
            return sorted(counts)
        if self.order == "descending":
            return sorted(counts, reverse=True)
        return counts


@dataclass(frozen=True)
class Member:
    """One (stack, node count) of a campaign: its name is its results directory."""

    name: str
    stack: str
    nodes: int
    index: int  # position in its stack's sequence


@dataclass(frozen=True)
class Campaign:
    name: str
    path: Path
    spec: CampaignSpec

    def members(self) -> list[Member]:
        out = []
        for stack in self.spec.stacks():
            for i, n in enumerate(self.spec.node_counts()):
                out.append(Member(member_name(stack, n), stack, n, i))
        return out

    def sequences(self) -> dict[str, list[Member]]:
        """stack -> its members in run order (each stack is one cluster)."""
        out: dict[str, list[Member]] = {}
        for m in self.members():
            out.setdefault(m.stack, []).append(m)
        return out

    def overrides_of(self, member: Member, base: dict[str, str]) -> dict[str, Any]:
        """`overrides` for a base stack config as the stack reader returns it (its
        `study:experiment` a JSON string)."""
        import json

        raw = base.get("study:experiment")
        experiment = json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else None
        return self.overrides(member, experiment)

    def overrides(self, member: Member, experiment: dict[str, Any] | None = None
                  ) -> dict[str, Any]:
        """What the member changes in its base stack's config: the node count, and the whole
        campaign's budget and lifetime (the cluster lives through every member); `experiment`
        is the base stack's `study:experiment`, which `sweep.experiment_param` rewrites."""
        b = self.spec.budget
        out: dict[str, Any] = {
            "study:cluster": {"node_count": member.nodes},
            "study:budget": {"usd": b.usd, "max_hours": b.max_hours},
            "study:ttl": f"{max(1, math.ceil(b.max_hours))}h",
        }
        param = self.spec.sweep.experiment_param
        if param is not None and experiment is not None:
            params = {**experiment.get("params", {}), param: [member.nodes]}
            out["study:experiment"] = {**experiment, "params": params}
        if self.spec.quota is not None:
            out["study:quota"] = self.spec.quota.model_dump(exclude_none=True)
        return out


def member_name(stack: str, nodes: int) -> str:
    return f"{stack}-n{nodes}"


def campaign_names(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / CAMPAIGN_DIR).glob("*.yaml"))


def campaign_file(name: str, root: Path) -> Path:
    if not NAME.fullmatch(name):
        msg = (f"campaign {name!r}: not a campaign name; letters, digits, '-', '_' and '.', "
               "starting with a letter or digit")
        raise StudyError(msg)
    path = root / CAMPAIGN_DIR / f"{name}.yaml"
    if not (path.exists() or path.is_symlink()):
        known = campaign_names(root)
        guess = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"known: {', '.join(known) or 'none'}"
        msg = f"campaign '{name}' not found in {root / CAMPAIGN_DIR}; {hint}"
        raise StudyError(msg)
    return path


def _line(err: dict, file: str) -> str:
    from infra.spec.errors import format_error

    line = format_error(err, CampaignSpec)
    # format_error names stack keys (`study:sweep...`); a campaign file's keys are its own.
    return f"{file}: " + line.removeprefix("study:").removeprefix("study")


def load_campaign(name: str, root: Path | None = None) -> Campaign:
    """The campaign NAME, checked; SpecError with every problem, one line each."""
    from core.stacks import load_yaml_file, project_dir, stack_names

    root = root or project_dir()
    path = campaign_file(name, root)
    doc = load_yaml_file(path)
    file = f"{CAMPAIGN_DIR}/{path.name}"
    if not isinstance(doc, dict):
        what = "empty" if doc is None else f"a {type(doc).__name__}"
        raise SpecError([f"{file}: is {what}; a campaign file is a mapping (base, sweep, "
                         "order, budget)"])
    try:
        spec = CampaignSpec.model_validate(doc)
    except ValidationError as exc:
        lines: list[str] = []
        for err in exc.errors(include_url=False):
            line = _line(dict(err), file)
            if line not in lines:
                lines.append(line)
        raise SpecError(lines) from None
    problems: list[str] = []
    if spec.base and spec.sweep.stacks:
        problems.append(f"{file}: base: {spec.base!r} is not allowed with sweep.stacks; name "
                        "the stacks in one place")
    if not spec.stacks():
        problems.append(f"{file}: base: required key is missing (or give sweep.stacks)")
    known = stack_names(root)
    for i, stack in enumerate(spec.stacks()):
        key = "base" if spec.base and not spec.sweep.stacks else f"sweep.stacks[{i}]"
        if stack not in known:
            guess = difflib.get_close_matches(stack, known, n=1)
            hint = f"did you mean '{guess[0]}'?" if guess else "see `study stacks`"
            problems.append(f"{file}: {key}: {stack!r} is not a stack in stacks/; {hint}")
    if spec.sweep.stacks and len(set(spec.sweep.stacks)) != len(spec.sweep.stacks):
        problems.append(f"{file}: sweep.stacks: a stack is listed twice")
    if problems:
        raise SpecError(problems)
    return Campaign(name, path, spec)
