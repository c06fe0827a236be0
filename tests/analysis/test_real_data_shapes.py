"""Other studies' real data: odd inputs are counted and said, never an internal error.

Every fixture is a seed fixture's real lines with only the property under test changed (see
the builders in seed_data.py); the expected values are what those lines say.
"""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.compare import ImageMatcher, compare_runs
from analysis.errors import AnalysisError, BadInput
from analysis.events import EventIngest, ingest_files, pull_table
from analysis.pipeline import analyze, load_runs, unique_labels, warnings_of
from analysis.tables import combine
from experiments.kinds.osu.parse import parse_osu_log, read_times_log
from experiments.kinds.pulling import figures as pulling_figures
from experiments.kinds.topology import figures as topology_figures
from experiments.kinds.topology.parse import parse_topology_log
from tests.analysis.seed_data import (
    AMG_AR,
    OSU,
    RUN1_4,
    STREAMING,
    TOPO_AWS6,
    TOPO_MAX6,
    events_of,
    jsonl,
    make_harness_run,
    moved_image,
    without_sizes,
    write_run,
)

RUN1_FILE = RUN1_4 / "events-size-4-1731219229.json"
STREAMING_FILE = next(STREAMING.glob("events-*.json"))


def ingest_of(data: bytes) -> tuple[EventIngest, pd.DataFrame]:
    ingest = EventIngest()
    ingest.feed_chunks([data])
    return ingest, pull_table(ingest, "r", 4)


def first(events: list[dict], reason: str) -> int:
    return next(i for i, e in enumerate(events) if e.get("reason") == reason)


class TestFieldTypes:
    """A field of an unexpected type is a counted malformed event; the others still count."""

    @pytest.mark.parametrize(("field", "value"), [
        ("message", 12345),
        ("firstTimestamp", 1731219260),
        ("namespace", 7),
    ])
    def test_wrong_type_is_counted(self, field: str, value: object) -> None:
        events = events_of(RUN1_FILE)
        i = first(events, "Pulled")
        if field == "namespace":
            events[i]["involvedObject"]["namespace"] = value
        else:
            events[i][field] = value
        _, clean = ingest_of(jsonl(events_of(RUN1_FILE)))
        ingest, df = ingest_of(jsonl(events))
        assert ingest.stats["wrong_type"] == 1
        # Only that one Pulled event is lost: one container has no Pulled time now.
        assert clean["pulled_at"].notna().sum() - df["pulled_at"].notna().sum() == 1

    def test_non_rfc3339_timestamp_is_blank_and_counted(self) -> None:
        events = events_of(RUN1_FILE)
        i = first(events, "Started")
        events[i]["firstTimestamp"] = "Sun, 10 Nov 2024 06:14:33 GMT"  # RFC 1123, not 3339
        ingest, df = ingest_of(jsonl(events))
        assert ingest.stats["bad_timestamp"] == 1
        _, clean = ingest_of(jsonl(events_of(RUN1_FILE)))
        assert clean["started_at"].notna().sum() - df["started_at"].notna().sum() == 1

    def test_impossible_duration_is_blank_and_counted(self) -> None:
        """Go durations are int64 nanoseconds (time.Duration), at most 2562047h47m16s, so a
        kubelet cannot print 9999999h (golang/go src/time/time.go, `maxDuration`)."""
        events = events_of(RUN1_FILE)
        i = next(k for k, e in enumerate(events)
                 if e.get("reason") == "Pulled" and "Successfully" in e["message"])
        events[i]["message"] = re.sub(r" in [^ ]+ \(", " in 9999999h (", events[i]["message"])
        ingest, df = ingest_of(jsonl(events))
        assert ingest.stats["impossible_duration"] == 1
        pod = events[i]["involvedObject"]["name"]
        row = df[(df["pod"] == pod) & df["pulled_at"].notna()].iloc[0]
        assert pd.isna(row["pull_seconds"])


