"""The per-step timeline and the pull gaps: how much of a run was the harness, not the work.

The harness run is `harness_run.make_pulling_run`: statuses written by the real step recorder,
the seed's real pull events renamed to the harness's steps, the harness objects' events in the
exporter's shape; its module docstring tabulates the designed times every value below follows
from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from seed_data import RUN1_4

from analysis.pipeline import analyze, load_runs
from tests.analysis.harness_run import SHIFT_SECONDS, STEPS, make_pulling_run


@pytest.fixture
def pulling_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_pulling_run(tmp_path, monkeypatch)


def timeline_of(run: Path) -> pd.DataFrame:
    (data,) = load_runs([run])
    return data.table("step_timeline").set_index("step")


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


class TestStepTimeline:
    def test_each_steps_split_follows_from_the_recorded_times(self, pulling_run):
        """Step 1: work 06:14:25-06:14:35, recorder done 06:14:36, next workload 06:15:03; its
        clear was created 06:14:17, its upload ran 06:14:39-06:14:48, the next clear 06:14:55."""
        tl = timeline_of(pulling_run)
        assert list(tl.index) == list(STEPS)
        first = tl.loc[STEPS[0]]
        assert (first["work_seconds"], first["recording_seconds"], first["turnaround_seconds"],
                first["overhead_seconds"]) == (10.0, 1.0, 27.0, 28.0)
        assert (first["cache_clear_seconds"], first["upload_seconds"],
                first["pulumi_seconds"]) == (8.0, 9.0, 10.0)
        assert first["note"] == ""

    def test_the_last_step_has_no_turn_around_and_says_so(self, pulling_run):
        last = timeline_of(pulling_run).loc[STEPS[1]]
        assert (last["work_seconds"], last["recording_seconds"], last["overhead_seconds"],
                last["cache_clear_seconds"], last["upload_seconds"]) == (19.0, 1.0, 1.0, 8.0, 9.0)
        assert math.isnan(last["turnaround_seconds"]) and math.isnan(last["pulumi_seconds"])
        assert last["note"] == "last step: no turn-around"

    def test_times_are_the_recorders_own(self, pulling_run):
        """Read from status.json as experiments/recorder.py wrote it, not re-derived."""
        tl = timeline_of(pulling_run)
        for step in STEPS:
            status = json.loads((pulling_run / "steps" / step / "status.json").read_text())
            row = tl.loc[step]
            assert (row["workload_started_at"], row["workload_finished_at"],
                    row["recorder_started_at"], row["recorder_finished_at"]) == tuple(
                utc(status[k]) for k in ("started_at", "finished_at", "recorder_started_at",
                                         "recorder_finished_at"))
            assert (row["step_kind"], row["step_status"], row["harness_step"]) == (
                "pulling", status["status"], False)
        assert tl.loc[STEPS[0], "next_workload_started_at"] == utc("2024-11-10T06:15:03Z")

    def test_a_step_collected_without_its_status_json_keeps_its_work(self, pulling_run):
        """Collected from the cluster rather than the bucket: steps.json has the workload's
        times, nothing has the recorder's."""
        (pulling_run / "steps" / STEPS[0] / "status.json").unlink()
        first = timeline_of(pulling_run).loc[STEPS[0]]
        assert first["work_seconds"] == 10.0
        assert pd.isna(first["recorder_finished_at"]) and math.isnan(first["recording_seconds"])
        assert math.isnan(first["turnaround_seconds"]) and math.isnan(first["overhead_seconds"])
        assert first["note"] == (f"no steps/{STEPS[0]}/status.json (not collected from the "
                                 "bucket): no recorder times")

    def test_without_upload_events_the_upload_and_pulumi_are_blank(self, pulling_run):
        events = pulling_run / "events.jsonl"
        kept = [line for line in events.read_text().splitlines()
                if '"name": "upload-' not in line]
        events.write_text("\n".join(kept) + "\n")
        first = timeline_of(pulling_run).loc[STEPS[0]]
        assert first["turnaround_seconds"] == 27.0
        assert math.isnan(first["upload_seconds"]) and math.isnan(first["pulumi_seconds"])
        assert first["note"] == f"no upload-{STEPS[0]} Job events: upload not timed"

    def test_the_harness_steps_are_marked(self, pulling_run):
        """The pre-pull step is the harness's own: its whole time is overhead."""
        from experiments.pernode import PREPULL_STEP

        rows = json.loads((pulling_run / "steps.json").read_text())
        rows.insert(0, {"step": PREPULL_STEP, "kind": "pulling", "status": "succeeded",
                        "started_at": "2024-11-10T06:13:00Z",
                        "finished_at": "2024-11-10T06:13:40Z", "params": {}})
        (pulling_run / "steps.json").write_text(json.dumps(rows))
        tl = timeline_of(pulling_run)
        assert tl["harness_step"].to_dict() == {PREPULL_STEP: True, STEPS[0]: False,
                                                STEPS[1]: False}
        assert tl.loc[PREPULL_STEP, "work_seconds"] == 40.0


