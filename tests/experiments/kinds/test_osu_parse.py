"""OSU launcher logs against the seed's hand-assembled times.log."""

from __future__ import annotations

import math

import pytest

from experiments.kinds.osu.parse import classify_scaling, osu_tables, parse_osu_log, read_times_log
from tests.analysis.seed_data import OSU


@pytest.fixture(scope="module")
def tables():
    return osu_tables(sorted(OSU.glob("size-*.log")))


class TestWallTimes:
    """Wall times equal times.log at the precision the seed recorded them."""

    def test_equal_to_times_log(self, tables) -> None:
        wall, _, _ = tables
        seed = read_times_log(OSU / "times.log")
        seed = seed[seed["nodes"].isin([4, 16, 64])]
        merged = seed.merge(wall, on=["benchmark", "nodes"], suffixes=("_seed", "_ours"))
        assert len(merged) == len(seed) == 21 + 21 + 22
        tolerance = 0.5 * 10.0 ** (-merged["decimals"])
        assert ((merged["wall_seconds_ours"] - merged["wall_seconds_seed"]).abs() < tolerance).all()

    def test_hand_truncated_value_is_equal_only_at_its_precision(self) -> None:
        seed = read_times_log(OSU / "times.log")
        row = seed[(seed["benchmark"] == "osu_multi_lat") & (seed["nodes"] == 16)].iloc[0]
        assert (row["wall_seconds"], row["decimals"]) == (2776, 0)  # from `real 46m16.204s`

    def test_truncated_log_keeps_its_rows_and_flags_the_cut(self, tables) -> None:
        wall, metrics, _ = tables
        cut = wall[(wall["nodes"] == 64) & (wall["benchmark"] == "osu_allreduce")].iloc[0]
        assert not cut["complete"] and math.isnan(cut["wall_seconds"])
        partial = metrics[(metrics["nodes"] == 64) & (metrics["benchmark"] == "osu_allreduce")]
        assert list(partial["size_bytes"]) == [4] and partial["value"].iloc[0] == 257460.91


class TestTables:
    """Each OSU table shape becomes tidy (benchmark, size, metric, value) rows."""

    def test_latency_rows(self) -> None:
        log = parse_osu_log((OSU / "size-4.log").read_text())
        rows = [m for m in log.metrics if m["benchmark"] == "osu_get_acc_latency"]
        assert [r["size_bytes"] for r in rows][:3] == [1, 2, 4] and len(rows) == 23
        assert rows[0]["metric"] == "latency_us" and rows[0]["value"] == 186.57
        assert log.nodes == 4 and log.metadata["metricName"] == "network-osu-benchmark"

    def test_other_shapes(self) -> None:
        log = parse_osu_log((OSU / "size-4.log").read_text())
        by = {(m["benchmark"], m["metric"]): m for m in log.metrics}
        assert by[("osu_barrier", "avg_latency_us")]["value"] == 2953.16
        assert by[("osu_ibarrier", "overlap_pct")]["value"] == 48.33
        assert by[("osu_init", "avg_ms")]["value"] == 246.0
        assert {m["metric"] for m in log.metrics if m["benchmark"] == "osu_mbw_mr"} == {
            "mb_s", "messages_s"}


class TestScaling:
    """The stated classification rule, on its edges and on the seed."""

    def test_rule(self) -> None:
        nodes = [4, 8, 16, 32, 64]
        assert classify_scaling(nodes, [10, 11, 10.5, 12, 11])[0] == "flat"
        assert classify_scaling(nodes, [1, 4, 16, 64, 256])[0] == "superlinear"  # slope 2
        assert classify_scaling(nodes, [1, 2, 4, 8, 16])[0] == "growing"  # slope 1
        assert classify_scaling(nodes, [1, 9, 2, 8, 1.5])[0] == "noisy"
        assert classify_scaling([4, 8], [1, 2])[0] == "insufficient"

    def test_seed_collectives_grow_and_point_to_point_is_flat(self, tables) -> None:
        wall, _, _ = tables
        cls = {b: classify_scaling(g["nodes"].astype(float).tolist(), g["wall_seconds"].tolist())[0]
               for b, g in wall.dropna(subset=["wall_seconds"]).groupby("benchmark")}
        assert cls["osu_latency"] == cls["osu_bw"] == "flat"  # 2 ranks at any cluster size
        assert cls["osu_allgather"] == cls["osu_barrier"] == "superlinear"
