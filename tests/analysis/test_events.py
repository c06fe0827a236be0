"""Kubelet events to the pull table, checked against the seed's own parse of the same events."""

from __future__ import annotations

import json
import re

import orjson
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seed_data import PULLING, RUN1_4, RUN4_4, STREAMING, WITHOUT_STREAMING, event_lines

from analysis.events import (
    EventIngest,
    classify_image,
    completeness,
    event_spread,
    image_key,
    ingest_files,
    parse_pulled_message,
    pull_table,
)
from analysis.events.parse import HELPER_INIT_CONTAINERS

REF = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes"


def table_of(*paths, run="r", nodes=4):
    ingest = ingest_files(paths)
    return ingest, pull_table(ingest, run, nodes)


def table_of_bytes(data: bytes, chunk: int = 1 << 20):
    ingest = EventIngest()
    ingest.feed_chunks(data[i:i + chunk] for i in range(0, len(data), chunk))
    return ingest, pull_table(ingest, "r", 4)


class TestPulledMessage:
    """Every Pulled message format across Kubernetes versions is understood."""

    @pytest.mark.parametrize(("message", "fmt", "pull", "wait", "size"), [
        (f'Successfully pulled image "{REF}"', "plain", None, None, None),  # <= 1.18
        (f'Successfully pulled image "{REF}" in 49.657983991s', "in", 49.657983991, None, None),
        (f'Successfully pulled image "{REF}" in 9.72s (9.72s including waiting)', "waiting",
         9.72, 9.72, None),
        (f'Successfully pulled image "{REF}" in 998ms (1.673s including waiting). '
         "Image size: 12923526 bytes.", "size", 0.998, 1.673, 12923526),
        (f'Successfully pulled image "{REF}" in 1m4.249s (1m4.249s including waiting). '
         "Image size: 12822891 bytes.", "size", 64.249, 64.249, 12822891),
        (f'Successfully pulled image "{REF}" in 850µs (2ms including waiting). '
         "Image size: 1 bytes.", "size", 850e-6, 2e-3, 1),
    ])
    def test_formats(self, message, fmt, pull, wait, size) -> None:
        parsed = parse_pulled_message(message)
        assert parsed is not None
        assert (parsed.image_ref, parsed.cached, parsed.message_format) == (REF, False, fmt)
        assert parsed.pull_seconds == (pytest.approx(pull) if pull is not None else None)
        assert parsed.waiting_seconds == (pytest.approx(wait) if wait is not None else None)
        assert parsed.compressed_bytes == size

    def test_already_present_is_a_cache_hit(self) -> None:
        parsed = parse_pulled_message(f'Container image "{REF}" already present on machine')
        assert parsed is not None and parsed.cached and parsed.message_format == "present"
        assert parsed.pull_seconds is None

    def test_combined_prefix_is_tolerated(self) -> None:
        parsed = parse_pulled_message(
            f'(combined from similar events): Successfully pulled image "{REF}" in 2s')
        assert parsed is not None and parsed.pull_seconds == 2.0

    @pytest.mark.parametrize("message", [
        "Pulling image \"x\"", f'Successfully pulled image "{REF}" in 12parsecs', ""])
    def test_unknown_messages_are_none(self, message: str) -> None:
        assert parse_pulled_message(message) is None


