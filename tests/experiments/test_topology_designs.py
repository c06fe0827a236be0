"""Overlay designs match the seed's kary-designs.json and the trees Flux printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments import checks
from experiments.topology_designs import designs, leaves, levels, middle, parents, render_tree

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "experiments"


def test_all_265_seed_designs():
    seed = json.loads((FIX / "kary-designs.json").read_text())
    assert len(seed) == 265
    for d in seed:
        want = [[int(r) for r in d["levels"][str(i)]] for i in range(len(d["levels"]))]
        assert levels(d["topo"], d["nodes"]) == want, (d["topo"], d["nodes"])


@pytest.mark.parametrize("fixture,design,n", [
    ("overlay-max-6-6-binomial-1.txt", "binomial", 6),
    ("overlay-exact-30-30-kary-3-1.txt", "kary:3", 30),
])
def test_render_tree_is_what_flux_printed(fixture, design, n):
    assert render_tree(design, n) == checks.overlay_section((FIX / fixture).read_text())


def test_designs_for_a_node_count():
    assert designs(6, 3) == ["binomial", "kary:1", "kary:2", "kary:3"]
    assert designs(4) == ["binomial", "kary:1", "kary:2", "kary:3"]
    assert len(designs(30, 15)) == 16


def test_leaves_and_middle():
    assert leaves("kary:2", 6) == [3, 4, 5]
    assert leaves("kary:1", 4) == [3]  # the chain: one leaf, the seed's "-r 4" case
    assert middle("kary:1", 5) == [2]
    assert middle("kary:5", 6) == []  # flat: no middle level


def test_bad_design():
    with pytest.raises(ValueError, match="allowed: 'binomial' or 'kary:K'"):
        parents("kary:0", 4)
