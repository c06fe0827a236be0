"""The HTML report is self-contained and renders, figures included, in headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html import escape as html_escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from seed_data import STREAMING, WITHOUT_STREAMING

from analysis.pipeline import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return report([WITHOUT_STREAMING, STREAMING], tmp_path_factory.mktemp("report"))


def test_only_data_uris(page: Path) -> None:
    html = page.read_text()
    parser = _Refs()
    parser.feed(html)
    assert parser.refs and all(ref.startswith("data:image/png;base64,") for ref in parser.refs)
    assert "http://" not in html and "https://" not in html
    for ref in parser.refs:
        assert base64.b64decode(ref.split(",", 1)[1])[:4] == b"\x89PNG"


def test_tables_and_comparison_present(page: Path) -> None:
    html = page.read_text()
    assert "Shared metrics" in html and "image_streaming" in html
    assert html.count("<figure") == 5


def _render(path: Path, profile: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
           "--virtual-time-budget=5000", "--dump-dom", path.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True).stdout


def test_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    dom = _render(page, tmp_path / "profile")
    assert 'data-figures="5"' in dom and 'data-figures-ok="yes"' in dom
    assert "ensemble-amg2023:spack-skylake" in dom


def test_broken_figure_is_detected(page: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r"base64,[A-Za-z0-9+/=]{40}", "base64,AAAA", page.read_text(), count=1))
    dom = _render(broken, tmp_path / "profile")
    assert 'data-figures-ok="no"' in dom


def test_summary_first_config_folded_last(page: Path) -> None:
    """A reader meets what ran and the headline numbers first; JSON documents come last,
    folded."""
    html = page.read_text()
    order = [html.index(mark) for mark in ("<h2>Summary</h2>", "What ran",
                                           "Headline medians (95% bootstrap CI)", "Warnings",
                                           "<h2>Comparison</h2>", "<h2>Figures</h2>",
                                           "<h2>Tables</h2>", "<h2>Configuration</h2>")]
    assert order == sorted(order)
    config = html[html.index("<h2>Configuration</h2>"):]
    assert config.count("<details><summary>Stack configuration</summary>") == 2
    assert "<pre>" not in html[:html.index("<h2>Comparison</h2>")]


def test_every_column_is_explained(page: Path) -> None:
    from analysis.report import COLUMNS

    html = page.read_text()
    shown = set(re.findall(r"<th>([^<]+)</th>", html))
    assert shown <= set(COLUMNS)
    for column in ("n_a", "median_b", "ratio", "effect_size", "missing_started"):
        assert f"<dt>{column}</dt><dd>{html_escape(COLUMNS[column])}</dd>" in html


def test_headline_medians_have_cis(page: Path) -> None:
    from analysis.pipeline import load_runs
    from analysis.report import headline
    from analysis.stats import summarize

    datas = load_runs([WITHOUT_STREAMING, STREAMING])
    heads = headline(datas).set_index(["run", "metric", "key"])
    row = heads.loc[("streaming-4", "pull_seconds", "ensemble-amg2023:spack-skylake")]
    pulls = datas[1].table("pulls")
    values = pulls.loc[(pulls["image"] == "ensemble-amg2023:spack-skylake")
                       & (pulls["role"] == "studied"), "pull_seconds"].dropna()
    expected = summarize(values.to_numpy())
    assert (row["n"], row["median"]) == (expected.n, expected.median)
    assert row["ci_95"] == f"[{expected.ci_low:.4g}, {expected.ci_high:.4g}]"


def test_warnings_and_skipped_figures_are_on_the_page(tmp_path: Path) -> None:
    from seed_data import events_of, jsonl, without_sizes, write_run

    from analysis.pipeline import write_report

    events = without_sizes(events_of(next(STREAMING.glob("events-*.json"))))
    run = write_run(tmp_path / "apps", "capture.jsonl", jsonl(events))
    written = write_report([run], tmp_path / "out")
    html = written.path.read_text()
    assert written.warnings  # the figure skips at least
    for line in written.warnings:
        assert f"<li>{line}</li>" in html.replace("&#x27;", "'")
    assert "<b>Pull time vs image size (log axes)</b> not drawn: no image size is known" in html


class TestHeadlineNote:
    """The caption under the headline medians names what the table holds, nothing else: a
    pull study's page does not promise overlay designs, OSU or figures of merit."""

    def test_pull_runs_name_pulls_only(self, page: Path) -> None:
        html = page.read_text()
        assert ('<p class="note">The kubelet&#x27;s pull time of every studied image, the time '
                "from Pulling to Started of every studied image, each application&#x27;s job "
                "wall time (fluxsubmit) and the applications&#x27; figures of merit; every "
                "metric is in the tables and the comparison.</p>") in html

    def test_one_kind_one_run(self) -> None:
        import pandas as pd

        from analysis.report import headline_note

        heads = pd.DataFrame({"metric": ["osu_wall_seconds", "osu_wall_seconds"]})
        assert headline_note(heads, compared=False) == (
            "Each OSU benchmark's wall time at the largest cluster it finished on; every "
            "metric is in the tables.")


def test_each_osu_benchmark_is_quoted_at_its_largest_cluster() -> None:
    """The fixture's osu_allreduce finished at 4 nodes only (its 64-node wall time is blank):
    the summary quotes it at 4 rather than dropping it for not finishing at 64."""
    from seed_data import OSU

    from analysis.pipeline import load_runs
    from analysis.report import headline

    (data,) = load_runs([OSU])
    wall = data.table("osu_wall").dropna(subset=["wall_seconds"])
    heads = headline([data])
    expected = {f"{bench} nodes={nodes}" for bench, nodes
                in wall.groupby("benchmark")["nodes"].max().items()}
    assert set(heads["key"]) == expected
    assert "osu_allreduce nodes=4" in expected


def test_long_tables_name_the_file_that_holds_them(tmp_path: Path, monkeypatch) -> None:
    """A table cut to its first rows on the page points at a file that holds every row: the
    comparison and the headline medians exist only in the report, so they are written too."""
    import pandas as pd

    from analysis import report as report_module
    from analysis.compare import compare_runs
    from analysis.pipeline import load_runs, write_report
    from analysis.report import headline

    monkeypatch.setattr(report_module, "MAX_ROWS", 2)
    written = write_report([WITHOUT_STREAMING, STREAMING], tmp_path)
    html = written.path.read_text()
    datas = load_runs([WITHOUT_STREAMING, STREAMING])
    expected = {"comparison": compare_runs(datas).rows, "headline": headline(datas)}
    for name, table in expected.items():
        assert (tmp_path / "tables" / f"{name}.parquet").is_file()
        on_disk = pd.read_csv(tmp_path / "tables" / f"{name}.csv")
        assert list(on_disk["key"]) == list(table["key"])
        assert (f"First 2 of {len(table)} rows; the full table is in tables/{name}.csv and "
                ".parquet beside this page.") in html
