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
        """Step 1: work 06:14:25-06:14:39 (14 s), recorder done 06:14:41 (2 s), next workload
        06:14:47 (a 6 s turn-around, Pulumi's alone); its 4 pull pods Scheduled 06:14:25, each
        Pulling 06:14:29 (a 4 s clear); overhead 2 + 6 + 4; its upload ran 06:14:42-06:14:51,
        beside step 2's workload."""
        tl = timeline_of(pulling_run)
        assert list(tl.index) == list(STEPS)
        first = tl.loc[STEPS[0]]
        assert (first["work_seconds"], first["recording_seconds"], first["turnaround_seconds"],
                first["overhead_seconds"]) == (14.0, 2.0, 6.0, 12.0)
        assert (first["cache_clear_seconds"], first["upload_seconds"],
                first["pulumi_seconds"]) == (4.0, 9.0, 6.0)
        assert first["note"] == ""

    def test_the_last_step_has_no_turn_around_and_says_so(self, pulling_run):
        """Step 2: work 06:14:47-06:15:10 (23 s), recorder done 06:15:12 (2 s); its pods
        Scheduled 06:14:47, Pulling 06:14:51 (one) and 06:14:52 (three): clears of 4, 5, 5, 5 s,
        median 5; overhead 2 + 5; upload 06:15:13-06:15:22 (9 s)."""
        last = timeline_of(pulling_run).loc[STEPS[1]]
        assert (last["work_seconds"], last["recording_seconds"], last["overhead_seconds"],
                last["cache_clear_seconds"], last["upload_seconds"]) == (23.0, 2.0, 7.0, 5.0, 9.0)
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
        assert tl.loc[STEPS[0], "next_workload_started_at"] == utc("2024-11-10T06:14:47Z")

    def test_a_step_collected_without_its_status_json_keeps_its_work(self, pulling_run):
        """Collected from the cluster rather than the bucket: steps.json has the workload's
        times, nothing has the recorder's."""
        (pulling_run / "steps" / STEPS[0] / "status.json").unlink()
        first = timeline_of(pulling_run).loc[STEPS[0]]
        assert first["work_seconds"] == 14.0
        assert pd.isna(first["recorder_finished_at"]) and math.isnan(first["recording_seconds"])
        assert math.isnan(first["turnaround_seconds"]) and math.isnan(first["overhead_seconds"])
        assert first["note"] == (f"no steps/{STEPS[0]}/status.json (not collected from the "
                                 "bucket): no recorder times")

    def test_without_upload_events_only_the_upload_is_blank(self, pulling_run):
        """The upload runs beside the next step, so the turn-around (06:14:41 -> 06:14:47) and
        Pulumi's part, the same 6 s, do not need it."""
        events = pulling_run / "events.jsonl"
        kept = [line for line in events.read_text().splitlines()
                if '"name": "upload-' not in line]
        events.write_text("\n".join(kept) + "\n")
        first = timeline_of(pulling_run).loc[STEPS[0]]
        assert (first["turnaround_seconds"], first["pulumi_seconds"],
                first["overhead_seconds"]) == (6.0, 6.0, 12.0)
        assert math.isnan(first["upload_seconds"])
        assert first["note"] == f"no upload-{STEPS[0]} Job events: upload not timed"

    def test_a_pull_step_without_its_pods_events_has_no_clear_and_says_so(self, pulling_run):
        """Without its pods' `Scheduled` events the clear of step 2 cannot be timed, and so
        neither can its overhead; step 1 keeps its 4 s."""
        events = pulling_run / "events.jsonl"
        kept = [line for line in events.read_text().splitlines()
                if not ('"reason": "Scheduled"' in line and f"/{STEPS[1]}-" in line)]
        events.write_text("\n".join(kept) + "\n")
        tl = timeline_of(pulling_run)
        last = tl.loc[STEPS[1]]
        assert math.isnan(last["cache_clear_seconds"]) and math.isnan(last["overhead_seconds"])
        assert last["note"] == (f"last step: no turn-around; no Scheduled and Pulling events of "
                                f"{STEPS[1]}'s pull pods: cache clear not timed")
        assert tl.loc[STEPS[0], "cache_clear_seconds"] == 4.0

    def test_the_harness_steps_are_marked(self, pulling_run):
        """The pre-pull step is the harness's own: its whole time is overhead; it pulls warm on
        purpose, so it has no cache clear and no note about one."""
        from experiments.pernode import PREPULL_STEP

        rows = json.loads((pulling_run / "steps.json").read_text())
        rows.insert(0, {"step": PREPULL_STEP, "kind": "pulling", "status": "succeeded",
                        "started_at": "2024-11-10T06:13:00Z",
                        "finished_at": "2024-11-10T06:13:40Z", "params": {}})
        (pulling_run / "steps.json").write_text(json.dumps(rows))
        tl = timeline_of(pulling_run)
        assert tl["harness_step"].to_dict() == {PREPULL_STEP: True, STEPS[0]: False,
                                                STEPS[1]: False}
        prepull = tl.loc[PREPULL_STEP]
        assert prepull["work_seconds"] == 40.0
        assert math.isnan(prepull["cache_clear_seconds"])
        assert prepull["note"] == (
            f"no steps/{PREPULL_STEP}/status.json (not collected from the bucket): no recorder "
            f"times; no upload-{PREPULL_STEP} Job events: upload not timed")

    def test_preparation_steps_are_recorded_side_by_side(self, pulling_run):
        """The mirror (work 06:13:30-06:13:50, its recorder 06:14:00-06:14:05: it waited 10 s
        for the operators) and the pre-pull (06:13:51-06:14:10, recorder 06:14:00-06:14:12):
        step 1's workload (06:14:25) waited for both recorders, so only the pre-pull's, the
        later, has a turn-around, of 13 s; the mirror's recording is 06:13:50 -> 06:14:05."""
        from experiments.images import MIRROR_STEP
        from experiments.pernode import PREPULL_STEP

        times = {MIRROR_STEP: ("13:30", "13:50", "14:00", "14:05"),
                 PREPULL_STEP: ("13:51", "14:10", "14:00", "14:12")}
        rows = json.loads((pulling_run / "steps.json").read_text())
        for name, (start, end, rec_start, rec_end) in reversed(times.items()):
            status = {"step": name, "kind": "pulling", "status": "succeeded",
                      "started_at": f"2024-11-10T06:{start}Z",
                      "finished_at": f"2024-11-10T06:{end}Z",
                      "recorder_started_at": f"2024-11-10T06:{rec_start}+00:00",
                      "recorder_finished_at": f"2024-11-10T06:{rec_end}+00:00"}
            (pulling_run / "steps" / name).mkdir()
            (pulling_run / "steps" / name / "status.json").write_text(json.dumps(status))
            rows.insert(0, {k: status[k] for k in ("step", "kind", "status", "started_at",
                                                   "finished_at")} | {"params": {}})
        (pulling_run / "steps.json").write_text(json.dumps(rows))
        tl = timeline_of(pulling_run)
        assert list(tl.index) == [MIRROR_STEP, PREPULL_STEP, *STEPS]
        mirror, prepull = tl.loc[MIRROR_STEP], tl.loc[PREPULL_STEP]
        assert (prepull["recording_seconds"], prepull["turnaround_seconds"],
                prepull["overhead_seconds"]) == (2.0, 13.0, 15.0)
        assert prepull["next_workload_started_at"] == utc("2024-11-10T06:14:25Z")
        assert mirror["recording_seconds"] == 15.0
        assert math.isnan(mirror["turnaround_seconds"]) and pd.isna(
            mirror["next_workload_started_at"])
        assert mirror["note"] == (
            "recorder started 10 s after the workload ended (it waits for the previous upload, "
            "a preparation step's for the operators): the recording includes that wait; "
            f"preparation step recorded beside {PREPULL_STEP}: {STEPS[0]} waited for that "
            f"recorder, the last to finish; no upload-{MIRROR_STEP} Job events: upload not timed")


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
        """Step 2's seed events were moved SHIFT_SECONDS later, and both steps' pull containers
        CLEAR_SECONDS after their pods' clears: the seed's 10 s gap plus SHIFT_SECONDS."""
        (data,) = load_runs([pulling_run])
        gaps = data.table("pull_gaps")
        assert gaps[["step", "next_step", "gap_seconds"]].values.tolist() == [
            [STEPS[0], STEPS[1], 10.0 + SHIFT_SECONDS]]
        assert (gaps["last_pulled_at"].iloc[0], gaps["next_first_pulling_at"].iloc[0]) == (
            utc("2024-11-10T06:14:37Z"), utc("2024-11-10T06:14:51Z"))


