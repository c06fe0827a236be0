"""Run directories of both layouts are found, and bad ones are refused with one clear line."""

from __future__ import annotations

import json

import pytest
from seed_data import OSU, PULLING, RUN1_4, STREAMING, TOPOLOGY, WITHOUT_STREAMING

from analysis.errors import AnalysisError, BadInput
from analysis.load import load_run
from analysis.rundir import RunDir


class TestSeedLayouts:
    """`study analyze` works on the seed's own directories."""

    def test_pull_dir(self) -> None:
        run = RunDir.open(RUN1_4)
        assert (run.label, run.nodes, run.layout, run.kinds) == ("run1-4", 4, "seed", ["pulls"])

    def test_app_dir_with_false_start(self) -> None:
        run = RunDir.open(WITHOUT_STREAMING)
        assert len(run.event_files) == 2 and run.kinds == ["pulls", "app"]

    def test_topology_tree_and_osu_dir(self) -> None:
        assert RunDir.open(TOPOLOGY / "data").kinds == ["topology"]
        osu = RunDir.open(OSU)
        assert osu.kinds == ["osu"] and osu.osu_times == OSU / "times.log"
        assert [log.path.name for log in osu.logs] == ["size-4.log", "size-16.log", "size-64.log"]

    def test_derived_config_shows_what_differs(self) -> None:
        config = load_run(RunDir.open(PULLING / "run4" / "4")).stack_config()
        assert config["image_streaming"] == "true" and config["local_ssd"] == "false"
        assert config["registry"] == "us-central1-docker.pkg.dev" and config["nodes"] == 4
        assert load_run(RunDir.open(STREAMING)).experiment()["apps"] == ["amg"]


class TestHarnessLayout:
    """The collector's layout: provenance, events, nodes, steps and step logs."""

    def test_everything_is_found(self, harness_run) -> None:
        run = RunDir.open(harness_run)
        assert (run.label, run.stack, run.layout, run.nodes) == ("r-0001", "gke-small", "study", 4)
        assert run.kinds == ["pulls", "osu", "topology"]
        topo = next(log for log in run.logs if log.kind == "topology")
        assert topo.step == "topology-kary-1" and topo.params["iteration"] == 3

    def test_tables_carry_step_and_params(self, harness_run) -> None:
        data = load_run(RunDir.open(harness_run))
        pulls = data.table("pulls")
        small = pulls[pulls["image"] == "9-layers-size-1176249324-bytes"]
        assert set(small["step"]) == {"pull-small"}
        assert pulls[pulls["image"] == "9-layers-size-2770722493-bytes"]["step"].isna().all()
        # The studied set comes from the experiment definition, so system pulls are not studied.
        assert set(pulls.loc[pulls["role"] == "studied", "image"]) == {
            "9-layers-size-1176249324-bytes", "9-layers-size-2770722493-bytes"}
        topo = data.table("topology")
        assert set(topo["uid"]) == {"kary-1-5"} and set(topo["iteration"]) == {3}
        assert data.stack_config() == {"cluster": {"machine_type": "n1-standard-16", "nodes": 4}}


class TestRefusals:
    """Missing or malformed inputs give one line naming the file, value and what is allowed."""

    def test_empty_directory(self, tmp_path) -> None:
        with pytest.raises(AnalysisError, match=r"no run data found; expected provenance.json"):
            RunDir.open(tmp_path)

    def test_not_a_directory(self, tmp_path) -> None:
        with pytest.raises(AnalysisError, match="no such file or directory"):
            RunDir.open(tmp_path / "missing")

    def test_bad_provenance(self, harness_run) -> None:
        (harness_run / "provenance.json").write_text("[1, 2]")
        with pytest.raises(BadInput, match=r"provenance.json: got 'list'; expected a JSON object"):
            RunDir.open(harness_run)

    def test_bad_nodes(self, harness_run) -> None:
        (harness_run / "nodes.json").write_text(json.dumps({"items": "none"}))
        with pytest.raises(BadInput, match=r"nodes.json \(items\): got 'none'; expected the v1 List"):
            RunDir.open(harness_run)
