"""Which studied pulls ran beside an upload on their node (`analysis/upload_overlap.py`).

The harness run is `harness_run.make_pulling_run`; its module docstring has the designed times.
Both upload pods run on RESULTS_NODE (`-084f`). Step 2's pulls: `-0-lqp58` on `-9lnh` Pulling
06:14:51, Pulled 06:15:08 (16.211 s); `-1-mx9vf` on `-084f` 06:14:52 - 06:15:07 (14.916 s);
`-2-x7b69` and `-3-zpfnb` on `-9lnh` 06:14:52 - 06:15:08 (16.092 s, 15.997 s). Step 1's four
pulls (06:14:29 - 06:14:36/37) end before any upload. Step 1's upload Job runs 06:14:47 -
06:14:56, step 2's 06:15:13 - 06:15:22.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from seed_data import RUN1_4, make_harness_run

from analysis.pipeline import load_runs
from tests.analysis.harness_run import RESULTS_NODE, STEPS, UPLOAD_PODS, make_pulling_run

BESIDE = f"{STEPS[1]}-1-mx9vf"  # step 2's one pull on the results node


@pytest.fixture
def pulling_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_pulling_run(tmp_path, monkeypatch)


def loaded(run: Path):
    (data,) = load_runs([run])
    return data


def drop_lines(run: Path, keep) -> None:
    events = run / "events.jsonl"
    kept = [line for line in events.read_text().splitlines() if keep(line)]
    events.write_text("\n".join(kept) + "\n")


def flags(table: pd.DataFrame) -> dict[str, tuple]:
    """pod -> (beside_upload, overlap_seconds), blanks as None."""
    return {row.pod: (None if pd.isna(row.beside_upload) else bool(row.beside_upload),
                      None if math.isnan(row.overlap_seconds) else row.overlap_seconds)
            for row in table.itertuples()}


def epoch(hhmmss: str) -> float:
    return datetime.fromisoformat(f"2024-11-10T06:{hhmmss}+00:00").timestamp()


class TestEachPull:
    """Every studied pull has one row; only a pull on the upload's node whose window overlaps
    the upload's is flagged, by the seconds the two share."""

    def test_the_one_pull_on_the_results_node_during_the_upload_is_flagged(self, pulling_run):
        """mx9vf pulls 06:14:52 - 06:15:07 on -084f while step 1's upload runs there 06:14:47 -
        06:14:56: 4 s together. Step 2's three pulls on -9lnh overlap the upload in time only;
        step 1's pulls end at 06:14:37, before it."""
        table = loaded(pulling_run).table("upload_overlap")
        assert len(table) == 8
        expected = {pod: (False, 0.0) for pod in table["pod"]}
        expected[BESIDE] = (True, 4.0)
        assert flags(table) == expected
        row = table.set_index("pod").loc[BESIDE]
        assert (row["node"], row["upload"], row["upload_started_at"], row["upload_finished_at"],
                row["pull_seconds"]) == (
            RESULTS_NODE, f"upload-{STEPS[0]}", pd.Timestamp("2024-11-10T06:14:47Z"),
            pd.Timestamp("2024-11-10T06:14:56Z"), 14.916)

    def test_rows_join_the_pulls_table(self, pulling_run):
        """Keyed by run, namespace, pod and container, one row per studied pull and its window."""
        data = loaded(pulling_run)
        pulls = data.table("pulls")
        studied = pulls[pulls["role"] == "studied"]
        keys = ["run", "namespace", "pod", "container"]
        joined = studied.merge(data.table("upload_overlap"), on=keys, suffixes=("", "_o"))
        assert len(joined) == len(studied) == 8
        assert (joined["pulling_at"] == joined["pulling_at_o"]).all()
        assert (joined["pulled_at"] == joined["pulled_at_o"]).all()

    def test_the_node_comes_from_the_kubelets_events_without_the_scheduler(self, pulling_run):
        """Without the upload pods' `Scheduled` lines their kubelet events' `source.host` is
        -084f too: the same single pull is flagged."""
        drop_lines(pulling_run, lambda line: not ('"reason": "Scheduled"' in line
                                                  and '"name": "upload-' in line))
        data = loaded(pulling_run)
        assert flags(data.table("upload_overlap"))[BESIDE] == (True, 4.0)
        tl = data.table("step_timeline").set_index("step")
        assert tl.loc[STEPS[0], "upload_node"] == RESULTS_NODE

    def test_an_upload_of_unknown_node_leaves_the_pulls_it_may_touch_blank(self, pulling_run):
        """No event of either upload pod: step 1's upload may have run beside any of step 2's
        four pulls (all end after 06:14:47 and start before 06:14:56), so they are blank; step
        1's pulls, over by 06:14:37, are not beside it; step 2's upload (06:15:13) starts after
        every pull ended."""
        pods = tuple(UPLOAD_PODS.values())
        drop_lines(pulling_run, lambda line: not any(f'"name": "{p}"' in line for p in pods))
        data = loaded(pulling_run)
        got = flags(data.table("upload_overlap"))
        assert got == {pod: (None, None) if pod.startswith(STEPS[1]) else (False, 0.0)
                       for pod in got}
        first = data.table("step_timeline").set_index("step").loc[STEPS[0]]
        assert pd.isna(first["upload_node"]) and pd.isna(first["upload_overlap_pulls"])
        assert math.isnan(first["upload_overlap_seconds"])
        assert first["note"] == (f"no Scheduled or kubelet event of upload-{STEPS[0]}'s pod: its "
                                 "node, and so its overlap with the pulls, unknown")

    def test_an_upload_that_never_completed_leaves_its_nodes_later_pulls_blank(self,
                                                                              pulling_run):
        """Without step 1's upload `Completed` its end is unknown: the one pull on its node after
        its start (mx9vf) cannot be told; the rest stay clear."""
        drop_lines(pulling_run, lambda line: not ('"reason": "Completed"' in line
                                                  and f'"name": "upload-{STEPS[0]}"' in line))
        got = flags(loaded(pulling_run).table("upload_overlap"))
        expected = {pod: (False, 0.0) for pod in got}
        expected[BESIDE] = (None, None)
        assert got == expected


