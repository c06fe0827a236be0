"""A plain `pulumi up` after a guard stop scales the nodes back: the node-size holder's diff
asks the cloud for the pool's live size, since Pulumi compares the program with its own state
(pulumi/pulumi#3664: no refresh before an update unless asked), which still holds the size
the guard changed behind its back. The holder never shrinks a pool."""

from __future__ import annotations

import pytest

import infra.node_size as node_size
from experiments.guard import Config, run_once
from tests.experiments.test_guard_decision import T0


class PoolInTheCloud:
    def __init__(self, nodes: int):
        self.nodes, self.calls = nodes, []

    def pool(self):
        return self.nodes, T0

    def scale_to(self, nodes: int):
        self.calls.append(nodes)
        self.nodes = nodes

    def scale_to_zero(self):
        self.scale_to(0)


PROPS = {"cloud": "gke", "project": "p-1", "location": "us-central1-a", "cluster": "gke-2-smoke",
         "pool": "gke-2-smoke-pool", "nodes": 4}


@pytest.fixture
def cloud(monkeypatch):
    pool = PoolInTheCloud(4)
    monkeypatch.setattr(node_size, "scaler_for", lambda props: pool)
    return pool


@pytest.mark.parametrize(("live", "changes"), [(0, True), (3, True), (4, False), (6, False)])
def test_diff_reports_a_pool_below_its_declared_size(cloud, live, changes):
    cloud.nodes = live
    assert node_size.NodeSizeProvider().diff("id", PROPS, PROPS).changes is changes


def test_update_scales_back_and_create_touches_nothing(cloud):
    provider = node_size.NodeSizeProvider()
    assert provider.create(PROPS).outs == PROPS
    assert cloud.calls == []
    cloud.nodes = 0
    assert provider.update("id", PROPS, PROPS).outs == PROPS
    assert cloud.calls == [4]


class Bucket:
    def __init__(self):
        self.records: dict[str, dict] = {}

    def has_step_results(self, step):
        return False

    def step_finished_at(self, step):
        return None

    def write_record(self, name, data):
        self.records[name] = data

    def record_names(self):
        return sorted(self.records)


def test_guard_stop_then_up_then_the_guard_counts_again(cloud):
    """Deadline passed -> guard scales to zero -> `pulumi up` (the holder's update) scales back
    -> the guard's next pass records the resume instead of stopping the nodes again."""
    cfg = Config("gs://b/gke-2-smoke/r/", "r", "gke", "p-1", "us-central1-a", "gke-2-smoke",
                 "gke-2-smoke-pool", deadline_hours=1.0, grace_seconds=900, steps=("a",))
    bucket = Bucket()
    assert run_once(T0 + 2 * 3600, cfg, cloud, bucket).action == "scale-to-zero"
    assert cloud.nodes == 0
    provider = node_size.NodeSizeProvider()
    assert provider.diff("id", PROPS, PROPS).changes is True
    provider.update("id", PROPS, PROPS)
    assert cloud.nodes == 4
    assert run_once(T0 + 2 * 3600 + 600, cfg, cloud, bucket).action == "resumed"
    assert run_once(T0 + 2 * 3600 + 900, cfg, cloud, bucket).action == "wait"
    assert run_once(T0 + 3 * 3600 + 600, cfg, cloud, bucket).action == "scale-to-zero"
    assert [n.split("-", 1)[1] for n in bucket.record_names()] == [
        "scale-to-zero.json", "resumed.json", "scale-to-zero.json"]


def test_the_steps_wait_for_the_nodes_to_be_back(monkeypatch):
    """After a guard stop, `pulumi up` scales back in the holder's update; a step created before
    that finishes would spend its deadline on Pending pods. The experiment (whose children
    register only once it has, after its dependencies) depends on the holder."""
    import experiments.component as component
    from study.mock_engine import run_program
    from tests.conftest import ROOT, config_of, stack_yaml

    seen: list[list[str]] = []
    real = component.Experiment

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, name, kind, params, steps, ctx, opts=None, results=None,
                     operators=()):
            seen.append([type(d).__name__ + ":" + d._name for d in opts.depends_on])
            super().__init__(name, kind, params, steps, ctx, opts, results=results,
                             operators=operators)

    monkeypatch.setattr(component, "Experiment", Recording)
    out = run_program("gke-4-nightly", config_of(stack_yaml("gke-4-nightly")),
                      ROOT / "__main__.py")
    assert out.error is None, out.error
    assert len(seen) == 1
    assert "NodeSize:gke-4-nightly-node-size" in seen[0]