class TestImages:
    """Studied images are kept apart from system and operator images."""

    def test_image_key_ignores_registry(self) -> None:
        run2 = "us-central1-docker.pkg.dev/llnl-flux/converged-computing/container-chonks:9-layers-size-1176249324-bytes"
        assert image_key(REF) == image_key(run2) == "9-layers-size-1176249324-bytes"
        assert image_key("ghcr.io/x/ensemble-amg2023:spack-skylake") == "ensemble-amg2023:spack-skylake"

    @pytest.mark.parametrize(("ref", "namespace", "role"), [
        (REF, "default", "studied"),
        ("us-central1-artifactregistry.gcr.io/gke-release/gke-release/kube-state-metrics:v2.7.0-gke.64@sha256:9b7f",
         "gke-managed-cim", "system"),
        ("registry.k8s.io/pause:3.9", "kube-system", "system"),
        ("ghcr.io/converged-computing/flux-view-ubuntu:tag-jammy", "default", "operator"),
        ("ghcr.io/resmoio/kubernetes-event-exporter:latest", "monitoring", "operator"),
        # Where the pod ran decides, not the reference's shape: a study may pull by digest,
        # and an EKS study mirrors its images into its own ECR registry.
        ("quay.io/x/y@sha256:abc", "default", "studied"),
        ("123456789012.dkr.ecr.us-east-2.amazonaws.com/ensemble-lammps:spack", "study-harness",
         "studied"),
    ])
    def test_roles(self, ref: str, namespace: str, role: str) -> None:
        assert classify_image(ref, namespace) == role

    def test_helpers_are_not_studied(self) -> None:
        """The harness's cache clears, pre-pulls and recorder carry a role other than workload;
        the seed's docker-cleanup and GKE's kube-proxy are owned by a DaemonSet or a Node."""
        assert classify_image(REF, "study-harness", role="prepull") == "operator"
        assert classify_image(REF, "study-harness", role="workload") == "studied"
        assert classify_image("busybox:1.36", "default", owner_kind="DaemonSet") == "operator"

    def test_digest_only_studied_image_is_in_the_medians(self) -> None:
        """A studied image referenced only by digest is studied and keeps its own key."""
        digest = "sha256:" + "ab" * 32
        lines = [json.loads(line) for line in event_lines(RUN1_4 / "events-size-4-1731219229.json")
                 if b'"container-pull' in line and b"1176249324" in line]
        text = b"\n".join(orjson.dumps(e) for e in lines).replace(
            b"container-chonks-run1:9-layers-size-1176249324-bytes",
            b"container-chonks-run1@" + digest.encode())
        _, df = table_of_bytes(text)
        pulled = df[df["pull_seconds"].notna()]
        assert not pulled.empty
        assert set(pulled["role"]) == {"studied"}
        assert set(pulled["image"]) == {"container-chonks-run1@" + digest[:19]}

    def test_the_clear_in_a_pull_pod_is_the_harnesss_not_studied(self) -> None:
        """Each pull pod first runs the harness's cache clear as its init container `clear`
        (experiments/kinds/pulling): its image is a helper's even in a workload pod, and a
        chonk study names no images for a studied set to tell them apart. The pull in the same
        pod stays studied."""
        from experiments.kinds.pulling import CLEAR_CONTAINER

        assert CLEAR_CONTAINER in HELPER_INIT_CONTAINERS
        labels = {"study-harness.io/role": "workload", "study-harness.io/step": "pull-x-r1"}

        def event(uid, container, init, message):
            kind = "initContainers" if init else "containers"
            return {"metadata": {"uid": uid, "namespace": "study-harness"}, "reason": "Pulled",
                    "message": message, "type": "Normal", "source": {"host": "node-a"},
                    "lastTimestamp": f"2026-12-01T00:00:0{uid[-1]}Z",
                    "involvedObject": {"kind": "Pod", "name": "pull-x-r1-abc",
                                       "namespace": "study-harness", "labels": labels,
                                       "fieldPath": f"spec.{kind}{{{container}}}"}}

        debian = "docker.io/library/debian:bookworm-slim@sha256:" + "c" * 64
        lines = [
            event("u1", "clear", True, f'Container image "{debian}" already present on machine'),
            event("u2", "pull", False, f'Successfully pulled image "{REF}" in 6.959s (6.959s '
                                       "including waiting). Image size: 3369495 bytes."),
        ]
        _, df = table_of_bytes(b"\n".join(orjson.dumps(e) for e in lines))
        roles = dict(zip(df["container"], df["role"], strict=True))
        assert roles == {"clear": "operator", "pull": "studied"}

    def test_explicit_studied_set_wins(self) -> None:
        studied = frozenset(["9-layers-size-1176249324-bytes"])
        assert classify_image(REF, "default", studied) == "studied"
        assert classify_image("docker.io/library/busybox:1", "default", studied) == "other"