class TestWindows:
    """The overlap arithmetic on the run's real pull windows, with uploads placed by hand."""

    def pulls(self, run: Path) -> pd.DataFrame:
        return loaded(run).table("pulls")

    def test_uploads_side_by_side_are_counted_once(self, pulling_run):
        """Two uploads on -084f, 06:14:50 - 06:14:55 and 06:14:53 - 06:15:00 (preparation steps'
        uploads run side by side): mx9vf (06:14:52 - 06:15:07) shares 06:14:52 - 06:15:00 with
        them, 8 s, not 3 + 7; each upload's own share is 3 s and 7 s."""
        from analysis.upload_overlap import Upload, overlaps

        ups = [Upload("upload-a", "a", epoch("14:50"), epoch("14:55"), frozenset([RESULTS_NODE])),
               Upload("upload-b", "b", epoch("14:53"), epoch("15:00"), frozenset([RESULTS_NODE]))]
        result = overlaps(self.pulls(pulling_run), ups)
        row = result.table.set_index("pod").loc[BESIDE]
        assert (row["beside_upload"], row["overlap_seconds"], row["upload"]) == (
            True, 8.0, "upload-a, upload-b")
        assert (row["upload_started_at"], row["upload_finished_at"]) == (
            pd.Timestamp("2024-11-10T06:14:50Z"), pd.Timestamp("2024-11-10T06:15:00Z"))
        assert result.per_upload == {"upload-a": (1, 3.0), "upload-b": (1, 7.0)}

    def test_windows_that_only_touch_do_not_overlap(self, pulling_run):
        """An upload on -084f ending at 06:14:52, the second mx9vf's Pulling is stamped: whole
        seconds cannot say they ran together, so nothing is flagged."""
        from analysis.upload_overlap import Upload, overlaps

        ups = [Upload("upload-a", "a", epoch("14:40"), epoch("14:52"), frozenset([RESULTS_NODE]))]
        result = overlaps(self.pulls(pulling_run), ups)
        assert not result.table["beside_upload"].any()
        assert result.per_upload == {"upload-a": (0, 0.0)}

    def test_several_pulls_beside_one_upload_share_its_seconds_once(self, pulling_run):
        """An upload on -9lnh 06:15:00 - 06:15:20 beside lqp58, x7b69 and zpfnb (each Pulled
        06:15:08): three pulls, and 06:15:00 - 06:15:08 of the upload, 8 s."""
        from analysis.upload_overlap import Upload, overlaps

        node = RESULTS_NODE.replace("084f", "9lnh")
        ups = [Upload("upload-a", "a", epoch("15:00"), epoch("15:20"), frozenset([node]))]
        result = overlaps(self.pulls(pulling_run), ups)
        assert result.per_upload == {"upload-a": (3, 8.0)}
        assert sorted(result.table.loc[result.table["beside_upload"].astype(bool), "pod"]) == [
            f"{STEPS[1]}-0-lqp58", f"{STEPS[1]}-2-x7b69", f"{STEPS[1]}-3-zpfnb"]


