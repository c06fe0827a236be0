"""The shipped stacks carry no date that rots: each plans cleanly with the clock years ahead.

Lifetimes are `study:ttl`, counted from a creation at the plan's "now"; the version calendars
are dated data, and past their last date the plan warns that the calendar (not the stack) is
out of date. Nothing here pins the clock to the day the stacks were written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.stacks import stack_names
from study.plan import make_plan

YEARS_AHEAD = datetime.now(UTC).replace(microsecond=0) + timedelta(days=5 * 365)


@pytest.mark.parametrize("stack", stack_names())
def test_every_shipped_stack_plans_years_ahead(stack, monkeypatch, locked_images, tmp_path):
    import infra.validate

    # The one validation clock, seen by the plan and by the program under the mock engine.
    monkeypatch.setattr(infra.validate, "clock", lambda: YEARS_AHEAD)
    plan = make_plan(stack, tmp_path, now=YEARS_AHEAD)
    assert (plan.exit_code, plan.violations) == (0, [])
    stamps = [r for r in plan.resources if r.type == "time:index/offset:Offset"]
    assert len(stamps) == 1  # the lifetime is stamped at creation, not written in the file
    assert not any("in the past" in w for w in plan.warnings)


def test_no_shipped_stack_names_an_absolute_expiry():
    from tests.conftest import sections

    assert [s for s in stack_names() if "expires_at" in sections(s)] == []
    assert {s: "ttl" in sections(s) for s in stack_names()} == dict.fromkeys(stack_names(), True)
