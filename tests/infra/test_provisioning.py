"""The provisioning model: sourced figures the single-stack estimate and the campaign plan share.

The GKE create and teardown figures are fitted to the seed pulling study's own cycle (last event
of the 4-node size to the first RegisteredNode of the 16-node size, median of run1-run4:
converged-computing/container-chonks fa06749, experiments/pulling/metadata;
`benchmarks/fit_provisioning.py` recomputes it from the raw data); the EKS create to the seed
topology study's 15m46s for 30 nodes.
"""

from __future__ import annotations

import pytest

from infra import provisioning as pm
from infra.estimate import estimate
from infra.spec import load_spec
from tests.conftest import sections, to_config


def test_the_gke_cycle_the_seed_measured_is_create_16_plus_teardown_4():
    cycle = pm.table()["seed_fit"]["gke_cycle_4_to_16_s"]
    assert cycle == 1342
    assert pm.phase("gke", "create").seconds(16) + pm.teardown_seconds("gke", 4) == \
        pytest.approx(cycle, abs=1)


def test_the_eks_create_of_30_nodes_is_the_seeds_15m46s():
    assert pm.phase("eks", "create").seconds(30) == 15 * 60 + 46


def test_every_phase_of_every_cloud_names_its_source():
    for cloud in ("gke", "eks"):
        for name in pm.PHASES:
            assert pm.phase(cloud, name).source.strip()


def test_a_resize_to_the_same_count_takes_no_time_and_direction_picks_the_figure():
    assert pm.resize_seconds("gke", 8, 8) == 0.0
    assert pm.resize_seconds("gke", 8, 16) == 240 + 0.5 * 8
    assert pm.resize_seconds("gke", 16, 8) == 120 + 0.1 * 8


def spec_at(stack: str, nodes: int):
    sec = sections(stack)
    sec["cluster"]["node_count"] = nodes
    return load_spec(to_config(sec))


def test_the_stack_estimate_reads_the_model_for_its_cloud_and_node_count():
    small, big = estimate(spec_at("gke-64-ghcr", 4)), estimate(spec_at("gke-64-ghcr", 256))
    assert small.provision_hours == pytest.approx(pm.provision_seconds("gke", 4) / 3600)
    assert big.provision_hours == pytest.approx(pm.provision_seconds("gke", 256) / 3600)
    assert big.teardown_hours == pytest.approx(pm.teardown_seconds("gke", 256) / 3600)
    eks = estimate(spec_at("eks-30-topology", 30))
    assert eks.provision_hours == pytest.approx((946 + 180) / 3600)


def test_the_plan_states_the_figures_it_used():
    lines = pm.figures_used("eks")
    assert lines[0].startswith("eks create: 886 s + 2 s/node (seed topology study")
    assert pm.figures_brief("gke") == (
        "gke: create 974 s + 0.5 s/node, operators 180 s, teardown 360 s + 0.2 s/node "
        "(sources in infra/data/provisioning.yaml)")
