"""Rules that span a stack's sections, checked before any cloud call; all problems at once.

Each problem is one line: the config key, the value, and what is allowed. Errors stop a plan or a
run; warnings are printed and recorded. Cloud-specific rules live in `infra/rules/<cloud>.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from infra.estimate import Estimate


def clock() -> datetime:
    """The validation clock (expiry checks); one seam, so tests can pin "now"."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Problem:
    level: Literal["error", "warning"]
    key: str
    message: str
    # True for mistakes in what the stack file says (a typo'd parameter, a zone outside its
    # region, compact placement on n1, a missing operator), as opposed to a valid stack that
    # fails a check against its budget or quota: they exit 1 and 3 respectively.
    invalid_input: bool = False

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def error(key: str, message: str) -> Problem:
    return Problem("error", key, message)


def input_error(key: str, message: str) -> Problem:
    return Problem("error", key, message, invalid_input=True)


def warning(key: str, message: str) -> Problem:
    return Problem("warning", key, message)


def cluster_problems(spec, now: datetime | None = None) -> list[Problem]:
    """The cloud's own rules: input errors, except a declared quota too small (a check)."""
    now = now or clock()
    if spec.cluster.cloud == "gke":
        from infra.rules.gke import gke_problems

        return gke_problems(spec, now)
    from infra.rules.eks import eks_problems

    return eks_problems(spec, now)


def common_problems(spec, est: Estimate | None, now: datetime | None = None) -> list[Problem]:
    """Ownership, operators, budget: the same on every cloud."""
    now = now or clock()
    out: list[Problem] = expiry_problems(spec, now)
    ops = set(spec.operators)
    if "metrics-operator" in ops and "jobset" not in ops:
        out.append(input_error("study:operators",
                               "'metrics-operator' needs 'jobset' in the same list"))
    out += operator_problems(spec)
    if est is None:
        return out
    b = spec.budget
    if est.usd > b.usd:
        out.append(
            error(
                "study:budget.usd",
                f"{b.usd:g} does not cover the estimated cost {est.usd:.2f} USD "
                f"({est.price.total:.3f} USD/h x {est.hours:.2f} h); raise it to at least "
                f"{est.usd:.2f}",
            )
        )
    if est.hours > b.max_hours:
        out.append(
            error(
                "study:budget.max_hours",
                f"{b.max_hours:g} is less than the estimated {est.hours:.2f} h; raise it or "
                "shrink the experiment",
            )
        )
    from infra.estimate import over_cap_problems  # steps killed at their deadline every run

    out += [error(key, message) for key, message in over_cap_problems(spec, list(est.steps))]
    out += estimate_problems(spec, est)
    end = now.timestamp() + est.hours * 3600
    expiry = spec.expiry(now)
    if expiry > now and expiry.timestamp() < end:
        key, shown = expiry_key(spec)
        # A lifetime shorter than the run is a mistake in the stack: refused, as max_hours is.
        # An absolute expiry may be a one-off's last hours: said, not refused.
        judge = error if spec.ttl is not None else warning
        out.append(
            judge(
                key,
                f"{shown} falls before the run's estimated end ({est.hours:.2f} h); the "
                "janitor would destroy the cluster mid-study",
            )
        )
    return out


def expiry_key(spec) -> tuple[str, str]:
    """The key that sets the stack's expiry and its value as written: for messages."""
    if spec.expires_at is not None:
        return "study:expires_at", f"'{spec.expires_at.isoformat()}'"
    from infra.spec import ttl_text

    return "study:ttl", f"'{ttl_text(spec.ttl)}'"


def expiry_problems(spec, now: datetime) -> list[Problem]:
    """An absolute expiry must lie ahead, and no further than a forgotten cluster may live."""
    from infra.spec import MAX_LIFETIME, ttl_text

    if spec.expires_at is None:
        return []  # a ttl is bounded by its own validator and always lies ahead
    when = spec.expires_at
    if when <= now:
        return [input_error(
            "study:expires_at",
            f"'{when.isoformat()}' is in the past; must be after "
            f"{now.isoformat(timespec='seconds')}",
        )]
    if when - now > MAX_LIFETIME:
        return [input_error(
            "study:expires_at",
            f"'{when.isoformat()}' is more than {ttl_text(MAX_LIFETIME)} away; a forgotten "
            f"cluster would run until then; use study:ttl (e.g. '12h') or an expiry before "
            f"{(now + MAX_LIFETIME).isoformat(timespec='seconds')}",
        )]
    return []


# A price override this far under the list price is a typo (a dropped digit), not a discount:
# committed-use discounts reach about 70 % and Spot about 91 % off, and neither is modelled.
MIN_PRICE_FRACTION = 0.05