class TestWhereAResearcherLooks:
    def test_summary_line(self, pulling_run):
        from analysis.timeline import overhead_summary

        """Per step: 12 s for step 1 (the only one with a next step), 7 s for step 2: 19 s of
        the 47 s from step 1's workload start (06:14:25) to step 2's recorder end (06:15:12),
        40%; both uploads 9 s; one pull of 8 beside step 1's upload, for 4 s, its 14.916 s
        against step 2's other pulls' 16.211, 16.092 and 15.997 s, median 16.092
        (test_upload_overlap.py); the pull gap 10 + SHIFT_SECONDS
        (test_harness_run_pairs_its_steps)."""
        (data,) = load_runs([pulling_run])
        assert overhead_summary(data) == (
            "harness overhead (recording, Pulumi's turn-around, cache clear) median 12.0 s per "
            "step (the 1 of 2 steps with a next step), 19 s in all, 40% of the steps' 47 s; "
            "upload median 9 s, beside the next step; 1 of 8 studied pulls overlapped an upload "
            "on the same node (median overlap 4 s): median pull 14.9 s against 16.1 s for the "
            "other 3 pulls of the same image; pull gap (last Pulled to next image's first "
            f"Pulling) median {10 + SHIFT_SECONDS} s over 1 pair (seed loop, plain at this node "
            "count: 10-37 s)")

    def test_seed_summary_says_why_there_is_no_overhead(self):
        from analysis.timeline import overhead_summary

        (data,) = load_runs([RUN1_4])
        assert overhead_summary(data) == (
            "harness overhead not recorded (no step statuses in this layout); pull gap (last "
            "Pulled to next image's first Pulling) median 10 s over 1 pair (seed loop, plain at "
            "this node count: 10-37 s)")

    def test_tables_are_written_like_the_others(self, pulling_run, tmp_path):
        result = analyze([pulling_run], tmp_path / "out", figures=False)
        for name in ("step_timeline", "pull_gaps", "upload_overlap"):
            parquet = pd.read_parquet(tmp_path / "out" / "tables" / f"{name}.parquet")
            csv = pd.read_csv(tmp_path / "out" / "tables" / f"{name}.csv")
            assert len(parquet) == len(csv) == len(result.tables[name])
            assert list(parquet.columns) == list(csv.columns) == list(result.tables[name].columns)

    def test_report_has_the_section_and_explains_every_column(self, pulling_run, tmp_path):
        from analysis.pipeline import report
        from analysis.report import COLUMNS
        from analysis.timeline import GAP_COLUMNS, TIMELINE_COLUMNS
        from analysis.upload_overlap import OVERLAP_COLUMNS

        page = report([pulling_run], tmp_path / "rep").read_text()
        section = page[page.index("<h2>Harness overhead</h2>"):page.index("<h2>Configuration")]
        assert "<h3>Step timeline</h3>" in section
        assert "<h3>Gap between consecutive images&#x27; pulls</h3>" in section
        assert ("harness overhead (recording, Pulumi&#x27;s turn-around, cache clear) median "
                "12.0 s per step") in section
        assert "<h3>Studied pulls beside an upload on their node</h3>" in section
        assert "1 of 8 studied pulls; every one has its row in tables/upload_overlap.csv" in section
        assert [c for c in TIMELINE_COLUMNS + GAP_COLUMNS + OVERLAP_COLUMNS
                if not COLUMNS.get(c)] == []