class TestPullGaps:
    def test_seed_gap_is_the_seeds_own(self):
        """converged-computing/container-chonks@fa06749 experiments/pulling/metadata/run1/4:
        the smallest image's last `Pulled` is 06:14:33, the next image's first `Pulling`
        06:14:43; the fit's lowest plain-disk gap at 4 nodes is this pair
        (benchmarks/fit_durations.py `seed_gap_seconds`, from the whole seed runs)."""
        from experiments import duration_model

        (data,) = load_runs([RUN1_4])
        gaps = data.table("pull_gaps")
        assert gaps[["image", "next_image", "gap_seconds"]].values.tolist() == [
            ["9-layers-size-1176249324-bytes", "9-layers-size-2770722493-bytes", 10.0]]
        assert gaps["step"].isna().all()
        assert gaps["gap_seconds"].iloc[0] == duration_model.pulling("plain", 4)[
            "seed_gap_seconds"][0]

    def test_harness_run_pairs_its_steps(self, pulling_run):
        """Step 2's seed events were moved SHIFT_SECONDS later: the seed's 10 s gap plus it."""
        (data,) = load_runs([pulling_run])
        gaps = data.table("pull_gaps")
        assert gaps[["step", "next_step", "gap_seconds"]].values.tolist() == [
            [STEPS[0], STEPS[1], 10.0 + SHIFT_SECONDS]]
        assert (gaps["last_pulled_at"].iloc[0], gaps["next_first_pulling_at"].iloc[0]) == (
            utc("2024-11-10T06:14:33Z"), utc("2024-11-10T06:15:03Z"))


class TestWhereAResearcherLooks:
    def test_summary_line(self, pulling_run):
        from analysis.timeline import overhead_summary

        (data,) = load_runs([pulling_run])
        assert overhead_summary(data) == (
            "harness overhead median 28.0 s per step (the 1 of 2 steps with a next step), "
            "29 s in all, 50% of the steps' 58 s; pull gap (last Pulled to next image's first "
            "Pulling) median 30 s over 1 pair (seed loop, plain at this node count: 10-37 s)")

    def test_seed_summary_says_why_there_is_no_overhead(self):
        from analysis.timeline import overhead_summary

        (data,) = load_runs([RUN1_4])
        assert overhead_summary(data) == (
            "harness overhead not recorded (no step statuses in this layout); pull gap (last "
            "Pulled to next image's first Pulling) median 10 s over 1 pair (seed loop, plain at "
            "this node count: 10-37 s)")

    def test_tables_are_written_like_the_others(self, pulling_run, tmp_path):
        result = analyze([pulling_run], tmp_path / "out", figures=False)
        for name in ("step_timeline", "pull_gaps"):
            parquet = pd.read_parquet(tmp_path / "out" / "tables" / f"{name}.parquet")
            csv = pd.read_csv(tmp_path / "out" / "tables" / f"{name}.csv")
            assert len(parquet) == len(csv) == len(result.tables[name])
            assert list(parquet.columns) == list(csv.columns) == list(result.tables[name].columns)

    def test_report_has_the_section_and_explains_every_column(self, pulling_run, tmp_path):
        from analysis.pipeline import report
        from analysis.report import COLUMNS
        from analysis.timeline import GAP_COLUMNS, TIMELINE_COLUMNS

        page = report([pulling_run], tmp_path / "rep").read_text()
        section = page[page.index("<h2>Harness overhead</h2>"):page.index("<h2>Configuration")]
        assert "<h3>Step timeline</h3>" in section
        assert "<h3>Gap between consecutive images&#x27; pulls</h3>" in section
        assert "harness overhead median 28.0 s per step" in section
        assert [c for c in TIMELINE_COLUMNS + GAP_COLUMNS if not COLUMNS.get(c)] == []
