"""`benchmarks/fit_durations.py --runs`: the harness's per-step overhead refitted from collected
runs, next to (and with `--write-harness` into) the committed `harness:` figures.

The run is `harness_run.make_pulling_run` (its docstring has the designed times): each
recorder done 2 s after its workload (06:14:39 -> 06:14:41, 06:15:10 -> 06:15:12), uploads of
9 s (06:14:47-06:14:56, 06:15:13-06:15:22), cache clears of 4 s (step 1's pods all Scheduled
06:14:25, Pulling 06:14:29) and 5 s (step 2's Scheduled 06:14:47, Pulling 06:14:51 once and
06:14:52 three times: 4, 5, 5, 5), median 4.5; one turn-around, Pulumi's alone, of 6 s
(06:14:41 -> 06:14:47).
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
        f"recorder_seconds | {committed['recorder_seconds']:.1f} | 2.0 | 2 | 2-2",
        f"upload_seconds | {committed['upload_seconds']:.1f} | 9.0 | 2 | 9-9",
        f"cache_clear_seconds | {committed['cache_clear_seconds']:.1f} | 4.5 | 2 | 4-5",
        "pulumi_seconds | not in the model | 6.0 | 1 | 6-6",
    ]
    assert durations.read_bytes() == before  # nothing written without --write-harness


def test_write_harness_replaces_only_the_measured_figures(run, durations, monkeypatch, capsys):
    original = yaml.safe_load(durations.read_text())
    code, out = fit(monkeypatch, capsys, "--runs", run, "--write-harness")
    assert code == 0
    assert out.splitlines()[-1] == ("wrote recorder_seconds, upload_seconds, cache_clear_seconds "
                                    "into durations.yaml harness:")
    written = yaml.safe_load(durations.read_text())
    run_name = "measured on harness runs: gke-pull/20241110T060800Z"

    def measured(seconds: float) -> dict:
        """Each measured figure is its one piece (the assumed pieces it replaces go)."""
        return {"measured": {"seconds": seconds,
                             "source": f"{run_name} (the median over 2 measured steps)"}}

    assert written["harness"] == {
        "source": f"{run_name} (benchmarks/fit_durations.py --runs: the median over up to 2 "
                  "steps)",
        "recorder_seconds": 2.0, "upload_seconds": 9.0, "cache_clear_seconds": 4.5,
        "pieces": {"recorder": measured(2.0), "upload": measured(9.0),
                   "cache_clear": measured(4.5)}}
    assert {k: v for k, v in written.items() if k != "harness"} == {
        k: v for k, v in original.items() if k != "harness"}
    assert durations.read_text().startswith(fit_durations.HEADER)


def test_a_preparation_steps_recorder_is_no_recorder_figure(run, durations, monkeypatch,
                                                           capsys):
    """A pre-pull recorded 06:13:40 -> 06:14:20 (its recorder waited for the operators: a
    40 s recording) beside the operators is left out: the recorder median stays the measured
    steps' 2 s over 2 steps."""
    import json

    from experiments.pernode import PREPULL_STEP

    status = {"step": PREPULL_STEP, "kind": "pulling", "status": "succeeded",
              "started_at": "2024-11-10T06:13:00Z", "finished_at": "2024-11-10T06:13:40Z",
              "recorder_started_at": "2024-11-10T06:14:10+00:00",
              "recorder_finished_at": "2024-11-10T06:14:20+00:00"}
    (run / "steps" / PREPULL_STEP).mkdir()
    (run / "steps" / PREPULL_STEP / "status.json").write_text(json.dumps(status))
    rows = json.loads((run / "steps.json").read_text())
    (run / "steps.json").write_text(json.dumps([{**status, "params": {}}, *rows]))
    code, out = fit(monkeypatch, capsys, "--runs", run)
    assert code == 0
    committed = yaml.safe_load(durations.read_text())["harness"]
    assert out.splitlines()[3] == (
        f"recorder_seconds | {committed['recorder_seconds']:.1f} | 2.0 | 2 | 2-2")


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