class TestWholeFiles:
    """Whole-file problems each get their own warning, not a count of 'truncated' lines."""

    def test_empty_file(self, tmp_path) -> None:
        run = write_run(tmp_path / "r", "events-size-4-0.json", b"")
        (data,) = load_runs([run])
        assert warnings_of(data)[0] == f"r: {run / 'events-size-4-0.json'} is empty"

    def test_json_array_is_read_and_said(self, tmp_path) -> None:
        events = events_of(RUN1_FILE)
        run = write_run(tmp_path / "r", "events.json", json.dumps(events).encode())
        (data,) = load_runs([run])
        _, lines = ingest_of(jsonl(events))
        assert len(data.table("pulls")) == len(lines)
        assert warnings_of(data)[0] == (
            f"r: {run / 'events.json'} is a JSON array, not JSON lines; read its "
            f"{len(events)} event(s) of {len(events)} element(s)")

    def test_byte_order_mark(self, tmp_path) -> None:
        run = write_run(tmp_path / "r", "events.jsonl", b"\xef\xbb\xbf" + RUN1_FILE.read_bytes())
        (data,) = load_runs([run])
        (clean,) = load_runs([RUN1_4])
        assert data.ingest_stats["malformed"] == clean.ingest_stats["malformed"]
        assert len(data.table("pulls")) == len(clean.table("pulls"))
        assert warnings_of(data)[0] == (f"r: {run / 'events.jsonl'} starts with a UTF-8 "
                                        "byte-order mark (skipped; the events after it were "
                                        "read)")

    def test_directory_named_like_an_event_file(self, tmp_path) -> None:
        run = tmp_path / "r"
        shutil.copytree(RUN1_4, run)
        (run / "events-size-4-extra.json").mkdir()
        (data,) = load_runs([run])
        (clean,) = load_runs([RUN1_4])
        assert len(data.table("pulls")) == len(clean.table("pulls"))
        assert warnings_of(data)[0] == (
            f"r: {run / 'events-size-4-extra.json'}: a directory named like an event file; "
            "skipped (pass it as a run directory to read what it holds)")


class TestInputsAsUsersHaveThem:
    """Event files of any name, directly or in a directory; labels readable and unique."""

    def test_event_file_of_any_name(self, tmp_path) -> None:
        target = tmp_path / "gke-run.ndjson"
        shutil.copy(RUN1_FILE, target)
        (data,) = load_runs([target])
        (seed,) = load_runs([RUN1_4])
        assert data.label == "gke-run"
        assert len(data.table("pulls")) == len(seed.table("pulls"))

    def test_directory_of_any_name_files(self, tmp_path) -> None:
        run = write_run(tmp_path / "capture", "part-0001.log", RUN1_FILE.read_bytes())
        (run / "notes.txt").write_text("not events\n")
        (data,) = load_runs([run])
        assert data.run.event_files == [run / "part-0001.log"]

    def test_default_labels_are_the_distinguishing_part(self, tmp_path) -> None:
        paths = [tmp_path / "gke" / "run1" / "times.log", tmp_path / "eks" / "run1" / "times.log"]
        assert unique_labels(["times", "times"], paths) == ["gke", "eks"]
        assert unique_labels(["a", "b"], paths) == ["a", "b"]


class TestNodeCount:
    """The node count: inventory, else kubelet reporters (inferred), else --nodes."""

    def test_inventory_from_registered_node_events(self, tmp_path) -> None:
        run = write_run(tmp_path / "r", "capture.jsonl", RUN1_FILE.read_bytes())
        (data,) = load_runs([run])
        assert (data.run.nodes, data.run.nodes_source) == (4, "inventory")

    def test_inferred_from_kubelet_events(self, tmp_path) -> None:
        events = [e for e in events_of(RUN1_FILE) if e.get("reason") != "RegisteredNode"]
        run = write_run(tmp_path / "r", "capture.jsonl", jsonl(events))
        (data,) = load_runs([run], nodes=16)
        reporters = {e["reportingInstance"] for e in events
                     if e.get("reason") in ("Pulling", "Pulled", "Created", "Started")}
        assert (data.run.nodes, data.run.nodes_source) == (len(reporters), "inferred")
        assert f"node count {len(reporters)} is inferred" in " ".join(warnings_of(data))

    def test_user_count_when_nothing_says(self, tmp_path) -> None:
        events = [e for e in events_of(RUN1_FILE)
                  if e.get("reason") not in ("RegisteredNode", "Pulling", "Pulled", "Created",
                                             "Started")]
        run = write_run(tmp_path / "r", "capture.jsonl", jsonl(events))
        (data,) = load_runs([run], nodes=16)
        assert (data.run.nodes, data.run.nodes_source) == (16, "--nodes")


