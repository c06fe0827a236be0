"""The campaign plan: every member priced and checked offline, and the whole sweep's cost two ways.

Each member is its base stack's config with the member's overrides, validated and estimated by
the single-stack code (`study.plan.make_plan`), so a member fits its quota exactly when
`study plan` of that stack at that node count would say so. The campaign's cost:

- in place: one cluster per stack, created at its first member; between members the finished
  member's steps and event recorder are cleared, then the node pool (node group) resizes while
  the recorder is installed again (`infra.provisioning` figures, billed at the larger count);
  after the last member it scales in to one node, then is destroyed. Nodes are billed
  throughout every phase, as in the single-stack estimate. A member's experiment time follows
  the same chain as the single-stack estimate (`experiments.schedule`), except that its
  preparation steps, which wait for the nodes held at size, run beside only what is left of
  the recorder's re-install once the resize is done;
- per cluster: every member a cluster of its own, created and destroyed (the seed studies' way);

and the in-place way's efficiency: node-hours inside measured steps (every step but the
preparation steps) over billed node-hours. Nothing here creates anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import SpecError
from study.campaign.spec import Campaign, Member
from study.plan import exit_code_of

# Keys of a member's own budget check: a member is held to what is left of the campaign's.
MEMBER_BUDGET_KEYS = ("study:budget.",)
QUOTA_KEY = "study:quota."
SCALE_IN_NODES = 1  # the node count a campaign's cluster shrinks to before its destroy


@dataclass
class MemberPlan:
    member: Member
    cloud: str = ""
    usd_per_hour: float = 0.0
    control_plane_usd_per_hour: float = 0.0
    usd_per_node_hour: float = 0.0
    experiment_hours: float = 0.0
    measured_hours: float = 0.0
    estimated_hours: float = 0.0  # as its own cluster: provision + experiment + teardown
    estimated_usd: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    # The single-stack estimate, for the member's time beside a shorter operators' phase.
    estimate: Any = field(default=None, repr=False)
    quota_problems: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # invalid input or other failed checks
    invalid_input: bool = False

    @property
    def fits_quota(self) -> bool:
        return not self.quota_problems


@dataclass
class Segment:
    """A stretch of one cluster's life at one size: what is billed, and whether it measures."""

    stack: str
    what: str  # create, member, resize, teardown
    seconds: float
    nodes: int
    usd_per_hour: float
    measured_node_hours: float = 0.0

    @property
    def usd(self) -> float:
        return self.usd_per_hour * self.seconds / 3600

    @property
    def node_hours(self) -> float:
        return self.nodes * self.seconds / 3600


