"""`study analyze results/campaigns/<name>/<run-id> --out DIR` takes the campaign path."""

from __future__ import annotations

from typer.testing import CliRunner

from study.cli import app
from tests.analysis.seed_data import OSU
from tests.analysis.test_campaign import campaign_dir


def test_analyze_of_a_campaign_directory_writes_the_by_node_count_tables(tmp_path):
    d = campaign_dir(tmp_path, [
        ("gke-64-osu-n4", "gke-64-osu", 4, [OSU / "size-4.log"]),
        ("gke-64-osu-n16", "gke-64-osu", 16, [OSU / "size-16.log"]),
    ])
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", str(d), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"member gke-64-osu-n4: gke-64-osu at 4 nodes, from {d / 'gke-64-osu-n4'}" in \
        res.stderr.replace("\n", " ")
    assert (out / "tables" / "campaign_osu.parquet").is_file()
    assert (out / "figures" / "osu_wall_scaling.png").is_file()
