"""`benchmarks/fit_durations.py --runs`: the harness's per-step overhead refitted from collected
runs, next to (and with `--write-harness` into) the committed `harness:` figures.

The run is `harness_run.make_pulling_run` (its docstring has the designed times): recorder 1 s
after each workload, uploads of 9 s, cache clears of 8 s, one turn-around of 27 s of which
Pulumi's own part is 10 s.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml
from seed_data import RUN1_4

from tests.analysis.harness_run import make_pulling_run
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import fit_durations  # noqa: E402


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_pulling_run(tmp_path, monkeypatch)


@pytest.fixture
def durations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the committed durations.yaml for the script to write (never the real one)."""
    copy = tmp_path / "durations.yaml"
    shutil.copy(fit_durations.OUT, copy)
    monkeypatch.setattr(fit_durations, "OUT", copy)
    monkeypatch.setattr(fit_durations, "ROOT", tmp_path)  # for the relative path it prints
    return copy


def fit(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["fit_durations.py", *map(str, args)])
    try:
        code = fit_durations.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().out


def test_measured_pieces_are_printed_next_to_the_committed_ones(run, durations, monkeypatch,
                                                                capsys):
    committed = yaml.safe_load(durations.read_text())["harness"]
    before = durations.read_bytes()
    code, out = fit(monkeypatch, capsys, "--runs", run)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "harness overhead measured on 1 run(s): gke-pull/20241110T060800Z"
    assert lines[3:] == [
        f"recorder_seconds | {committed['recorder_seconds']:.1f} | 1.0 | 2 | 1-1",
        f"upload_seconds | {committed['upload_seconds']:.1f} | 9.0 | 2 | 9-9",
        f"cache_clear_seconds | {committed['cache_clear_seconds']:.1f} | 8.0 | 2 | 8-8",
        "pulumi_seconds | not in the model | 10.0 | 1 | 10-10",
        "turnaround_seconds | not in the model | 27.0 | 1 | 27-27",
    ]
    assert durations.read_bytes() == before  # nothing written without --write-harness


def test_write_harness_replaces_only_the_measured_figures(run, durations, monkeypatch, capsys):
    original = yaml.safe_load(durations.read_text())
    code, out = fit(monkeypatch, capsys, "--runs", run, "--write-harness")
    assert code == 0
    assert out.splitlines()[-1] == ("wrote recorder_seconds, upload_seconds, cache_clear_seconds "
                                    "into durations.yaml harness:")
    written = yaml.safe_load(durations.read_text())
    assert written["harness"] == {
        "source": "measured on harness runs: gke-pull/20241110T060800Z "
                  "(benchmarks/fit_durations.py --runs: the median over up to 2 steps)",
        "recorder_seconds": 1.0, "upload_seconds": 9.0, "cache_clear_seconds": 8.0}
    assert {k: v for k, v in written.items() if k != "harness"} == {
        k: v for k, v in original.items() if k != "harness"}
    assert durations.read_text().startswith(fit_durations.HEADER)


def test_a_seed_fit_keeps_the_measured_block(run, durations, monkeypatch, capsys):
    """After --write-harness, a fit from the seed data (which has no harness run) must not put
    the assumptions back."""
    fit(monkeypatch, capsys, "--runs", run, "--write-harness")
    measured = yaml.safe_load(durations.read_text())["harness"]
    model = {"harness": {"source": "assumed", "recorder_seconds": 7.0}}
    fit_durations.keep_measured_harness(model)
    assert model == {"harness": measured}


def test_an_assumed_block_is_the_fits_own(durations):
    model = {"harness": {"source": "assumed", "recorder_seconds": 7.0}}
    fit_durations.keep_measured_harness(model)
    assert model == {"harness": {"source": "assumed", "recorder_seconds": 7.0}}


def test_runs_that_time_no_step_exit_1(durations, monkeypatch, capsys):
    code, out = fit(monkeypatch, capsys, "--runs", RUN1_4)
    assert code == 1
    assert out.splitlines() == [
        f"not timed: {RUN1_4}: harness overhead not recorded (no step statuses in this "
        "layout); pull gap (last Pulled to next image's first Pulling) median 10 s over 1 pair "
        "(seed loop, plain at this node count: 10-37 s)",
        "no run holds a step timeline (steps/<step>/status.json from the results bucket); "
        "nothing to compare or write",
    ]


def test_write_harness_needs_runs(durations, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["fit_durations.py", "--write-harness"])
    with pytest.raises(SystemExit) as exc:
        fit_durations.main()
    assert exc.value.code == 2
    assert "--write-harness needs --runs DIR [DIR...]" in capsys.readouterr().err