class TestMissingStarted:
    """Pods that pulled but never reported Started are counted per image beside the medians."""

    def test_counts_per_image(self, tmp_path) -> None:
        events = events_of(RUN1_FILE)
        started = [i for i, e in enumerate(events) if e.get("reason") == "Started"
                   and e["involvedObject"]["name"].startswith("container-pull")]
        dropped = events[started[0]]
        events = [e for i, e in enumerate(events) if i != started[0]]
        run = write_run(tmp_path / "r", "capture.jsonl", jsonl(events))
        (data,) = load_runs([run])
        medians = combine([data])["pull_medians"].set_index("image")
        pulls = data.table("pulls")
        image = pulls.loc[pulls["pod"] == dropped["involvedObject"]["name"], "image"].iloc[0]
        assert medians.loc[image, "missing_started"] == 1
        assert (medians.drop(index=image)["missing_started"] == 0).all()
        assert medians.loc[image, "n_started"] == medians.loc[image, "n"] - 1
        assert any(f"no Started event for 1 studied pull(s) ({image} 1 of" in w
                   for w in warnings_of(data))


class TestFiguresOnOtherStudies:
    """What cannot be drawn is skipped and said; everything else is drawn."""

    @pytest.mark.filterwarnings("error::UserWarning")
    def test_no_image_size_skips_size_figures(self, tmp_path) -> None:
        run = write_run(tmp_path / "apps", "capture.jsonl",
                        jsonl(without_sizes(events_of(STREAMING_FILE))))
        result = analyze([run], tmp_path / "out")
        assert {s.name for s in result.skipped} == {"pull_time_vs_size_linear",
                                                    "pull_time_vs_size_log"}
        assert all("no image size is known" in s.reason for s in result.skipped)
        assert {f.name for f in result.figures} == {"event_spread", "pull_vs_started"}
        assert (tmp_path / "out" / "tables" / "pull_medians.parquet").is_file()

    @pytest.mark.filterwarnings("error::UserWarning")
    def test_single_design_topology(self, tmp_path) -> None:
        tree = tmp_path / "topo" / "6" / "kary-2" / "0"
        tree.mkdir(parents=True)
        shutil.copy(TOPO_AWS6, tree / "topology-experiment.out")
        tables = combine(load_runs([tmp_path / "topo"]))
        assert tables["topology"]["topology"].nunique() == 1
        (fig,) = topology_figures.topology_step_times(tables, tmp_path / "f")
        assert fig.png.read_bytes()[:4] == b"\x89PNG"

    def test_streaming_caption_only_with_streaming(self, tmp_path) -> None:
        tables = combine(load_runs([RUN1_4]))
        (plain,) = pulling_figures.pull_vs_started(tables, tmp_path, {"streaming_runs": []})
        (streamed,) = pulling_figures.pull_vs_started(tables, tmp_path, {"streaming_runs": ["run1-4"]})
        assert "streaming" not in plain.caption
        assert "run1-4 used image streaming" in streamed.caption


