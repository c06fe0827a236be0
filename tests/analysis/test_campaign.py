"""`study analyze` of a campaign directory: each member read by the ordinary analysis, and the
by-node-count views the seed studies drew by hand, on the seed's own lines.

The members are built the way `study campaign run` lays them out (one directory per member and a
provenance.json naming its stack and node count) from the seed fixtures: the OSU study's
per-size launcher logs (operator-experiments google/kubecon run1 size-4.log and size-16.log, one
size per member, as a campaign runs them), the topology study's GKE and EKS 6-node runs
(flux-distribute raw-max-6, raw-exact-6-aws) and the pulling study's run1 at 4 nodes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analysis.campaign import analyze_campaign, by_node_count, is_campaign_dir, load
from analysis.errors import AnalysisError
from analysis.pipeline import load_runs
from analysis.tables import combine
from tests.analysis.seed_data import OSU, RUN1_4, TOPOLOGY


def campaign_dir(root: Path, members: list[tuple[str, str, int, Path | list[Path]]]) -> Path:
    d = root / "results" / "campaigns" / "seed" / "20261201T000000Z"
    d.mkdir(parents=True)
    (d / "campaign.json").write_text("{}\n")
    rows = []
    for name, stack, nodes, source in members:
        target = d / name
        if isinstance(source, list):
            target.mkdir()
            for f in source:
                shutil.copy(f, target / f.name)
        else:
            shutil.copytree(source, target)
        rows.append({"name": name, "stack": stack, "nodes": nodes, "run_dir": name})
    rows.append({"name": "osu-n64", "stack": "gke-64-osu", "nodes": 64, "run_dir": ""})
    (d / "provenance.json").write_text(json.dumps({"members": rows}))
    return d


@pytest.fixture
def osu_campaign(tmp_path):
    return campaign_dir(tmp_path, [
        ("gke-64-osu-n4", "gke-64-osu", 4, [OSU / "size-4.log"]),
        ("gke-64-osu-n16", "gke-64-osu", 16, [OSU / "size-16.log"]),
    ])


def test_a_campaign_directory_is_recognised_and_its_unrun_members_left_out(osu_campaign):
    assert is_campaign_dir(osu_campaign)
    assert [m.name for m in load(osu_campaign).members] == ["gke-64-osu-n4", "gke-64-osu-n16"]


def test_osu_wall_time_by_node_count_equals_each_sizes_own_analysis(osu_campaign):
    summary = by_node_count(load(osu_campaign).tables)["campaign_osu"]
    whole = combine(load_runs([OSU]))["osu_wall"]
    for nodes in (4, 16):
        mine = summary[summary["nodes"] == nodes].set_index("benchmark")["wall_seconds"]
        seed = (whole[(whole["nodes"] == nodes)].dropna(subset=["wall_seconds"])
                .groupby("benchmark")["wall_seconds"].median())
        assert mine.sort_index().to_dict() == seed.sort_index().to_dict()
    assert set(summary["stack"]) == {"gke-64-osu"}


def test_topology_by_design_and_node_count_keeps_each_cloud_apart(tmp_path):
    d = campaign_dir(tmp_path, [
        ("gke-6-topology-n6", "gke-6-topology", 6, TOPOLOGY / "data" / "raw-max-6"),
        ("eks-6-topology-n6", "eks-6-topology", 6, TOPOLOGY / "data" / "raw-exact-6-aws"),
    ])
    topo = by_node_count(load(d).tables)["campaign_topology"]
    assert set(topo["stack"]) == {"gke-6-topology", "eks-6-topology"}
    own = combine(load_runs([TOPOLOGY / "data" / "raw-exact-6-aws"]))["topology_medians"]
    eks = topo[topo["stack"] == "eks-6-topology"]
    key = ["topology", "nodes", "event", "size_gb"]
    assert (eks.set_index(key)["median_seconds"].sort_index().to_dict()
            == own.set_index(key)["median_seconds"].sort_index().to_dict())


def test_pulls_and_spread_by_node_count_and_the_figures(tmp_path, osu_campaign):
    d = campaign_dir(tmp_path / "p", [("gke-64-ghcr-n4", "gke-64-ghcr", 4, RUN1_4)])
    result = analyze_campaign(d, tmp_path / "out")
    pulls = result.tables["campaign_pulls"]
    own = combine(load_runs([RUN1_4]))["pull_medians"]
    assert sorted(pulls["median_pull_seconds"]) == sorted(own["median_pull_seconds"])
    assert set(pulls["nodes"]) == {4}
    spread = result.tables["campaign_spread"]
    assert set(spread["stage"]) >= {"pulling", "pulled"}
    names = {f.name for f in result.figures}
    assert {"pull_time_vs_size_linear", "event_spread"} <= names
    assert [(s.name, s.reason) for s in result.skipped if s.name.startswith("campaign")] == [
        ("campaign_spread_vs_nodes", "the campaign has one node count")]
    assert (tmp_path / "out" / "tables" / "campaign_pulls.parquet").is_file()


def test_the_osu_figure_is_drawn_across_the_members(tmp_path, osu_campaign):
    result = analyze_campaign(osu_campaign, tmp_path / "out")
    assert "osu_wall_scaling" in {f.name for f in result.figures}


def test_a_campaign_with_no_member_run_is_one_line(tmp_path):
    d = campaign_dir(tmp_path, [])
    with pytest.raises(AnalysisError) as info:
        load(d)
    assert str(info.value) == f"{d}: no member of the campaign has a run directory to analyse"


def test_the_spread_against_node_count_is_drawn_with_two_or_more_counts(tmp_path):
    """Rendering only (Agg), as every figure test: one line per stage and stack."""
    import pandas as pd

    from analysis.campaign import spread_vs_nodes
    from analysis.figures import Figure

    summary = {"campaign_spread": pd.DataFrame({
        "stack": ["gke"] * 4, "nodes": [4, 16, 4, 16], "stage": ["pulled", "pulled",
                                                                "started", "started"],
        "median_spread_seconds": [1.0, 3.0, 2.0, 5.0], "max_spread_seconds": [1, 3, 2, 5],
        "images": [6, 6, 6, 6]})}
    (fig,) = spread_vs_nodes(summary, tmp_path)
    assert isinstance(fig, Figure)
    assert fig.png.is_file()
    assert fig.svg.is_file()
