"""How long a stack's run takes and what it costs, before anything exists.

hours = provisioning + the experiment's time + teardown. Provisioning and teardown come from the
duration model in `infra.provisioning` (per cloud and node count, each figure with its source);
provisioning ends with the operators' phase. The experiment's time is what the step chain really
waits for after that phase (`experiments.schedule`): the measured steps one after another with
their own overhead less the uploads each next step overlaps, the preparation steps (pre-pull,
mirror, priming pull) only where they outlast the operators' phase they run beside, and one final
upload. Nodes are billed throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.base import ClusterFacts, Step
from experiments.schedule import Placed, experiment_seconds, place
from infra.pricing import HourlyPrice


def provision_hours(spec) -> float:
    """Cluster, node pool and operators up, for the stack's cloud and node count."""
    from infra.provisioning import provision_hours as model

    return model(spec.cluster.cloud, spec.cluster.node_count)


def teardown_hours(spec) -> float:
    from infra.provisioning import teardown_hours as model

    return model(spec.cluster.cloud, spec.cluster.node_count)


def beside_operators_seconds(spec) -> float:
    """How long preparation steps run beside the operators on a new cluster: the operators'
    phase that provisioning charges."""
    from infra.provisioning import phase

    return phase(spec.cluster.cloud, "operators").seconds(spec.cluster.node_count)


def chain(steps: list[Step] | tuple[Step, ...], beside_seconds: float) -> list[Placed]:
    """The steps placed on the chain, with the harness's own recorder and upload figures."""
    from experiments import duration_model

    return place(steps, beside_seconds, duration_model.harness("recorder"),
                 duration_model.harness("upload"))


@dataclass(frozen=True)
class Estimate:
    """The run's hours and cost. `waits` holds, per step, the seconds the run waits for it on
    the chain (they add up to the experiment's time unless the stack states `estimated_hours`);
    `beside_seconds` is the operators' phase the preparation steps ran beside."""

    price: HourlyPrice
    provision_hours: float
    experiment_hours: float
    teardown_hours: float
    steps: tuple[Step, ...]
    waits: tuple[float, ...] = ()
    beside_seconds: float = 0.0
    stated_hours: bool = False  # experiment_hours is the stack's own `estimated_hours`

    @property
    def hours(self) -> float:
        return self.provision_hours + self.experiment_hours + self.teardown_hours

    @property
    def work_seconds(self) -> float:
        """Measured work over the steps whose kind splits its estimate."""
        return sum(s.work_seconds for s in self.steps if s.work_seconds is not None)

    @property
    def overhead_seconds(self) -> float:
        """The harness's time on the chain around that work (start, cache clear, recorders, the
        final upload, preparation beyond the operators' phase), over the steps whose kind
        splits its estimate."""
        return sum(w - (s.work_seconds or 0.0) for s, w in zip(self.steps, self.waits,
                                                                 strict=True)
                   if s.work_seconds is not None)

    @property
    def step_overhead_seconds(self) -> float:
        """The steps' overheads as if each ran alone (what the per-step column adds up to)."""
        return sum(s.overhead_seconds or 0.0 for s in self.steps if s.work_seconds is not None)

    def experiment_seconds_beside(self, beside_seconds: float) -> float:
        """The experiment's time had the preparation steps run beside an operators' phase of
        `beside_seconds` (a campaign's resized member has less of it); the stated hours when
        the stack states them."""
        if self.stated_hours:
            return self.experiment_hours * 3600
        return experiment_seconds(chain(self.steps, beside_seconds))

    @property
    def usd(self) -> float:
        return self.price.total * self.hours

    @property
    def node_hours(self) -> float:
        return self.price.nodes * self.hours


def cluster_facts(spec) -> ClusterFacts:  # spec: StackSpec
    from infra.clusters.shapes import node_shape

    c = spec.cluster
    vcpus, _ = node_shape(c)
    return ClusterFacts(
        cloud=c.cloud,
        node_count=c.node_count,
        machine_type=c.machine_type,
        vcpus_per_node=vcpus,
        image_registry=getattr(c, "image_registry", ""),
        local_ssd=getattr(c, "local_ssd_count", 0) > 0,
        image_streaming=getattr(c, "image_streaming", False),
    )


def experiment_params(spec):
    """(kind, typed params): the spec validated them against the kind when it was loaded."""
    from experiments.registry import get_kind

    return get_kind(spec.experiment.kind), spec.experiment.typed


def hours_within_budget(budget, usd_per_hour: float) -> float:
    """How long a run may last, cluster up to down: the earlier of `max_hours` and what `usd`
    buys at the stack's hourly price. The `study run` watchdog stops a run there, so the
    experiment's deadlines must fit inside the same figure."""
    if usd_per_hour <= 0:
        return budget.max_hours
    return min(budget.max_hours, budget.usd / usd_per_hour)


