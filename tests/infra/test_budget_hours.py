"""The experiment's deadlines fit the same run length the `study run` watchdog enforces."""

from __future__ import annotations

import pytest

from infra.clusters.shapes import hourly_price
from infra.estimate import (
    experiment_deadline_seconds,
    hours_within_budget,
    provision_hours,
    teardown_hours,
)
from infra.spec import load_spec
from tests.conftest import sections, to_config


def spec_with_budget(usd: float, max_hours: float):
    sec = sections("gke-64-apps")
    sec["budget"] = {"usd": usd, "max_hours": max_hours}
    return load_spec(to_config(sec))


def test_a_budget_that_buys_less_than_max_hours_sets_the_deadline():
    spec = spec_with_budget(usd=60, max_hours=10)
    per_hour = hourly_price(spec).total
    assert 60 / per_hour < 10  # the dollars run out first
    expected = (60 / per_hour - provision_hours(spec) - teardown_hours(spec)) * 3600
    assert experiment_deadline_seconds(spec) == pytest.approx(expected)


def test_max_hours_sets_the_deadline_when_the_budget_buys_more():
    spec = spec_with_budget(usd=10_000, max_hours=3)
    expected = (3 - provision_hours(spec) - teardown_hours(spec)) * 3600
    assert experiment_deadline_seconds(spec) == pytest.approx(expected)


def test_the_watchdog_and_the_plan_share_one_rule():
    from study.lifecycle.run import deadline_hours

    spec = spec_with_budget(usd=60, max_hours=10)
    assert deadline_hours(spec, 20.0) == hours_within_budget(spec.budget, 20.0) == 3.0
    assert hours_within_budget(spec.budget, 0.0) == 10
