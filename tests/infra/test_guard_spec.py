"""`study:guard`: on by default with a 15 minute grace; a bad grace is one line naming the key,
the value and the allowed form, before anything renders."""

from __future__ import annotations

import pytest

from core.errors import SpecError
from infra.spec import load_spec
from tests.conftest import sections, to_config


def spec_with(guard: dict | None):
    sec = sections("gke-2-smoke")
    if guard is not None:
        sec["guard"] = guard
    return load_spec(to_config(sec))


def test_defaults():
    g = spec_with(None).guard
    assert (g.enabled, g.grace, g.grace_seconds) == (True, "15m", 900)


@pytest.mark.parametrize(("grace", "seconds"), [("0s", 0), ("90s", 90), ("1h", 3600)])
def test_grace_units(grace, seconds):
    assert spec_with({"grace": grace}).guard.grace_seconds == seconds


@pytest.mark.parametrize(("guard", "problem"), [
    pytest.param({"grace": "15 minutes"},
                 "study:guard.grace: '15 minutes' is not allowed; not a duration; use a whole "
                 "number with s, m or h (e.g. 15m)", id="bad-grace"),
    pytest.param({"grace": "25h"},
                 "study:guard.grace: '25h' is not allowed; longer than 24h; the deadline bounds "
                 "a run, the grace only its tail", id="grace-over-a-day"),
    pytest.param({"enabled": False},
                 "study:guard.enabled: False is not allowed; every study cluster runs the guard, "
                 "which stops its nodes at the deadline when nobody else does (study:guard.grace "
                 "changes when it acts after the run)", id="guard-turned-off-names-the-reason"),
])
def test_a_bad_guard_value_is_one_line(guard, problem):
    with pytest.raises(SpecError) as err:
        spec_with(guard)
    assert err.value.problems == [problem]


def test_unknown_key_is_refused():
    with pytest.raises(SpecError) as err:
        spec_with({"grase": "15m"})
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("study:guard.grase:")
