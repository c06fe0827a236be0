"""A member's overrides: only the keys a sweep changes, merged into the stack's config by the one
stack reader, so the program, the plan and the preflight agree."""

from __future__ import annotations

import json

import pytest

from core import overrides
from core.errors import StudyError
from core.stacks import apply_overlay, read_stack_config


def test_a_node_count_replaces_only_that_key_of_the_cluster():
    base = read_stack_config("gke-4-nightly")
    out = overrides.apply(base, {"study:cluster": {"node_count": 9}})
    before, after = json.loads(base["study:cluster"]), json.loads(out["study:cluster"])
    assert after == {**before, "node_count": 9}


def test_a_null_removes_a_whole_value():
    base = read_stack_config("gke-4-nightly")
    out = overrides.apply(base, {"study:experiment": None})
    assert "study:experiment" not in out
    assert "study:experiment" in base


def test_keys_a_sweep_does_not_change_are_refused_in_one_line():
    with pytest.raises(StudyError) as info:
        overrides.check({"study:owner": "x"})
    assert str(info.value) == ("STUDY_CONFIG_OVERRIDES: study:owner: may not be overridden; "
                               "allowed: study:cluster, study:budget, study:ttl, "
                               "study:experiment, study:operators, study:quota")
    with pytest.raises(StudyError) as info:
        overrides.check({"study:cluster": {"machine_type": "n1-standard-2"}})
    assert str(info.value) == ("STUDY_CONFIG_OVERRIDES: study:cluster.machine_type: may not be "
                               "overridden; allowed: node_count")


def test_the_stack_reader_applies_the_environments_overrides(monkeypatch):
    base = read_stack_config("eks-2-smoke")
    monkeypatch.setenv(overrides.OVERRIDES_ENV, '{"study:cluster": {"node_count": 3}}')
    assert json.loads(apply_overlay(dict(base))["study:cluster"])["node_count"] == 3


def test_overrides_that_are_not_json_are_one_line(monkeypatch):
    monkeypatch.setenv(overrides.OVERRIDES_ENV, "{node_count: 3")
    with pytest.raises(StudyError) as info:
        overrides.from_environment({"STUDY_CONFIG_OVERRIDES": "{node_count: 3"})
    assert str(info.value).startswith("STUDY_CONFIG_OVERRIDES: not JSON (")