class TestCompareAcrossClouds:
    """One application pulled from each cloud's registry under its own tag is one key."""

    def test_match_app(self, tmp_path) -> None:
        gke = write_run(tmp_path / "gke", "events.jsonl", STREAMING_FILE.read_bytes())
        eks_ref = "123456789012.dkr.ecr.us-east-2.amazonaws.com/ensemble-amg2023:eks-1.30"
        eks = write_run(tmp_path / "eks", "events.jsonl",
                        jsonl(moved_image(events_of(STREAMING_FILE), AMG_AR, eks_ref)))
        datas = load_runs([gke, eks])
        assert compare_runs(datas, force=True).rows.query("metric == 'pull_seconds'").empty
        rows = compare_runs(datas, match="app").rows.set_index(["metric", "key"])
        row = rows.loc[("pull_seconds", "ensemble-amg2023")]
        assert (row["n_a"], row["n_b"], row["ratio"]) == (4, 4, 1.0)

    def test_mapping_file(self, tmp_path) -> None:
        mapping = tmp_path / "apps.yaml"
        mapping.write_text("ensemble-amg2023: amg\n")
        matcher = ImageMatcher.parse(str(mapping))
        assert matcher.key(AMG_AR, "ensemble-amg2023:spack-skylake") == "amg"
        assert matcher.key("ghcr.io/x/lammps:1", "lammps:1") == "lammps"

    def test_bad_match_is_one_line(self, tmp_path) -> None:
        with pytest.raises(BadInput, match=r"^--match: got 'apps'; expected image, app, or a "):
            ImageMatcher.parse("apps")

    def test_by_design(self, tmp_path) -> None:
        def run(root, nodes):
            path = make_harness_run(root)
            steps = json.loads((path / "steps.json").read_text())
            steps[1]["params"]["nodes"] = nodes
            (path / "steps.json").write_text(json.dumps(steps))
            return path

        datas = load_runs([run(tmp_path / "a", 5), run(tmp_path / "b", 6)])
        by_uid = compare_runs(datas).rows
        assert not (by_uid["metric"] == "topology_seconds").any()
        by_design = compare_runs(datas, by="design").rows
        topo = by_design[by_design["metric"] == "topology_seconds"]
        assert len(topo) == len(parse_topology_log(TOPO_MAX6.read_text()).timings)
        assert set(topo["key"].str.rsplit(" ", n=1).str[1]) == {"kary-1"}


class TestLogProblems:
    """Logs cut short or holding odd lines are said, with file and line."""

    def test_topology_cut_inside_diagram(self) -> None:
        text = TOPO_MAX6.read_text()
        cut = text[:text.index("   └─ 2 flux-sample-2")]
        parsed = parse_topology_log(cut, "t.out")
        assert parsed.problems == [
            "t.out: the log ends inside its TOPOLOGY diagram (after 2 broker line(s)); the run "
            "was cut short, so tree depth and fan-out are unknown and no step was timed"]
        assert parsed.depth is None and parsed.timings == []

    def test_empty_times_log(self, tmp_path) -> None:
        (tmp_path / "times.log").write_text("")
        with pytest.raises(BadInput, match=r"times.log: got 'an empty file'; expected a CSV "
                                           r"table with the header METRIC,TIME_SECONDS,SIZE_NODES"):
            read_times_log(tmp_path / "times.log")

    def test_non_numeric_times_log_row(self, tmp_path) -> None:
        lines = (OSU / "times.log").read_text().splitlines()
        lines[1] = lines[1].rsplit(",", 2)[0] + ",n/a," + lines[1].rsplit(",", 1)[1]
        (tmp_path / "times.log").write_text("\n".join(lines) + "\n")
        problems: list[str] = []
        table = read_times_log(tmp_path / "times.log", problems)
        assert len(table) == len(lines) - 2
        assert problems == [f"{tmp_path / 'times.log'}:2: got {lines[1]!r}; expected "
                            "METRIC,<seconds>,<node count>; row left out"]


# --- Parsers never raise ---------------------------------------------------------------------
_REAL_LINES = (RUN1_FILE.read_text().splitlines()[:40] + TOPO_MAX6.read_text().splitlines()
               + (OSU / "size-4.log").read_text().splitlines()[:200])
# Lines near the real ones (a real line cut or spliced) find more paths than random text.
_lines = st.one_of(
    st.text(max_size=200),
    st.sampled_from(_REAL_LINES),
    st.builds(lambda line, cut: line[:cut], st.sampled_from(_REAL_LINES), st.integers(0, 400)),
    st.builds(lambda a, b: a + b, st.sampled_from(["NODES", "real\t", "EVENT x-", "# Size",
                                                   "METADATA START ", "STUDY_TIMING ",
                                                   "time mpirun -np 2 osu_latency"]),
              st.text(max_size=40)),
)


