"""Every step resource can be updated for as long as it may be created (resume after a kill).

pulumi-kubernetes awaits a create and an update alike, each with its own custom timeout and a
default of 10 minutes when none is set (provider/pkg/await/await.go, `Creation` and `Update`:
`timeout := 10 * time.Minute` unless `metadata.TimeoutDuration(c.Timeout, ...)`; read at
pulumi/pulumi-kubernetes HEAD 9497796, after 4.32.0; the SDK we lock is 4.34.2). A resumed `up`
after a hard kill may update an object it created but never saved in its state, so a step's
workload and recorder get `update` equal to `create`.
"""

from __future__ import annotations

import pytest

from core import layout
from core.stacks import stack_names
from study.mock_engine import run_program
from tests.conftest import ROOT, config_of, stack_yaml

STACKS = [s for s in stack_names(ROOT) if "study:experiment" in stack_yaml(s)["config"]]


def step_resources(stack: str):
    out = run_program(stack, config_of(stack_yaml(stack)), ROOT / "__main__.py")
    assert out.error is None, out.error
    return [r for r in out.resources
            if layout.LABEL_STEP in ((r.inputs.get("metadata") or {}).get("labels") or {})]


@pytest.mark.parametrize("stack", STACKS)
def test_step_resources_update_as_long_as_they_create(stack):
    res = step_resources(stack)
    assert res
    for r in res:
        t = r.options["customTimeouts"]
        assert t.get("create") and t.get("update") == t["create"], (r.type, r.name, t)


def test_workload_and_recorder_share_the_step_timeout():
    """A MetricSet is waited for as long as its recorder (deadline plus both margins)."""
    from experiments.component import PULUMI_MARGIN_SECONDS, RECORDER_MARGIN_SECONDS

    by_step: dict[str, set[str]] = {}
    deadlines: dict[str, float] = {}
    for r in step_resources("gke-64-osu"):
        step = r.inputs["metadata"]["labels"][layout.LABEL_STEP]
        by_step.setdefault(step, set()).add(r.options["customTimeouts"]["update"])
        if r.type.endswith("MetricSet"):
            deadlines[step] = r.inputs["spec"]["deadlineSeconds"]
    assert len(deadlines) == 5  # one MetricSet per node count (4, 8, 16, 32, 64)
    for step in deadlines:
        timeouts = by_step[step]
        want = int(deadlines[step]) + RECORDER_MARGIN_SECONDS + PULUMI_MARGIN_SECONDS
        assert timeouts == {f"{want}s"}, step


def test_archive_server_objects_too():
    """The topology kind's shared server (Pod and Service) is a resource the kind creates."""
    out = run_program("gke-6-topology", config_of(stack_yaml("gke-6-topology")),
                      ROOT / "__main__.py")
    server = [r for r in out.resources if r.name.endswith("study-archive-server")]
    assert sorted(r.type for r in server) == ["kubernetes:core/v1:Pod", "kubernetes:core/v1:Service"]
    for r in server:
        t = r.options["customTimeouts"]
        assert t.get("create") and t.get("update") == t["create"], (r.type, t)
