"""Comparing runs: shared metrics, refusal on different experiments, config differences."""

from __future__ import annotations

import pytest
from seed_data import CHONK, PULLING, RUN1_4, STREAMING, WITHOUT_STREAMING, make_harness_run

from analysis.compare import compare_runs, differences, observations
from analysis.errors import ExperimentMismatch
from analysis.pipeline import load_runs


def test_streaming_against_not_streaming() -> None:
    without, streaming = load_runs([WITHOUT_STREAMING, STREAMING])
    result = compare_runs([without, streaming])
    row = result.rows.set_index(["metric", "key"]).loc[
        ("pull_seconds", "ensemble-amg2023:spack-skylake")]
    pulls_a = without.table("pulls")
    pulls_b = streaming.table("pulls")
    amg = "ensemble-amg2023:spack-skylake"
    assert row["n_a"] == 4 and row["n_b"] == 4
    assert row["median_a"] == pulls_a.loc[pulls_a["image"] == amg, "pull_seconds"].median()
    assert row["median_b"] == pulls_b.loc[pulls_b["image"] == amg, "pull_seconds"].median()
    assert row["effect_size"] == 1.0  # every streaming pull of this first pull was slower
    assert set(result.rows["metric"]) >= {"pull_seconds", "time_to_started_seconds",
                                          "app_seconds", "app_fom"}
    assert result.config_differences == {"image_streaming": {"without-streaming-4": "false",
                                                             "streaming-4": "true"}}


def test_different_experiments_are_refused_unless_forced() -> None:
    datas = load_runs([RUN1_4, STREAMING])
    with pytest.raises(ExperimentMismatch, match=r"experiment definitions differ between "
                       r"run1-4, streaming-4 \(keys: apps, images, kinds\); .* --force"):
        compare_runs(datas)
    forced = compare_runs(datas, force=True)
    assert forced.rows.empty and "images" in forced.experiment_differences


def test_harness_runs_compare_recorded_definitions(tmp_path) -> None:
    a = make_harness_run(tmp_path / "a", run_id="r-a")
    b = make_harness_run(tmp_path / "b", run_id="r-b",
                         stack_config={"cluster": {"machine_type": "n2-standard-16", "nodes": 4}})
    c = make_harness_run(tmp_path / "c", run_id="r-c",
                         experiment={"kind": "image-pull", "images": [CHONK.format(1)]})
    result = compare_runs(load_runs([a, b]))
    assert result.config_differences == {
        "cluster.machine_type": {"r-a": "n1-standard-16", "r-b": "n2-standard-16"}}
    assert (result.rows["ratio"] == 1.0).all()  # same events: every median is equal
    with pytest.raises(ExperimentMismatch):
        compare_runs(load_runs([a, c]))


def test_observations_exclude_cache_hits_and_system_images() -> None:
    (data,) = load_runs([PULLING / "run4" / "4"])
    obs = observations(data)
    assert set(obs["key"]) == {"9-layers-size-1176249324-bytes"}


def test_differences_flattens_nested_documents() -> None:
    diff = differences({"a": {"x": {"y": 1}, "z": 2}, "b": {"x": {"y": 2}, "z": 2}})
    assert diff == {"x.y": {"a": 1, "b": 2}}
