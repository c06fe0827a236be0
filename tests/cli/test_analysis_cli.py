"""`study analyze`, `study compare` and `study report`: results on stdout, one-line errors."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from study.cli import main

_spec = importlib.util.spec_from_file_location(
    "seed_data_cli", Path(__file__).resolve().parents[1] / "analysis" / "seed_data.py")
seed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seed)


def run_study(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run the console script in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["study", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


class TestAnalyze:
    """Tables and figures land under --out; stdout lists them; warnings go to stderr."""

    def test_seed_dir(self, monkeypatch, capsys, tmp_path) -> None:
        code, out, err = run_study(monkeypatch, capsys, "analyze", seed.RUN1_4, "--out", tmp_path)
        assert code == 0
        pulls = pd.read_parquet(tmp_path / "tables" / "pulls.parquet")
        assert set(pulls["run"]) == {"run1-4"}
        assert (tmp_path / "tables" / "completeness.csv").is_file()
        assert (tmp_path / "figures" / "pull_time_vs_size_log.svg").is_file()
        assert "pull_medians" in out and "warning:" not in out
        completeness = pd.read_csv(tmp_path / "tables" / "completeness.csv")
        not_ok = (completeness["status"] != "ok").sum()
        assert not_ok > 0  # the seed's Jobs stacked pods on some nodes
        assert f"warning: run1-4: {not_ok} of {len(completeness)} image/node pairs" in err

    def test_harness_overhead_line(self, monkeypatch, capsys, tmp_path) -> None:
        """One line per run on stderr beside the others: the harness's overhead and the pull
        gap against the seed loop's (the run and its times: tests/analysis/harness_run.py).
        Step 1: recording 2 s (06:14:39 -> 06:14:41), Pulumi's turn-around 6 s (-> 06:14:47),
        its pods' clears 4 s: 12 s; step 2: recording 2 s, clears median 5 s: 7 s; 19 s of the
        47 s from 06:14:25 to 06:15:12; each upload 9 s; step 2's one pull on the results node
        beside step 1's upload for 4 s (14.916 s against its step's other three, median
        16.092 s); the gap the seed's 10 s plus SHIFT_SECONDS."""
        from tests.analysis.harness_run import SHIFT_SECONDS, make_pulling_run

        run = make_pulling_run(tmp_path / "made", monkeypatch)
        capsys.readouterr()  # the recorders' own output while the run was made
        code, out, err = run_study(monkeypatch, capsys, "analyze", run, "--out", tmp_path / "o")
        assert code == 0
        assert ("20241110T060800Z: harness overhead (recording, Pulumi's turn-around, cache "
                "clear) median 12.0 s per step (the 1 of 2 steps with a next step), 19 s in all, "
                "40% of the steps' 47 s; upload median 9 s, beside the next step; 1 of 8 studied "
                "pulls overlapped an upload on the same node (median overlap 4 s): median pull "
                "14.9 s against 16.1 s for the other 3 pulls of the same image; pull gap (last "
                f"Pulled to next image's first Pulling) median {10 + SHIFT_SECONDS} s over 1 "
                "pair (seed loop, plain at this node count: 10-37 s)") in err.splitlines()
        assert "step_timeline" in out and "pull_gaps" in out and "upload_overlap" in out