def experiment_deadline_seconds(spec) -> float:
    """The whole experiment's deadline: the run's hours within budget minus provisioning and
    teardown."""
    from infra.clusters.shapes import hourly_price

    hours = hours_within_budget(spec.budget, hourly_price(spec).total)
    return max(0.0, (hours - provision_hours(spec) - teardown_hours(spec)) * 3600)


def budget_deadlines(steps: list[Step], total_seconds: float) -> list[Step]:
    """Scale the steps' deadlines down, all alike, until their sum fits the experiment deadline.

    The sum of all deadlines then fits in the experiment deadline, so one runaway step (the
    seed's 4.4 h osu_allgather) cannot eat the budget of the others; deadlines that already fit
    are kept as the kinds set them. When the budget is short, a deadline may fall below its
    estimate; `over_cap_problems` reports that rather than hiding it.
    """
    import math
    from dataclasses import replace

    total = sum(s.deadline_seconds for s in steps)
    if not steps or total <= total_seconds:
        return steps
    ratio = total_seconds / total
    # Rounded down to 0.1 s: rounding to nearest let 80 steps overshoot the total by seconds.
    return [replace(s, deadline_seconds=math.floor(s.deadline_seconds * ratio * 10) / 10)
            for s in steps]


def over_cap_problems(spec, steps: list[Step]) -> list[tuple[str, str]]:
    """(key, message) for steps that would be killed at their deadline on every run.

    A deadline below the estimate comes either from the kind's `time_limit_seconds` (one line per
    step, naming it) or from the budget share (one line naming the longest steps, since a short
    budget cuts every step's share alike).
    """
    short = [s for s in steps if s.deadline_seconds < s.estimated_seconds]
    if not short:
        return []
    limit = getattr(spec.experiment.typed, "time_limit_seconds", None) if spec.experiment else None
    out: list[tuple[str, str]] = []
    by_limit = [s for s in short if limit is not None and s.estimated_seconds > limit]
    for s in by_limit:
        out.append((
            "study:experiment.params.time_limit_seconds",
            f"{limit:g} is less than the estimate of step '{s.name}' ({s.estimated_seconds:.0f} "
            f"s), so it would be killed at its deadline on every run; raise the limit to at "
            f"least {s.estimated_seconds:.0f} or remove the step from the matrix",
        ))
    rest = sorted((s for s in short if s not in by_limit),
                  key=lambda s: s.estimated_seconds, reverse=True)
    if rest:
        from infra.clusters.shapes import hourly_price

        names = ", ".join(f"'{s.name}' ({s.estimated_seconds:.0f} s)" for s in rest[:3])
        need = sum(x.estimated_seconds for x in steps) / 3600
        b = spec.budget
        per_hour = hourly_price(spec).total
        by_usd = per_hour > 0 and b.usd / per_hour < b.max_hours
        key, value = ("usd", f"{b.usd:g} (buys {b.usd / per_hour:.2f} h)") if by_usd else (
            "max_hours", f"{b.max_hours:g}")
        out.append((
            f"study:budget.{key}",
            f"{value} leaves the steps less than their estimates "
            f"(estimates sum to {need:.2f} h), so {len(rest)} steps would be killed at their "
            f"deadlines, longest {names}; raise {key} or shrink the experiment",
        ))
    return out


def experiment_steps(spec) -> list[Step]:
    """The experiment's steps in run order (empty when the stack has no experiment)."""
    if spec.experiment is None:
        return []
    from experiments.base import check_step_names
    from experiments.pernode import with_prepull

    kind, params = experiment_params(spec)
    facts = cluster_facts(spec)
    steps = with_prepull(kind, params, facts, kind.steps(params, facts))
    check_step_names(steps)
    return budget_deadlines(steps, experiment_deadline_seconds(spec))


def estimate(spec, steps: list[Step] | None = None) -> Estimate:
    from infra.clusters.shapes import hourly_price

    if steps is None:
        steps = experiment_steps(spec)
    beside = beside_operators_seconds(spec)
    waits = tuple(p.waits for p in chain(steps, beside))
    exp_hours = sum(waits) / 3600
    stated = spec.experiment is not None and spec.experiment.estimated_hours is not None
    if stated:
        exp_hours = spec.experiment.estimated_hours
    return Estimate(
        price=hourly_price(spec),
        provision_hours=provision_hours(spec),
        experiment_hours=exp_hours,
        teardown_hours=teardown_hours(spec),
        steps=tuple(steps),
        waits=waits,
        beside_seconds=beside,
        stated_hours=stated,
    )