@dataclass
class CampaignPlan:
    campaign: Campaign
    members: list[MemberPlan]
    segments: list[Segment]
    violations: list[str]
    invalid_input: bool

    @property
    def in_place_usd(self) -> float:
        return sum(s.usd for s in self.segments)

    def runnable_usd(self) -> float | None:
        """In place, only the members a run reaches (each stack up to its first member that
        does not fit); None when every member fits."""
        if self.first_unfit is None:
            return None
        total = 0.0
        by_stack: dict[str, list[MemberPlan]] = {}
        for mp in self.members:
            by_stack.setdefault(mp.member.stack, []).append(mp)
        for stack, mps in by_stack.items():
            reach = []
            for mp in mps:
                if not mp.fits_quota or not mp.cloud:
                    break
                reach.append(mp)
            total += sum(s.usd for s in in_place_segments(stack, reach))
        return total

    @property
    def per_cluster_usd(self) -> float:
        return sum(m.estimated_usd for m in self.members)

    @property
    def efficiency(self) -> float:
        billed = sum(s.node_hours for s in self.segments)
        measured = sum(s.measured_node_hours for s in self.segments)
        return measured / billed if billed else 0.0

    @property
    def per_cluster_efficiency(self) -> float:
        billed = sum(m.estimated_hours * m.member.nodes for m in self.members)
        measured = sum(m.measured_hours * m.member.nodes for m in self.members)
        return measured / billed if billed else 0.0

    def wall_hours(self) -> float:
        per_stack: dict[str, float] = {}
        for s in self.segments:
            per_stack[s.stack] = per_stack.get(s.stack, 0.0) + s.seconds / 3600
        if not per_stack:
            return 0.0
        values = list(per_stack.values())
        return max(values) if self.campaign.spec.parallel else sum(values)

    @property
    def first_unfit(self) -> MemberPlan | None:
        return next((m for m in self.members if not m.fits_quota), None)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def exit_code(self) -> int:
        return exit_code_of(self.violations, self.invalid_input)

    def to_json(self) -> dict[str, Any]:
        unfit = self.first_unfit
        return {
            "campaign": self.campaign.name,
            "description": self.campaign.spec.description,
            "stacks": self.campaign.spec.stacks(),
            "order": self.campaign.spec.order,
            "parallel": self.campaign.spec.parallel,
            "budget": self.campaign.spec.budget.model_dump(),
            "members": [
                {
                    "name": m.member.name,
                    "stack": m.member.stack,
                    "nodes": m.member.nodes,
                    "steps": m.steps,
                    "estimated_hours": round(m.estimated_hours, 3),
                    "experiment_hours": round(m.experiment_hours, 3),
                    "estimated_usd": round(m.estimated_usd, 2),
                    "usd_per_hour": round(m.usd_per_hour, 4),
                    "fits_quota": m.fits_quota,
                    "quota_problems": m.quota_problems,
                }
                for m in self.members
            ],
            "first_unfit_member": None if unfit is None else unfit.member.name,
            "cost": {
                "in_place_usd": round(self.in_place_usd, 2),
                "per_cluster_usd": round(self.per_cluster_usd, 2),
                "ratio": round(self.in_place_usd / self.per_cluster_usd, 4)
                if self.per_cluster_usd else None,
                "efficiency": round(self.efficiency, 4),
                "per_cluster_efficiency": round(self.per_cluster_efficiency, 4),
                "wall_hours": round(self.wall_hours(), 3),
                "until_first_unfit_usd": None if unfit is None
                else round(self.runnable_usd() or 0.0, 2),
            },
            "segments": [
                {"stack": s.stack, "what": s.what, "seconds": round(s.seconds, 1),
                 "nodes": s.nodes, "usd": round(s.usd, 2)}
                for s in self.segments
            ],
            "provisioning_figures": _figures(self),
            "violations": self.violations,
        }


def _figures(plan: CampaignPlan) -> list[str]:
    from infra.provisioning import PHASES, figures_used

    clouds = sorted({m.cloud for m in plan.members if m.cloud})
    return [line for c in clouds for line in figures_used(c, PHASES)]


def member_config(campaign: Campaign, member: Member) -> dict[str, str]:
    """The member's stack config: the base stack file (and the user's overlay) plus overrides."""
    from core import overrides
    from core.stacks import read_stack_config

    base = read_stack_config(member.stack)
    return overrides.apply(base, campaign.overrides_of(member, base))


def plan_member(campaign: Campaign, member: Member, now: datetime | None = None) -> MemberPlan:
    from study.plan import make_plan

    mp = MemberPlan(member)
    try:
        # The whole single-stack plan, rendering included: a member passes exactly the checks
        # (schemas, the real-cloud rules) `study plan` would hold its stack to.
        rendered = make_plan(member.stack, now=now, config=member_config(campaign, member))
    except SpecError as exc:
        mp.problems = list(exc.problems)
        mp.invalid_input = True
        return mp
    spec, report = rendered.spec, rendered.report
    mp.cloud = spec.cluster.cloud
    mp.problems += rendered.manifest_problems
    mp.invalid_input = rendered.program_refused
    for p in report.errors:
        if p.key.startswith(QUOTA_KEY):
            mp.quota_problems.append(str(p))
        elif not p.key.startswith(MEMBER_BUDGET_KEYS):
            mp.problems.append(str(p))
            mp.invalid_input = mp.invalid_input or p.invalid_input
    est = report.estimate
    if est is None:
        return mp
    mp.usd_per_hour = est.price.total
    mp.control_plane_usd_per_hour = est.price.control_plane
    mp.usd_per_node_hour = est.price.per_node
    mp.experiment_hours = est.experiment_hours
    mp.estimate = est
    modelled = sum(est.waits)
    measured = sum(w for s, w in zip(est.steps, est.waits, strict=True) if not s.preparation)
    # What the chain waits for in measured steps; an `estimated_hours` override scales alike.
    mp.measured_hours = est.experiment_hours * (measured / modelled) if modelled else 0.0
    mp.estimated_hours = est.hours
    mp.estimated_usd = est.usd
    mp.steps = [{"name": s.name, "estimated_seconds": round(s.estimated_seconds, 1)}
                for s in est.steps]
    return mp