def estimate_problems(spec, est: Estimate) -> list[Problem]:
    """An estimate no run can meet makes every budget pass: the declared override of the
    experiment's hours may raise the modelled steps' time, never cut it, and a price override
    may not sit far below the list price."""
    out = _price_problems(spec)
    exp = spec.experiment
    if exp is None or exp.estimated_hours is None:
        return out
    modelled = sum(s.estimated_seconds for s in est.steps) / 3600
    if exp.estimated_hours >= modelled:
        return out
    return out + [input_error(
        "study:experiment.estimated_hours",
        f"{exp.estimated_hours:g} is less than the {modelled:.2f} h its steps are estimated to "
        f"take; an override may raise the estimate, not lower it (remove it or use at least "
        f"{modelled:.2f})",
    )]


def operator_problems(spec) -> list[Problem]:
    """The experiment's kind needs its operators.

    Image pins are not checked here: the plan's `image-pinned` rule checks every image the stack
    renders (controllers included) against the image lock, as an error.
    """
    out: list[Problem] = []
    if spec.experiment is not None:
        from experiments.registry import get_kind

        try:
            kind = get_kind(spec.experiment.kind)
        except KeyError:
            kind = None  # reported with the estimate
        missing = [o for o in getattr(kind, "requires", ()) if o not in spec.operators]
        if missing:
            out.append(
                input_error(
                    "study:operators",
                    f"{list(spec.operators)} is missing {', '.join(repr(m) for m in missing)}, "
                    f"which experiment kind '{spec.experiment.kind}' needs; add them",
                )
            )
    return out


def quota_problems(needs: dict[str, float], quota, what: str) -> list[Problem]:
    """Compare what the stack needs with the declared quota; undeclared CPU quota is a warning."""
    out: list[Problem] = []
    for key, need in needs.items():
        have = getattr(quota, key)
        if have is None and key == "cpus":
            out.append(
                warning(
                    f"study:quota.{key}", f"not declared; the plan cannot check {need:g} {what}"
                )
            )
        elif have is not None and need > have:
            out.append(
                error(
                    f"study:quota.{key}",
                    f"the stack needs {need:g} but the declared quota is {have:g}; request "
                    "more quota or use fewer or smaller nodes",
                )
            )
    return out


@dataclass(frozen=True)
class Report:
    """A validated stack: its estimate and every problem found (errors and warnings)."""

    estimate: Estimate | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]


STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,34}[a-z0-9]$")
STACK_NAME_RULE = ("the cluster is named after the stack: lowercase letters, digits and '-', "
                   "starting with a letter, at most 36 characters")


def validate_stack(spec, stack: str, now: datetime | None = None) -> Report:
    """Every cross-section rule, estimate included; never raises for a bad spec."""
    from infra.estimate import estimate

    problems: list[Problem] = []
    if not STACK_NAME.fullmatch(stack):
        problems.append(
            input_error(
                "stack",
                f"'{stack}' is not allowed; {STACK_NAME_RULE}",
            )
        )
    est: Estimate | None = None
    try:
        est = estimate(spec)
    except KeyError as exc:  # unknown experiment kind or unpriced machine
        problems.append(input_error("study:experiment.kind", str(exc.args[0])))
    except ValueError as exc:  # a kind refusing its steps on this cluster (node counts)
        for line in str(exc).splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("study:") and ": " in line:  # already names its key
                key, _, message = line.partition(": ")
                problems.append(input_error(key, message))
            else:
                problems.append(input_error("study:experiment.params", line))
    problems += cluster_problems(spec, now)
    from infra.storage import storage_problems  # the results disk's labels, as its CSI reads them

    problems += storage_problems(spec, stack)
    problems += common_problems(spec, est, now)
    return Report(est, tuple(problems))


def _price_problems(spec) -> list[Problem]:
    from infra.clusters.shapes import hourly_price
    from infra.spec.common import PriceOverride

    given = spec.prices
    overrides = (
        ("machine_usd_per_hour", given.machine_usd_per_hour, "machine"),
        ("local_ssd_usd_per_hour", given.local_ssd_usd_per_hour, "local_ssd"),
        ("control_plane_usd_per_hour", given.control_plane_usd_per_hour, "control_plane"),
    )
    if all(value is None for _, value, _ in overrides):
        return []
    listed = hourly_price(spec.model_copy(update={"prices": PriceOverride()}))
    out: list[Problem] = []
    for key, value, part in overrides:
        list_price = getattr(listed, part)
        if value is None or not list_price:
            continue
        # GKE's free tier covers one zonal control plane per billing account; EKS has none.
        if part == "control_plane" and value == 0 and spec.cluster.cloud == "gke":
            continue
        if value < MIN_PRICE_FRACTION * list_price:
            out.append(input_error(
                f"study:prices.{key}",
                f"{value:g} is less than {MIN_PRICE_FRACTION:.0%} of the list price "
                f"{list_price:.4f} USD/h; no discount is that deep (a dropped digit?)",
            ))
    return out
