"""Every figure renders (Agg) to PNG and SVG from real sample tables; pixels are not checked."""

from __future__ import annotations

from seed_data import OSU, RUN1_4, RUN4_4, STREAMING, TOPOLOGY, WITHOUT_STREAMING

from analysis import figures
from analysis.pipeline import load_runs
from analysis.tables import combine
from experiments.kinds.osu import figures as osu_figures
from experiments.kinds.topology import figures as topology_figures


def test_all_figures_render(tmp_path) -> None:
    datas = load_runs([RUN1_4, RUN4_4, STREAMING, WITHOUT_STREAMING, TOPOLOGY / "data", OSU])
    drawn = figures.draw_all(combine(datas), tmp_path)
    assert {f.name for f in drawn} == {
        "pull_time_vs_size_linear", "pull_time_vs_size_log", "event_spread", "pull_vs_started",
        "topology_step_times", "osu_wall_scaling", "osu_latency", "osu_bandwidth", "app_times"}
    for fig in drawn:
        assert fig.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in fig.svg.read_bytes()[:2000]


def test_osu_figure_states_the_rule(tmp_path) -> None:
    (data,) = load_runs([OSU])
    (fig,) = osu_figures.osu_wall_scaling(combine([data]), tmp_path)
    assert "max/min wall time" in fig.svg.read_text()  # the rule is drawn, not only captioned


def test_no_tables_no_figures(tmp_path) -> None:
    assert figures.draw_all({}, tmp_path) == []


def test_parallel_draws_the_same_figures(tmp_path) -> None:
    """Forked drawers return the same figures, in the same order, as drawing in-process."""
    tables = combine(load_runs([RUN1_4, TOPOLOGY / "data", OSU]))
    serial, skipped_serial = figures.draw_figures(tables, tmp_path / "s", workers=1)
    forked, skipped_forked = figures.draw_figures(tables, tmp_path / "p", workers=2)
    assert [f.name for f in forked] == [f.name for f in serial]
    assert [(f.title, f.caption) for f in forked] == [(f.title, f.caption) for f in serial]
    assert skipped_forked == skipped_serial
    assert all(f.png.is_file() and f.svg.is_file() for f in forked)


def test_osu_panels_count_their_benchmarks(tmp_path) -> None:
    """Each scaling-class panel says how many benchmarks it holds, in words that agree."""
    import re

    (data,) = load_runs([OSU])
    (fig,) = osu_figures.osu_wall_scaling(combine([data]), tmp_path)
    titles = re.findall(r">([a-z]+ \(\d+ benchmarks?\))<", fig.svg.read_text())
    assert titles == ["superlinear (4 benchmarks)", "growing (3 benchmarks)",
                      "flat (14 benchmarks)", "insufficient (1 benchmark)"]


class TestTopologyPanels:
    """A topology panel shows the designs its node count ran, with its own series centred on
    each tick: a 6-node run beside a 30-node one is not squeezed into a quarter of its panel."""

    def test_each_panel_its_own_designs_and_centred_series(self) -> None:
        import pandas as pd

        part = pd.DataFrame({"run": ["six"] * 4, "size_gb": [1, 1, 2, 2],
                             "topology": ["kary-2", "binomial", "kary-2", "binomial"]})
        keys = [("six", 1), ("six", 2), ("thirty", 1), ("thirty", 2)]
        designs, placed = topology_figures.panel_layout(part, keys)
        assert designs == ["binomial", "kary-2"]
        assert placed == [("six", 1, -0.15), ("six", 2, 0.15)]

    def test_one_series_is_not_moved(self) -> None:
        import pandas as pd

        part = pd.DataFrame({"run": ["r"], "size_gb": [1], "topology": ["kary-10"]})
        assert topology_figures.panel_layout(part, [("r", 1), ("r", 2)]) == (["kary-10"], [("r", 1, 0.0)])
