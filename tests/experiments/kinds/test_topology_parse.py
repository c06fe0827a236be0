"""Topology logs against the seed's own parsed csv and design file."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from experiments.kinds.topology.parse import parse_topology_log, topology_rows, topology_table
from tests.analysis.seed_data import TOPO_AWS6, TOPO_MAX6, TOPOLOGY

KEYS = ["uid", "topology", "iteration", "nodes", "event", "size_gb"]


class TestAgainstSeedCsv:
    """Every (design, iteration, event, size) row equals run-analysis.py's output."""

    @pytest.mark.parametrize(("log", "parsed"), [
        (TOPO_MAX6, "parsed-max-6"), (TOPO_AWS6, "parsed-exact-6-aws")])
    def test_rows_equal_seed_csv(self, log, parsed) -> None:
        seed = pd.read_csv(TOPOLOGY / "data" / parsed / "topologies-events.csv", index_col=0)
        ours = topology_table([log])
        assert len(ours) == len(seed)
        merged = seed.merge(ours, on=KEYS, how="outer", suffixes=("_seed", "_ours"),
                            indicator=True)
        assert (merged["_merge"] == "both").all()
        assert (merged["time_seconds_seed"] == merged["time_seconds_ours"]).all()


class TestTree:
    """Depth and fan-out of the overlay diagram agree with the seed's design file."""

    def test_depth_matches_design_levels(self) -> None:
        designs = json.loads((TOPOLOGY / "kary-designs.json").read_text())
        expected = {(d["nodes"], d["topo"]): (max(int(k) for k in d["levels"]),
                                             max(len(v) for v in d["levels"].values()))
                    for d in designs}
        for log in (TOPO_MAX6, TOPO_AWS6):
            parsed = parse_topology_log(log.read_text())
            depth, widest_level = expected[(parsed.nodes, parsed.description)]
            assert parsed.depth == depth
            k = int(parsed.description.split(":")[1])
            assert parsed.max_fanout == k  # a full k-ary tree's fan-out is k
            assert parsed.max_fanout <= widest_level

    def test_script_echo_lines_are_ignored(self) -> None:
        text = TOPO_AWS6.read_text()
        assert 'echo "EVENT create-archive-${size}"' in text  # the rendered script repeats markers
        parsed = parse_topology_log(text)
        assert len(parsed.timings) == 40 and parsed.description == "kary:2"


class TestHarnessLines:
    """The harness's machine-readable STUDY_TIMING lines parse like the seed's `time` output."""

    def test_timing_lines(self) -> None:
        text = ("NODES\n6\nTOPOLOGY description\nkary:2\n"
                'STUDY_TIMING {"event": "distribute-all-nodes", "size_gb": 2, "seconds": 5.25}\n')
        rows = topology_rows(parse_topology_log(text), None, 0, None)
        assert rows == [{"uid": "kary-2-6", "topology": "kary-2", "iteration": 0, "nodes": 6,
                         "event": "distribute-all-nodes", "size_gb": 2, "time_seconds": 5.25,
                         "tree_depth": None, "max_fanout": None}]

    def test_bad_timing_line_names_file_line_and_shape(self) -> None:
        """A line the parser cannot read is a recorded problem, never an exception."""
        parsed = parse_topology_log('NODES\nSTUDY_TIMING {"event": 1}\n', "step.log")
        (problem,) = parsed.problems
        assert re.fullmatch(r"step.log:2: got .*expected STUDY_TIMING.*", problem)
        assert parsed.timings == []

    def test_cut_short_event_has_no_time(self) -> None:
        parsed = parse_topology_log("EVENT create-archive-1\n\nreal\t0m4.0s\nEVENT clean-all-nodes-1\n")
        assert parsed.timings == [("create-archive", 1, 4.0), ("clean-all-nodes", 1, None)]