class TestAgainstSeedParse:
    """Rows match the seed's own raw-times.json parse of the same events (golden values)."""

    def test_app_pulls_match_raw_times(self) -> None:
        gold = json.loads((PULLING / "streaming-raw-times-amg-size4.json").read_text())
        _, streaming = table_of(*STREAMING.glob("events-*.json"))
        _, without = table_of(*WITHOUT_STREAMING.glob("events-*.json"))
        both = pd.concat([streaming, without], ignore_index=True)
        assert len(gold) == 8
        for key, entry in gold.items():
            pod = key.removesuffix("-without-streaming").removesuffix("-streaming")
            row = both[(both["pod"] == pod) & (both["image_ref"] == entry["container"])]
            assert len(row) == 1, key
            row = row.iloc[0]
            ev = entry["events"]
            assert row["node"] == ev["pulled"]["instance"]
            for stage in ("pulling", "pulled", "created", "started"):
                assert row[f"{stage}_at"] == pd.Timestamp(ev[stage]["timestamp"]), (key, stage)
            seconds = float(re.search(r" in ([\d.]+)s ", ev["pulled"]["message"]).group(1))
            size = int(re.search(r"Image size: (\d+) bytes", ev["pulled"]["message"]).group(1))
            assert row["pull_seconds"] == pytest.approx(seconds)
            assert row["compressed_bytes"] == size
            assert row["role"] == "studied"

    def test_streaming_study_init_container_is_operator(self) -> None:
        _, df = table_of(*STREAMING.glob("events-*.json"))
        view = df[df["container"] == "flux-view"]
        assert len(view) == 4 and set(view["role"]) == {"operator"} and view["init_container"].all()


class TestChonkRun:
    """The run1 sample: tag-scheme sizes, per-node placement, stage times."""

    def test_tag_scheme_and_message_sizes(self) -> None:
        _, df = table_of(RUN1_4 / "events-size-4-1731219229.json")
        studied = df[df["role"] == "studied"]
        assert set(studied["image"]) == {"9-layers-size-1176249324-bytes",
                                         "9-layers-size-2770722493-bytes"}
        assert (studied["layers"] == 9).all()
        small = studied[studied["image"] == "9-layers-size-1176249324-bytes"]
        assert set(small["size_bytes"]) == {1176249324}
        assert set(small["compressed_bytes"]) == {3369495}  # "Image size: 3369495 bytes."
        assert len(small) == 4 and set(small["message_format"]) == {"size"}

    def test_completeness_matches_scheduler_placement(self) -> None:
        path = RUN1_4 / "events-size-4-1731219229.json"
        ingest, df = table_of(path)
        # Independent golden: where the scheduler put each pull pod, read straight from the lines.
        placed: dict[str, str] = {}
        images: dict[str, str] = {}
        for line in event_lines(path):
            event = json.loads(line)
            pod = (event.get("involvedObject") or {}).get("name", "")
            if event.get("reason") == "Scheduled" and pod.startswith("container-pull-"):
                placed[pod] = event["message"].rsplit(" to ", 1)[1]
            if event.get("reason") == "Pulling" and pod.startswith("container-pull-"):
                images[pod] = event["message"].split(":")[-1].rstrip('"')
        table = completeness(df, ingest.nodes)
        assert len(ingest.nodes) == 4
        for image in set(images.values()):
            for node in ingest.nodes:
                expected = sum(1 for p, n in placed.items() if n == node and images[p] == image)
                row = table[(table["image"] == image) & (table["node"] == node)]
                assert int(row["observed"].iloc[0]) == expected, (image, node)
        # The seed's Jobs stacked 4 pods on 2 of 4 nodes: half the pairs are missing.
        assert (table["status"] == "missing").sum() == 4

    def test_stage_times_and_time_to_started(self) -> None:
        path = RUN1_4 / "events-size-4-1731219229.json"
        _, df = table_of(path)
        pod = "container-pull-1-n9pxd"
        stamps = {}
        for line in event_lines(path):
            event = json.loads(line)
            if event.get("involvedObject", {}).get("name") == pod and event.get("reason"):
                stamps[event["reason"]] = pd.Timestamp(event["firstTimestamp"])
        row = df[df["pod"] == pod].iloc[0]
        assert row["pulling_at"] == stamps["Pulling"] and row["started_at"] == stamps["Started"]
        assert row["scheduled_at"] == stamps["Scheduled"]
        expected = (stamps["Started"] - stamps["Pulling"]).total_seconds()
        assert row["time_to_started_seconds"] == expected

    def test_spread_is_last_minus_first(self) -> None:
        _, df = table_of(RUN1_4 / "events-size-4-1731219229.json")
        spread = event_spread(df)
        row = spread[(spread["image"] == "9-layers-size-2770722493-bytes")
                     & (spread["stage"] == "pulled")].iloc[0]
        pulled = df[df["image"] == "9-layers-size-2770722493-bytes"]["pulled_at"]
        assert row["spread_seconds"] == (pulled.max() - pulled.min()).total_seconds()