class TestCompare:
    """Human tables or JSON on stdout; refusals are one line and exit 3."""

    def test_json(self, monkeypatch, capsys) -> None:
        code, out, err = run_study(monkeypatch, capsys, "compare", seed.WITHOUT_STREAMING,
                                   seed.STREAMING, "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert doc["baseline"] == "without-streaming-4" and doc["experiment_match"] is True
        assert doc["config_differences"] == {
            "image_streaming": {"without-streaming-4": "false", "streaming-4": "true"}}
        metrics = {(m["metric"], m["key"]): m for m in doc["metrics"]}
        assert metrics[("pull_seconds", "ensemble-amg2023:spack-skylake")]["n_b"] == 4
        assert metrics[("app_seconds", "amg fluxsubmit")]["ci_low_a"] is None  # n=1: no CI

    def test_human_tables(self, monkeypatch, capsys) -> None:
        code, out, _ = run_study(monkeypatch, capsys, "compare", seed.WITHOUT_STREAMING,
                                 seed.STREAMING)
        assert code == 0
        assert "Stack configuration differences" in out and "image_streaming" in out
        assert "ensemble-amg2023:spack-skylake" in out

    def test_refuses_different_experiments(self, monkeypatch, capsys) -> None:
        code, out, err = run_study(monkeypatch, capsys, "compare", seed.RUN1_4, seed.STREAMING)
        assert code == 3 and out == ""
        assert err.strip() == (
            "error: experiment definitions differ between run1-4, streaming-4 (keys: apps, "
            "images, kinds); compare runs of one experiment, or pass --force")

    def test_force_warns_and_compares(self, monkeypatch, capsys) -> None:
        code, out, err = run_study(monkeypatch, capsys, "compare", seed.RUN1_4, seed.STREAMING,
                                   "--force", "--json")
        assert code == 0 and json.loads(out)["experiment_match"] is False
        assert err.startswith("warning: experiment definitions differ (--force): apps, images")


    def test_no_shared_metric_is_a_plain_line(self, monkeypatch, capsys) -> None:
        code, out, err = run_study(monkeypatch, capsys, "compare", seed.RUN1_4, seed.OSU,
                                   "--force")
        assert code == 0 and "warning: the runs share no metric" in err
        assert "Empty DataFrame" not in out
        assert out.rstrip().endswith("Shared metrics against run1-4\n(none)")


class TestErrors:
    """Bad input: one line naming the file, the value and what is allowed; no traceback."""

    def test_missing_dir(self, monkeypatch, capsys, tmp_path) -> None:
        code, out, err = run_study(monkeypatch, capsys, "analyze", tmp_path / "nope",
                                   "--out", tmp_path / "out")
        assert code == 1 and out == ""
        assert err.strip() == (f"error: {tmp_path / 'nope'}: no such file or directory; pass "
                               "a run directory (results/<stack>/<run-id>/ or a seed data "
                               "directory) or an event file")

    def test_bad_step_log(self, monkeypatch, capsys, tmp_path) -> None:
        run = seed.make_harness_run(tmp_path / "results")
        log = run / "steps" / "topology-kary-1" / "log.txt"
        log.write_text('NODES\n5\nSTUDY-TIMING {"event": "x"}\n')
        code, _, err = run_study(monkeypatch, capsys, "analyze", run, "--out", tmp_path / "o")
        # The line is said and left out; the rest of the run is still analysed.
        assert code == 0 and "Traceback" not in err
        assert (f'warning: r-0001: {log}:3: got \'STUDY-TIMING {{"event": "x"}}\'; expected '
                'STUDY-TIMING {"event": str, "size_bytes": whole GB in bytes, "rc": int, '
                '"seconds": float}\n') in err
        assert (tmp_path / "o" / "tables" / "pulls.parquet").is_file()


class TestReport:
    """report prints the path of one self-contained page."""

    def test_single_run(self, monkeypatch, capsys, tmp_path) -> None:
        code, out, _ = run_study(monkeypatch, capsys, "report", seed.RUN4_4, "--out", tmp_path)
        assert code == 0 and out.strip() == str(tmp_path / "report.html")
        assert "data:image/png;base64," in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("command", ["analyze", "compare", "report"])
def test_help_lists_command(monkeypatch, capsys, command) -> None:
    code, out, _ = run_study(monkeypatch, capsys, command, "--help")
    assert code == 0 and "RUN_DIR" in out


class TestUsage:
    """Too few or repeated run directories are usage errors (exit 2), like compare-stacks."""

    def test_compare_needs_two_runs(self, monkeypatch, capsys) -> None:
        code, out, err = run_study(monkeypatch, capsys, "compare", seed.RUN1_4)
        assert (code, out) == (2, "")
        assert err.strip() == ("error: compare: give at least 2 run directories; the first is "
                               "the baseline")

    @pytest.mark.parametrize("command", ["compare", "analyze", "report"])
    def test_repeated_run_dir(self, monkeypatch, capsys, tmp_path, command) -> None:
        args = [command, seed.RUN1_4, Path(f"{seed.RUN1_4}/")]
        if command != "compare":
            args += ["--out", tmp_path / "o"]
        code, out, err = run_study(monkeypatch, capsys, *args)
        assert (code, out) == (2, "")
        assert f"error: {command}: a run directory is given twice" in err
        assert not (tmp_path / "o").exists()


class TestOutputDir:
    """An --out that cannot be a directory is one line, not an OSError."""

    @pytest.mark.parametrize("command", ["analyze", "report"])
    def test_out_is_a_file(self, monkeypatch, capsys, tmp_path, command) -> None:
        target = tmp_path / "a-file"
        target.write_text("x")
        code, out, err = run_study(monkeypatch, capsys, command, seed.RUN1_4, "--out", target)
        assert (code, out) == (1, "")
        assert err.strip() == (f"error: --out {target}: exists and is not a directory; "
                               "pass a directory")

    def test_refused_report_writes_nothing(self, monkeypatch, capsys, tmp_path) -> None:
        code, _, err = run_study(monkeypatch, capsys, "report", seed.RUN1_4, seed.STREAMING,
                                 "--out", tmp_path / "o")
        assert code == 3 and "experiment definitions differ" in err
        assert not (tmp_path / "o").exists()

    def test_run_dir_of_a_run_that_collected_nothing(self, monkeypatch, capsys,
                                                     tmp_path) -> None:
        run = tmp_path / "results" / "gke-4-nightly" / "20261122T120000Z"
        run.mkdir(parents=True)
        (run / "run-state.json").write_text(json.dumps(
            {"stack": "gke-4-nightly", "status": "preflight-failed"}))
        code, out, err = run_study(monkeypatch, capsys, "analyze", run, "--out", tmp_path / "o")
        assert (code, out) == (1, "")
        assert err.strip() == (f"error: {run}: no run data: the run's status is "
                               "'preflight-failed' and nothing was collected "
                               "(run-state.json only)")


class TestInputsAndLabels:
    """Runs as users have them: event files of any name, DIR=LABEL or --label."""

    def test_event_file_with_label(self, monkeypatch, capsys, tmp_path) -> None:
        target = tmp_path / "capture.ndjson"
        target.write_bytes((seed.RUN1_4 / "events-size-4-1731219229.json").read_bytes())
        code, _, err = run_study(monkeypatch, capsys, "analyze", f"{target}=gke-a", "--out",
                                 tmp_path / "o")
        assert code == 0
        assert set(pd.read_parquet(tmp_path / "o" / "tables" / "pulls.parquet")["run"]) == {
            "gke-a"}
        assert f"read gke-a (pulls; 4 nodes (inventory)) from {target}" in err

    def test_label_option_count_must_match(self, monkeypatch, capsys, tmp_path) -> None:
        code, _, err = run_study(monkeypatch, capsys, "analyze", seed.RUN1_4, "--label", "a",
                                 "--label", "b", "--out", tmp_path)
        assert code == 2
        assert err.strip() == ("error: analyze: --label given 2 times for 1 runs; give one "
                               "label per run, in argument order")

    def test_skipped_figure_is_said(self, monkeypatch, capsys, tmp_path) -> None:
        events = seed.without_sizes(seed.events_of(next(seed.STREAMING.glob("events-*.json"))))
        run = seed.write_run(tmp_path / "apps", "capture.jsonl", seed.jsonl(events))
        code, _, err = run_study(monkeypatch, capsys, "analyze", run, "--out", tmp_path / "o")
        assert code == 0
        assert ("warning: figure pull_time_vs_size_log not drawn: no image size is known: the "
                "tags carry no size and the Pulled messages have none (kubelets before 1.30 do "
                "not print it)\n") in err
        assert not (tmp_path / "o" / "figures" / "pull_time_vs_size_log.png").exists()
        assert (tmp_path / "o" / "figures" / "pull_vs_started.png").is_file()

    def test_compare_match_app(self, monkeypatch, capsys, tmp_path) -> None:
        source = next(seed.STREAMING.glob("events-*.json"))
        gke = seed.write_run(tmp_path / "gke", "events.jsonl", source.read_bytes())
        eks_ref = "123456789012.dkr.ecr.us-east-2.amazonaws.com/ensemble-amg2023:eks"
        eks = seed.write_run(tmp_path / "eks", "events.jsonl", seed.jsonl(
            seed.moved_image(seed.events_of(source), seed.AMG_AR, eks_ref)))
        code, out, _ = run_study(monkeypatch, capsys, "compare", gke, eks, "--match", "app",
                                 "--json")
        assert code == 0
        keys = {(m["metric"], m["key"]) for m in json.loads(out)["metrics"]}
        assert ("pull_seconds", "ensemble-amg2023") in keys

    def test_bad_by_is_one_line(self, monkeypatch, capsys) -> None:
        code, out, err = run_study(monkeypatch, capsys, "compare", seed.RUN1_4, seed.RUN4_4,
                                   "--by", "nodes")
        assert code == 1 and out == ""
        assert err.strip() == "error: --by: got 'nodes'; expected design"


class TestCompareTableShowsCounts:
    """The human comparison shows how many observations stand behind each side's median."""

    def test_counts_beside_medians(self) -> None:
        from analysis.compare import compare_runs
        from analysis.pipeline import load_runs
        from study.cli.compare import _human_tables

        result = compare_runs(load_runs([seed.WITHOUT_STREAMING, seed.STREAMING]))
        _, metrics = _human_tables(result)
        rows = metrics.set_index(["metric", "key"])["n without-streaming-4/run"]
        assert rows[("app_seconds", "amg fluxsubmit")] == "1/1"
        assert rows[("pull_seconds", "ensemble-amg2023:spack-skylake")] == "4/4"