class TestStepTimeline:
    def test_each_steps_upload_has_its_node_and_overlap(self, pulling_run):
        """Step 1's upload: on -084f, one pull beside it, 4 s (06:14:52 - 06:14:56); step 2's:
        on -084f, after every pull, none."""
        tl = loaded(pulling_run).table("step_timeline").set_index("step")
        got = tl[["upload_node", "upload_overlap_pulls", "upload_overlap_seconds"]]
        assert got.values.tolist() == [[RESULTS_NODE, 1, 4.0], [RESULTS_NODE, 0, 0.0]]

    def test_without_upload_events_there_is_nothing_to_overlap(self, pulling_run):
        """No upload Job or pod events: no table, blank columns (the note says the upload was not
        timed), and no overlap part in the summary line."""
        from analysis.timeline import overhead_summary

        drop_lines(pulling_run, lambda line: '"name": "upload-' not in line)
        data = loaded(pulling_run)
        assert "upload_overlap" not in data.tables
        tl = data.table("step_timeline")
        assert tl["upload_node"].isna().all() and tl["upload_overlap_pulls"].isna().all()
        assert tl["upload_overlap_seconds"].isna().all()
        assert "overlapped an upload" not in (overhead_summary(data) or "")


class TestSeedData:
    """The seed studies ran no uploads: nothing is flagged and no table or column is added."""

    def test_the_seeds_own_run_has_no_overlap_table(self):
        data = loaded(RUN1_4)
        assert "upload_overlap" not in data.tables
        assert "step_timeline" not in data.tables

    def test_seed_events_in_the_harness_layout_have_no_overlap_table(self, tmp_path):
        """A harness-layout run of the seed's real lines (steps.json, no upload Jobs): its pulls
        table keeps exactly the view's columns and no overlap table is made."""
        from experiments.kinds.pulling.results import PULLS_VIEW

        data = loaded(make_harness_run(tmp_path / "results"))
        assert "upload_overlap" not in data.tables
        assert list(data.table("pulls").columns) == list(PULLS_VIEW.columns)

    def test_the_summary_says_nothing_of_uploads(self):
        from analysis.upload_overlap import overlap_summary

        data = loaded(RUN1_4)
        assert overlap_summary(data.table("upload_overlap")) is None


class TestSummary:
    def test_no_pull_beside_an_upload_says_so(self, pulling_run):
        """Step 1's upload moved off the results node (its pod's events name -nkdg, a node with
        no pull): no pull of the 8 overlapped one."""
        events = pulling_run / "events.jsonl"
        pod = UPLOAD_PODS[STEPS[0]]
        other = RESULTS_NODE.replace("084f", "nkdg")
        events.write_text("\n".join(line.replace(RESULTS_NODE, other) if f'"name": "{pod}"'
                                    in line else line
                                    for line in events.read_text().splitlines()) + "\n")
        from analysis.upload_overlap import overlap_summary

        data = loaded(pulling_run)
        assert overlap_summary(data.table("upload_overlap")) == (
            "no studied pull of 8 overlapped an upload on the same node")
