"""Validity checks on real seed data: the seed's own pull Jobs must be judged incomplete."""

from __future__ import annotations

import json
from pathlib import Path

from experiments import checks
from experiments.topology_designs import parents

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "experiments"
IMAGE = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes"
WARM_IMAGE = (
    "us-central1-artifactregistry.gcr.io/gke-release/gke-release/gke-metrics-agent:1.12.3-gke.1"
    "@sha256:b48588f900ff5f13bb2f57c39947f12498d4c37c61ef6c6b0ae90bfea902f7f5"
)


def events(name: str) -> list[dict]:
    with open(FIX / name, "rb") as f:
        return checks.read_events(f)


class TestSeedPullsAreIncomplete:
    """The seed placed several pull pods on one node: 2 of 4 and 12 of 16 nodes pulled."""

    def test_four_nodes(self):
        r = checks.check_pulls(events("run1-4-size-1176249324.jsonl"), [IMAGE], 4)
        assert (r["observed_pulls"], r["distinct_nodes"], r["valid"]) == (2, 2, False)
        assert r["completeness"] == 0.5
        assert "observed 2 of 4 expected (node, image) pulls" in r["problems"]

    def test_sixteen_nodes(self):
        r = checks.check_pulls(events("run1-16-size-1176249324.jsonl"), [IMAGE], 16)
        assert (r["observed_pulls"], r["distinct_nodes"], r["valid"]) == (12, 12, False)
        assert r["warm"] == 0

    def test_a_real_warm_message_marks_the_step_invalid(self):
        r = checks.check_pulls(events("run1-4-size-1176249324.jsonl"), [WARM_IMAGE], 1)
        assert r["warm"] == 1 and not r["valid"]
        assert "already present on machine" in r["problems"][-1]

    def test_system_images_are_kept_apart(self):
        cold, warm = checks.image_pulls(events("run1-16-size-1176249324.jsonl"), [IMAGE])
        assert all(row["image"] == IMAGE for row in cold + warm)
        assert not warm


def _event(uid, node, pod, message, reason="Pulled"):
    return {"metadata": {"uid": uid}, "reason": reason, "message": message,
            "reportingInstance": node, "involvedObject": {"name": pod}}


class TestCompletePulls:
    """One cold pull per node is valid; re-emitted events are counted once."""

    def lines(self, n):
        out = []
        for i in range(n):
            msg = (f'Successfully pulled image "{IMAGE}" in 6.9s (6.9s including waiting). '
                   "Image size: 20700000 bytes.")
            ev = json.dumps(_event(f"u{i}", f"node-{i}", f"pull-{i}", msg))
            out += [ev, ev]  # exporters re-emit updated events with the same uid
        return ['{"level":"info","message":"Reading config file"}', *out, "{torn"]

    def test_valid(self):
        r = checks.check_pulls(checks.read_events(self.lines(4)), [IMAGE], 4)
        assert r["valid"] and r["completeness"] == 1.0 and r["problems"] == []

    def test_pods_filter(self):
        r = checks.check_pulls(checks.read_events(self.lines(4)), [IMAGE], 4, pods={"pull-0"})
        assert r["observed_pulls"] == 1 and not r["valid"]

    def test_docker_hub_prefix(self):
        assert checks.same_image("docker.io/library/busybox:1.36.1", "busybox:1.36.1")


class TestPodsPerNode:
    def test_one_each(self):
        pods = [{"name": f"p{i}", "node": f"n{i}"} for i in range(3)]
        assert checks.check_pods_per_node(pods, 3)["valid"]

    def test_two_on_one_node(self):
        pods = [{"name": "a", "node": "n0"}, {"name": "b", "node": "n0"}, {"name": "c", "node": "n1"}]
        r = checks.check_pods_per_node(pods, 3)
        assert not r["valid"] and r["distinct_nodes"] == 2

    def test_unscheduled(self):
        r = checks.check_pods_per_node([{"name": "a", "node": ""}], 1)
        assert not r["valid"] and "never scheduled" in r["problems"][-1]


class TestOverlay:
    """The tree a seed MiniCluster printed matches the design it asked for, and only that one."""

    def test_binomial_six(self):
        text = (FIX / "overlay-max-6-6-binomial-1.txt").read_text()
        tree = checks.overlay_section(text)
        assert checks.check_overlay(tree, parents("binomial", 6))["valid"]
        assert not checks.check_overlay(tree, parents("kary:2", 6))["valid"]

    def test_kary3_thirty(self):
        text = (FIX / "overlay-exact-30-30-kary-3-1.txt").read_text()
        tree = checks.overlay_section(text)
        assert checks.check_overlay(tree, parents("kary:3", 30))["valid"]
        r = checks.check_overlay(tree, parents("kary:4", 30))
        assert not r["valid"] and r["completeness"] < 1

    def test_missing_ranks(self):
        r = checks.check_overlay(["0 flux-sample-0: full"], parents("kary:2", 3))
        assert not r["valid"]


def test_timing_lines():
    text = ('noise\nSTUDY-TIMING {"event": "create-archive", "seconds": 4.01}\n'
            'STUDY-TIMING {broken\n')
    assert checks.timing_lines(text) == [{"event": "create-archive", "seconds": 4.01}]


def test_checks_module_is_standard_library_only():
    """It runs in a bare python image inside the cluster."""
    import ast
    import sys

    tree = ast.parse((Path(checks.__file__)).read_text())
    mods = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
            for a in n.names}
    mods |= {n.module.split(".")[0] for n in ast.walk(tree)
             if isinstance(n, ast.ImportFrom) and n.module}
    assert mods <= set(sys.stdlib_module_names) | {"__future__"}