class TestParsersNeverRaise:
    """Arbitrary lines, mixed with real ones, are read or counted; no parser raises."""

    @settings(max_examples=150, deadline=None)
    @given(st.lists(_lines, max_size=30))
    def test_event_ingest(self, lines: list[str]) -> None:
        ingest, table = ingest_of("\n".join(lines).encode("utf-8", "surrogatepass"))
        assert len(table) <= len(lines)

    @settings(max_examples=100, deadline=None)
    @given(st.sampled_from([b"", b"\xef\xbb\xbf", b"[", b"  \n", b"{"]),
           st.lists(_lines, max_size=20))
    def test_event_file(self, tmp_path_factory, head: bytes, lines: list[str]) -> None:
        """Whole files too: a BOM, an array start or blanks before arbitrary lines."""
        path = tmp_path_factory.mktemp("f") / "events.jsonl"
        path.write_bytes(head + "\n".join(lines).encode("utf-8", "surrogatepass"))
        ingest = ingest_files([path])
        pull_table(ingest, "r", None)

    @settings(max_examples=150, deadline=None)
    @given(st.lists(_lines, max_size=30))
    def test_topology(self, lines: list[str]) -> None:
        parse_topology_log("\n".join(lines), "t.out")

    @settings(max_examples=150, deadline=None)
    @given(st.lists(_lines, max_size=30))
    def test_osu(self, lines: list[str]) -> None:
        parse_osu_log("\n".join(lines), "osu.log")

    @settings(max_examples=100, deadline=None)
    @given(st.dictionaries(st.sampled_from(["reason", "message", "firstTimestamp", "metadata",
                                            "involvedObject", "reportingInstance", "source"]),
                           st.one_of(st.none(), st.integers(), st.text(max_size=20),
                                     st.floats(allow_nan=True), st.lists(st.integers()),
                                     st.dictionaries(st.sampled_from(
                                         ["name", "namespace", "uid", "fieldPath", "labels",
                                          "ownerReferences", "host"]),
                                         st.one_of(st.none(), st.integers(), st.text(max_size=9),
                                                   st.lists(st.integers()))))))
    def test_event_of_any_shape(self, event: dict) -> None:
        event.setdefault("reason", "Pulled")
        line = json.dumps(event).encode()
        ingest, _ = ingest_of(line + b"\n")
        assert sum(ingest.stats[k] for k in ("events", "wrong_type", "missing_fields",
                                             "malformed", "ignored", "not_event")) == 1


def test_a_file_that_is_not_events_is_one_line(tmp_path) -> None:
    target = tmp_path / "times.log"
    shutil.copy(OSU / "times.log", target)
    with pytest.raises(AnalysisError, match=rf"^{re.escape(str(target))}: not an event file "
                                            r"\(no Kubernetes Event in its first 64 KB\)"):
        load_runs([target])


def test_empty_times_log_in_a_run_costs_only_its_table(tmp_path) -> None:
    run = tmp_path / "run1"
    shutil.copytree(OSU, run)
    (run / "times.log").write_text("")
    (data,) = load_runs([run])
    assert "osu_times" not in data.tables and not data.table("osu_wall").empty
    assert warnings_of(data) == [
        f"run1: {run / 'times.log'}: got 'an empty file'; expected a CSV table with the header "
        "METRIC,TIME_SECONDS,SIZE_NODES; left out"]


class TestTimeToStartedResolution:
    """A time to Started below the pull time, or a spread of 0, is the events' whole-second
    stamps, and the caption says so; stamps with fractions of a second draw no such note."""

    NOTE = "The events' timestamps are whole seconds"

    def test_whole_second_events_are_said(self, tmp_path) -> None:
        tables = combine(load_runs([RUN1_4]))
        (fig,) = pulling_figures.pull_vs_started(tables, tmp_path, {"streaming_runs": []})
        assert self.NOTE in fig.caption

    def test_sub_second_events_are_not(self, tmp_path) -> None:
        tables = combine(load_runs([RUN1_4]))
        pulls = tables["pulls"].copy()
        pulls["started_at"] = pulls["started_at"] + pd.Timedelta("250ms")
        (fig,) = pulling_figures.pull_vs_started({**tables, "pulls": pulls}, tmp_path,
                                         {"streaming_runs": []})
        assert self.NOTE not in fig.caption

    def test_spreads_of_whole_second_events_are_said(self, tmp_path) -> None:
        tables = combine(load_runs([RUN1_4]))
        (fig,) = pulling_figures.event_spread(tables, tmp_path)
        assert fig.caption.endswith(" The events' timestamps are whole seconds, so spreads are "
                                    "too: 0 means within the same second.")
        finer = tables["event_spread"].assign(last=lambda t: t["last"] + pd.Timedelta("1ms"))
        (fig,) = pulling_figures.event_spread({**tables, "event_spread": finer}, tmp_path)
        assert "whole seconds" not in fig.caption