class TestRobustness:
    """Malformed, truncated, re-emitted and odd lines are counted, never fatal."""

    def test_false_start_file_is_counted_not_raised(self) -> None:
        ingest, df = table_of(WITHOUT_STREAMING / "events-size-4-1731262744.json")
        assert df.empty and ingest.stats["malformed"] == 1

    def test_garbage_and_truncated_lines(self) -> None:
        clean = (RUN1_4 / "events-size-4-1731219229.json").read_bytes()
        lines = event_lines(RUN1_4 / "events-size-4-1731219229.json")
        torn = lines[5][: len(lines[5]) // 2]
        dirty = clean + b'{"not": "closed"\n' + b"Error from server (BadRequest)\n[1, 2]\n" + torn
        ing_clean, ref = table_of_bytes(clean)
        ing_dirty, got = table_of_bytes(dirty)
        pd.testing.assert_frame_equal(ref, got)
        assert ing_dirty.stats["malformed"] == 3 and ing_dirty.stats["truncated"] == 1
        assert ing_clean.stats["malformed"] == ing_clean.stats["truncated"] == 0

    def test_reemitted_event_is_deduplicated(self) -> None:
        lines = event_lines(RUN1_4 / "events-size-4-1731219229.json")
        pulled = next(json.loads(line) for line in lines if b'"reason":"Pulled"' in line
                      and b"container-pull-" in line)
        pulled["count"] = 2
        pulled["lastTimestamp"] = "2024-11-10T07:00:00Z"
        data = b"\n".join(lines) + b"\n" + orjson.dumps(pulled) + b"\n"
        _, ref = table_of_bytes(b"\n".join(lines) + b"\n")
        ingest, got = table_of_bytes(data)
        pd.testing.assert_frame_equal(ref, got)
        assert ingest.stats["duplicates"] == 1

    def test_node_falls_back_to_source_host(self) -> None:
        lines = event_lines(RUN4_4 / "events-size-4-1731255985.json")
        edited = []
        for line in lines:
            event = json.loads(line)
            if event.get("reason") in ("Pulling", "Pulled", "Created", "Started"):
                event.pop("reportingInstance", None)
            edited.append(json.dumps(event).encode())  # json.dumps spacing, not compact
        _, ref = table_of_bytes(b"\n".join(lines) + b"\n")
        _, got = table_of_bytes(b"\n".join(edited) + b"\n")
        assert (got["node"] != "").all()
        assert list(got["node"]) == list(ref["node"])

    @settings(max_examples=25, deadline=None)
    @given(chunk=st.integers(min_value=1, max_value=5000))
    def test_chunk_boundaries_do_not_matter(self, chunk: int) -> None:
        data = (RUN4_4 / "events-size-4-1731255985.json").read_bytes()
        _, ref = table_of_bytes(data)
        _, got = table_of_bytes(data, chunk)
        pd.testing.assert_frame_equal(ref, got)


class TestParallel:
    """Splitting a file across processes gives exactly the serial result."""

    def test_parallel_equals_serial(self, tmp_path, monkeypatch) -> None:
        import analysis.events.read as events

        # Three copies: every pod's events recur in other byte ranges (re-emitted events).
        data = b"".join(p.read_bytes() for p in (RUN1_4 / "events-size-4-1731219229.json",
                                                 STREAMING / "events-size-4-1731268972.json",
                                                 RUN1_4 / "events-size-4-1731219229.json"))
        path = tmp_path / "events.jsonl"
        path.write_bytes(data + b'{"torn": ')
        monkeypatch.setattr(events, "PARALLEL_MIN_BYTES", 0)
        serial = ingest_files([path], workers=1)
        for workers in (2, 3):
            parallel = ingest_files([path], workers=workers)
            pd.testing.assert_frame_equal(pull_table(serial, "r", 4), pull_table(parallel, "r", 4))
            assert parallel.stats == serial.stats
        assert serial.stats["duplicates"] > 0 and serial.stats["truncated"] == 1


def test_release_gives_the_same_table_and_empties_the_ingest() -> None:
    keep = ingest_files([RUN1_4 / "events-size-4-1731219229.json"])
    drop = ingest_files([RUN1_4 / "events-size-4-1731219229.json"])
    pd.testing.assert_frame_equal(pull_table(keep, "r", 4), pull_table(drop, "r", 4, release=True))
    assert keep.records and not drop.records