def in_place_segments(stack: str, members: list[MemberPlan]) -> list[Segment]:
    """One cluster's life: created at the first member, resized between members, scaled in to
    one node, destroyed. Nodes are billed throughout, as in the single-stack estimate."""
    from infra.provisioning import phase, provision_seconds, resize_seconds, teardown_seconds

    out: list[Segment] = []
    if not members:
        return out
    first = members[0]
    cloud = first.cloud
    out.append(Segment(stack, "create", provision_seconds(cloud, first.member.nodes),
                       first.member.nodes, first.usd_per_hour))
    prev: MemberPlan | None = None
    for m in members:
        experiment = m.experiment_hours * 3600
        if prev is not None:
            # The finished member's steps and results volume go; then the pool resizes while
            # the event recorder is installed again (it does not wait for the nodes).
            out.append(Segment(stack, "clear", phase(cloud, "clear").seconds(prev.member.nodes),
                               prev.member.nodes, prev.usd_per_hour))
            resize = resize_seconds(cloud, prev.member.nodes, m.member.nodes)
            operators = phase(cloud, "operators").seconds(m.member.nodes)
            out.append(Segment(stack, "resize", max(resize, operators),
                               max(prev.member.nodes, m.member.nodes),
                               max(prev.usd_per_hour, m.usd_per_hour)))
            if m.estimate is not None:
                # Preparation waits for the nodes at size: beside what is left of the re-install.
                experiment = m.estimate.experiment_seconds_beside(max(0.0, operators - resize))
        out.append(Segment(stack, "member", experiment, m.member.nodes,
                           m.usd_per_hour, m.measured_hours * m.member.nodes))
        prev = m
    last = members[-1]
    n = last.member.nodes
    if n > SCALE_IN_NODES:
        # Scale in before the destroy: the destroy's minutes bill one node, not the largest size.
        per_node = last.usd_per_node_hour
        small = last.control_plane_usd_per_hour + SCALE_IN_NODES * per_node
        out.append(Segment(stack, "scale-in", resize_seconds(cloud, n, SCALE_IN_NODES), n,
                           last.usd_per_hour))
        out.append(Segment(stack, "teardown", teardown_seconds(cloud, SCALE_IN_NODES),
                           SCALE_IN_NODES, small))
    else:
        out.append(Segment(stack, "teardown", teardown_seconds(cloud, n), n, last.usd_per_hour))
    return out


def plan_campaign(campaign: Campaign, now: datetime | None = None) -> CampaignPlan:
    members = [plan_member(campaign, m, now) for m in campaign.members()]
    violations: list[str] = []
    invalid = False
    for mp in members:
        for p in mp.problems:
            violations.append(f"{mp.member.name}: {p}")
        invalid = invalid or mp.invalid_input
    # The sweep runs up to its first member that does not fit: price that prefix in place.
    segments: list[Segment] = []
    by_stack: dict[str, list[MemberPlan]] = {}
    for mp in members:
        by_stack.setdefault(mp.member.stack, []).append(mp)
    for stack, mps in by_stack.items():
        segments += in_place_segments(stack, [m for m in mps if m.cloud])
    plan = CampaignPlan(campaign, members, segments, violations, invalid)
    unfit = plan.first_unfit
    if unfit is not None:
        violations.append(
            f"{unfit.member.name}: does not fit the quota ({'; '.join(unfit.quota_problems)}); "
            f"`study campaign run` stops before it, after "
            f"{_before(members, unfit) or 'no member'}"
        )
    b = campaign.spec.budget
    if not invalid and plan.in_place_usd > b.usd:
        violations.append(
            f"{campaign.path.name}: budget.usd: {b.usd:g} does not cover the campaign's "
            f"estimated {plan.in_place_usd:.2f} USD in place; raise it to at least "
            f"{plan.in_place_usd:.2f} or sweep fewer node counts")
    if not invalid and plan.wall_hours() > b.max_hours:
        violations.append(
            f"{campaign.path.name}: budget.max_hours: {b.max_hours:g} is less than the "
            f"campaign's estimated {plan.wall_hours():.2f} h; raise it or sweep fewer node "
            "counts")
    return plan


def _before(members: list[MemberPlan], unfit: MemberPlan) -> str:
    same = [m for m in members if m.member.stack == unfit.member.stack]
    i = same.index(unfit)
    return same[i - 1].member.name if i else ""
