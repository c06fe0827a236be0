"""The results bucket: created once with the right settings, read with every checksum checked,
and the source `study collect` trusts first, also after the cluster is gone.

Real client libraries against object stores on loopback (tests/object_stores.py): boto3 and
moto's S3 server, google-cloud-storage and gcp-storage-emulator. The upload layout is the one
experiments/upload.sh writes (tested there with the real AWS CLI): `<stack>/<run-id>/steps/
<step>/{log.txt,status.json,checks.json,events.jsonl}` and MANIFEST.json last.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import pytest

from study.lifecycle.bucket_results import fetch_run, runs_of
from study.lifecycle.commands import bucket_runs, collect_stack
from study.lifecycle.janitor import sweep
from study.lifecycle.object_store import BucketSettings, GcsStore, S3Store
from tests.conftest import to_config
from tests.object_stores import bucket_name, gcs, gcs_endpoint, moto_endpoint, s3  # noqa: F401
from tests.study.lifecycle.conftest import STACK, STEPS3, nightly

EXPIRY = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
AFTER = EXPIRY + timedelta(days=1)
RUN = "20261122T120000Z"
UPLOAD_SCRIPT = Path(__file__).resolve().parents[3] / "experiments" / "upload.sh"
SETTINGS = BucketSettings("us-east-2", 90, {"managed-by": "study-harness",
                                            "purpose": "study-results", "owner": "alice"})


class TestBucketCreation:
    """A new bucket is versioned, expires old runs, is labelled and blocks public access; an
    existing one is never changed, only its shortfalls reported."""

    def test_s3_bucket_settings(self, s3):  # noqa: F811
        store = S3Store(bucket_name(), "us-east-2", client=s3)
        assert store.ensure(SETTINGS) == [
            f"created {store.url} in us-east-2: versioning on, runs deleted after 90 days, "
            "public access blocked"]
        assert s3.get_bucket_versioning(Bucket=store.name)["Status"] == "Enabled"
        assert s3.get_public_access_block(Bucket=store.name)[
            "PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True}
        (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=store.name)["Rules"]
        assert (rule["Status"], rule["Expiration"], rule["NoncurrentVersionExpiration"]) == (
            "Enabled", {"Days": 90}, {"NoncurrentDays": 30})
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=store.name)["TagSet"]}
        assert tags == {"managed-by": "study-harness", "purpose": "study-results",
                        "owner": "alice"}
        assert s3.get_bucket_location(Bucket=store.name)["LocationConstraint"] == "us-east-2"
        assert store.ensure(SETTINGS) == []  # created once: the second call changes nothing

    def test_existing_s3_bucket_is_left_alone_and_judged(self, s3):  # noqa: F811
        name = bucket_name()
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})
        store = S3Store(name, "us-east-2", client=s3)
        assert store.ensure(SETTINGS) == [
            f"s3://{name} exists with versioning off: an overwritten result is lost",
            f"s3://{name} exists without all four Block Public Access settings",
        ]
        assert "Status" not in s3.get_bucket_versioning(Bucket=name)

    def test_gcs_bucket_settings(self, gcs):  # noqa: F811
        """The emulator keeps no bucket metadata, so the body google-cloud-storage sends in its
        buckets.insert request is what is checked (the JSON API's bucket resource)."""
        store = GcsStore(bucket_name(), client=gcs)
        conn = gcs._connection
        with mock.patch.object(conn, "api_request", wraps=conn.api_request) as api:
            lines = store.ensure(BucketSettings("us-central1", 90, {"owner": "alice"}, "proj"))
        assert lines == [f"created {store.url} in us-central1: versioning on, runs deleted "
                         "after 90 days, public access prevented"]
        assert store.exists()
        (insert,) = [c.kwargs for c in api.call_args_list
                     if c.kwargs.get("method") == "POST" and c.kwargs.get("path") == "/b"]
        assert insert["query_params"]["project"] == "proj"
        body = insert["data"]
        assert (body["name"], body["location"]) == (store.name, "us-central1")
        assert body["versioning"] == {"enabled": True}
        assert body["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
        assert body["iamConfiguration"]["publicAccessPrevention"] == "enforced"
        assert body["labels"] == {"owner": "alice"}
        assert body["lifecycle"]["rule"] == [
            {"action": {"type": "Delete"}, "condition": {"age": 90}},
            {"action": {"type": "Delete"},
             "condition": {"isLive": False, "daysSinceNoncurrentTime": 30}},
        ]


def _step_files(step: str, status: str = "succeeded", log: str | None = None,
                events: list[dict] | None = None) -> dict[str, bytes]:
    return {
        "log.txt": (log if log is not None else f"{step}: log\n").encode(),
        "status.json": json.dumps({"step": step, "kind": "pulling", "status": status,
                                   "started_at": "2026-11-22T12:00:20+00:00",
                                   "finished_at": "2026-11-22T12:10:20+00:00"}).encode(),
        "checks.json": b"[]",
        "events.jsonl": "".join(json.dumps(e) + "\n" for e in events or []).encode(),
    }


def manifest_of(files: dict[str, bytes]) -> bytes:
    return json.dumps({"files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d)}
                                 for n, d in files.items()}}).encode()


def upload(put, stack: str, run: str, step: str, files: dict[str, bytes],
           manifest: bool = True) -> None:
    """What upload.sh leaves: each file, then MANIFEST.json."""
    base = f"{stack}/{run}/steps/{step}/"
    for name, data in files.items():
        put(base + name, data)
    if manifest:
        put(base + "MANIFEST.json", manifest_of(files))


class TestBucketVerification:
    """Every object is checked against its step's manifest; each problem names the object,
    and a bad object costs nothing but itself."""

    @pytest.fixture
    def bucket(self, s3):  # noqa: F811
        name = bucket_name()
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-2"})

        def put(key: str, data: bytes) -> None:
            s3.put_object(Bucket=name, Key=key, Body=data)

        return S3Store(name, "us-east-2", client=s3), put

    def test_complete_run(self, bucket):
        store, put = bucket
        for step in ("a", "b"):
            upload(put, "st", RUN, step, _step_files(step))
        run = fetch_run(store, "st", RUN)
        assert {n: s.complete for n, s in run.steps.items()} == {"a": True, "b": True}
        assert run.summary(["a", "b"]) == {
            "url": f"{store.url}/st/{RUN}/", "complete": True, "steps_in_bucket": ["a", "b"],
            "steps_expected": ["a", "b"], "missing": [], "problems": []}
        assert runs_of(store, "st") == [RUN]

    def test_each_kind_of_damage_is_named(self, bucket):
        store, put = bucket
        base = f"{store.url}/st/{RUN}/steps"
        good = _step_files("trunc")
        upload(put, "st", RUN, "trunc", good)
        put(f"st/{RUN}/steps/trunc/log.txt", good["log.txt"][:5])
        flipped = _step_files("flip")
        upload(put, "st", RUN, "flip", flipped)
        put(f"st/{RUN}/steps/flip/status.json", flipped["status.json"].replace(b"succ", b"SUCC"))
        gone = _step_files("gone")
        upload(put, "st", RUN, "gone", gone)
        store.client.delete_object(Bucket=store.name, Key=f"st/{RUN}/steps/gone/checks.json")
        upload(put, "st", RUN, "half", _step_files("half"), manifest=False)
        run = fetch_run(store, "st", RUN)
        flip_sha = hashlib.sha256(flipped["status.json"]).hexdigest()[:16]
        got_sha = hashlib.sha256(flipped["status.json"].replace(b"succ", b"SUCC")).hexdigest()[:16]
        assert run.all_problems() == [
            f"{base}/flip/status.json: checksum mismatch (manifest sha256 {flip_sha}, object "
            f"sha256 {got_sha}, {len(flipped['status.json'])} bytes)",
            f"{base}/gone/checks.json: missing object (the manifest lists it)",
            f"{base}/half/MANIFEST.json: missing; 4 other object(s) there: the upload did not "
            "finish",
            f"{base}/trunc/log.txt: truncated (5 of {len(good['log.txt'])} bytes)",
        ]
        # What does match is kept: three good files of each damaged step.
        assert sorted(run.steps["trunc"].files) == ["checks.json", "events.jsonl", "status.json"]
        assert run.steps["flip"].files["log.txt"] == flipped["log.txt"]
        assert run.summary(["flip", "gone", "half", "trunc", "never"])["missing"] == [
            "flip", "gone", "half", "trunc", "never"]


@pytest.fixture
def world(harness, gcs):  # noqa: F811
    """The nightly stack brought up by plain `pulumi up` (no `study run`), every step finished
    and uploaded by its cluster to a GCS bucket, nothing collected."""
    h = harness(sec=nightly(expires_at=EXPIRY.isoformat().replace("+00:00", "Z")),
                steps=list(STEPS3))
    store = GcsStore(bucket_name(), client=gcs)
    store.ensure(BucketSettings("us-central1", 365, {}, "p"))
    h.services.results_store = lambda spec: store
    w = h.world
    w.backend.up(STACK, lambda ev: None, lambda: False, {})
    assert w.experiment.completed_at() is not None  # every step has finished
    bucket = gcs.bucket(store.name)
    uploaded: dict[str, dict[str, bytes]] = {}
    for step, st in w.experiment.statuses().items():
        files = {"log.txt": (w.experiment.log(step) or "").encode(),
                 "status.json": json.dumps(st).encode(), "checks.json": b"[]",
                 "events.jsonl": "".join(json.dumps(e) + "\n"
                                         for e in w.experiment.events()).encode()}
        upload(lambda k, d: bucket.blob(k).upload_from_string(d), STACK, RUN, step, files)
        uploaded[step] = files
    return h, store, uploaded


class TestJanitorLosesNothing:
    """The janitor destroys an expired stack nobody collected; `study collect` afterwards gets
    everything the steps uploaded, from the bucket alone."""

    def test_collect_after_the_janitor(self, world):
        h, store, uploaded = world
        items = sweep(h.services, AFTER, False, [STACK], lambda s: to_config(h.sec))
        assert [(i.stack, i.action) for i in items] == [(STACK, "destroyed")]
        assert h.world.backend.outputs(STACK) == {} and not h.world.cloud.live(STACK)
        out = collect_stack(STACK, h.services, to_config(h.sec))
        assert out.run_dir == h.results / STACK / RUN
        assert not out.collection.partial, out.collection.problems
        assert out.message == (f"collected {STACK} into {out.run_dir} (complete; cluster: gone; "
                               "every step's results came from the bucket)")
        for step, files in uploaded.items():
            assert (out.run_dir / "steps" / step / "log.txt").read_bytes() == files["log.txt"]
            assert (out.run_dir / "steps" / step / "status.json").read_bytes() == files[
                "status.json"]
        rows = json.loads((out.run_dir / "steps.json").read_text())
        assert [(r["step"], r["status"]) for r in rows] == [
            ("pull-again", "succeeded"), ("pull-cold", "succeeded"), ("pull-warm", "succeeded")]
        events = [json.loads(x) for x in (out.run_dir / "events.jsonl").read_text().splitlines()]
        assert sorted(e["metadata"]["uid"] for e in events) == sorted(
            f"uid-{s}-{r}" for s in uploaded for r in ("Pulling", "Pulled"))
        assert all(e["count"] == 2 for e in events)  # the re-emitted (latest) version kept
        assert json.loads((out.run_dir / "bucket.json").read_text())["complete"] is True
        prov = json.loads((out.run_dir / "provenance.json").read_text())
        assert prov["results_bucket"]["steps_in_bucket"] == sorted(uploaded)

    def test_a_damaged_object_never_replaces_what_was_collected(self, world):
        h, store, uploaded = world
        first = collect_stack(STACK, h.services, to_config(h.sec))  # the cluster is still up
        assert not first.collection.partial, first.collection.problems
        log = first.run_dir / "steps" / "pull-cold" / "log.txt"
        assert log.read_bytes() == uploaded["pull-cold"]["log.txt"]
        blob = store.client.bucket(store.name).blob(f"{STACK}/{RUN}/steps/pull-cold/log.txt")
        good = uploaded["pull-cold"]["log.txt"]
        bad = good.upper()  # same length, other bytes
        blob.upload_from_string(bad)
        sweep(h.services, AFTER, False, [STACK], lambda s: to_config(h.sec))
        again = collect_stack(STACK, h.services, to_config(h.sec))
        assert again.run_dir == first.run_dir and again.collection.partial
        sha = hashlib.sha256
        assert again.collection.problems == [
            f"{store.url}/{STACK}/{RUN}/steps/pull-cold/log.txt: checksum mismatch (manifest "
            f"sha256 {sha(good).hexdigest()[:16]}, object sha256 {sha(bad).hexdigest()[:16]}, "
            f"{len(bad)} bytes)",
            "cluster: not reachable, and the bucket's copy is incomplete (named above); what "
            "was collected before is kept",
        ]
        assert log.read_bytes() == uploaded["pull-cold"]["log.txt"]
        rows = json.loads((first.run_dir / "steps.json").read_text())
        assert {r["status"] for r in rows} == {"succeeded"}

    def test_runs_shows_the_uncollected_run_as_complete(self, world):
        h, store, uploaded = world
        found = bucket_runs(h.services, [STACK], lambda s: to_config(h.sec))
        assert list(found) == [(STACK, RUN)]
        assert found[(STACK, RUN)]["complete"] is True
        assert found[(STACK, RUN)]["steps_in_bucket"] == sorted(uploaded)


def test_nothing_anywhere_is_one_clear_error(harness, gcs):  # noqa: F811
    from core.errors import StudyError

    h = harness(steps=list(STEPS3))
    store = GcsStore(bucket_name(), client=gcs)
    store.ensure(BucketSettings("us-central1", 365, {}, "p"))
    h.services.results_store = lambda spec: store
    with pytest.raises(StudyError) as err:
        collect_stack(STACK, h.services, to_config(h.sec))
    assert str(err.value) == (f"{STACK} has no outputs and {store.url} has no run of it: "
                              f"nothing was brought up; run `study run {STACK}` first")


class TestRunsCommand:
    """`study runs` lists a run only the bucket knows (a plain `pulumi up` nobody collected)
    and says whether each run's results are complete there."""

    def test_uncollected_run_is_listed_complete(self, world, project, cli, monkeypatch):
        h, store, uploaded = world
        project(STACK, h.sec)
        monkeypatch.setattr("study.cli.run.services", lambda: h.services)
        monkeypatch.setattr("study.lifecycle.services.results_root", lambda: h.results)
        code, out, err = cli("runs", "--json")
        assert (code, err) == (0, "")
        (row,) = json.loads(out)
        assert (row["stack"], row["run_id"], row["status"]) == (STACK, RUN, "not collected")
        assert row["bucket"]["complete"] is True
        assert row["bucket"]["steps_in_bucket"] == sorted(uploaded)
        code, out, _ = cli("runs")
        assert code == 0
        line = next(x for x in out.splitlines() if RUN in x)
        assert "not collected" in line and "complete (3 steps)" in line

    def test_a_damaged_run_is_incomplete(self, world, project, cli, monkeypatch):
        h, store, _ = world
        store.client.bucket(store.name).blob(
            f"{STACK}/{RUN}/steps/pull-warm/MANIFEST.json").delete()
        project(STACK, h.sec)
        monkeypatch.setattr("study.cli.run.services", lambda: h.services)
        monkeypatch.setattr("study.lifecycle.services.results_root", lambda: h.results)
        code, out, _ = cli("runs", "--json")
        (row,) = json.loads(out)
        assert row["bucket"]["complete"] is False
        assert row["bucket"]["steps_in_bucket"] == ["pull-again", "pull-cold"]
        assert row["bucket"]["problems"] == [
            f"{store.url}/{STACK}/{RUN}/steps/pull-warm/MANIFEST.json: missing; 4 other "
            "object(s) there: the upload did not finish"]


class TestStudyRunUsesTheBucket:
    """`study run` makes the bucket on first use (before anything is created) and its
    collection reads the bucket too; a bucket it cannot make stops it in preflight."""

    def test_first_run_creates_the_bucket(self, harness, gcs):  # noqa: F811
        h = harness(steps=list(STEPS3))
        store = GcsStore(bucket_name(), client=gcs)
        h.services.results_store = lambda spec: store
        out = h.run()
        assert out.exit_code == 0, out.message
        assert store.exists()
        assert f"results bucket: created {store.url} in us-central1: versioning on, runs " \
               "deleted after 365 days, public access prevented" in h.progress.lines
        # The fakes' cluster uploads nothing: the bucket's summary says so, the cluster's
        # copy is complete.
        summary = json.loads((out.run_dir / "bucket.json").read_text())
        assert (summary["complete"], summary["steps_in_bucket"]) == (False, [])
        assert not out.collection.partial

    def test_a_bucket_that_cannot_be_made_stops_preflight(self, harness):
        h = harness(steps=list(STEPS3))

        def refuse(spec):
            msg = "403 Forbidden: storage.buckets.create"
            raise PermissionError(msg)

        h.services.results_store = refuse
        out = h.run()
        assert out.exit_code == 3
        assert out.message == "preflight: results bucket: 403 Forbidden: storage.buckets.create"
        assert not h.world.cloud.live(STACK)  # nothing was created


def test_janitor_then_collect_with_the_real_upload_script(harness, s3, moto_endpoint, tmp_path):  # noqa: F811
    """The same proof end to end on S3: each finished step is uploaded by the in-cluster script
    itself (experiments/upload.sh with the real AWS CLI, against moto on loopback) from what the
    recorder's own functions leave on the volume; the janitor destroys the uncollected stack;
    `study collect` gets every byte back."""
    import subprocess

    from experiments import recorder as rec
    from tests.object_stores import cli_env

    h = harness(sec=nightly(expires_at=EXPIRY.isoformat().replace("+00:00", "Z")),
                steps=list(STEPS3))
    name = bucket_name()
    store = S3Store(name, "us-east-2", client=s3)
    store.ensure(SETTINGS)
    h.services.results_store = lambda spec: store
    w = h.world
    w.backend.up(STACK, lambda ev: None, lambda: False, {})
    volume = tmp_path / "volume"
    (volume / "events").mkdir(parents=True)
    (volume / "events" / "events.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in w.experiment.events()))
    logs = {}
    for step, st in w.experiment.statuses().items():
        out = volume / "steps" / step
        out.mkdir(parents=True)
        logs[step] = (w.experiment.log(step) or "").encode()
        (out / "log.txt").write_bytes(logs[step])
        (out / "status.json").write_text(json.dumps(st))
        (out / "checks.json").write_text("[]")
        rec.snapshot_events(str(volume / "events" / "events.jsonl"), str(out / "events.jsonl"))
        rec.write_manifest(str(out))
        done = subprocess.run(
            ["sh", str(UPLOAD_SCRIPT)], capture_output=True, text=True, timeout=120,
            check=False, env=cli_env({
                "RESULTS_URL": f"s3://{name}/{STACK}/{RUN}/", "STEP": step,
                "RESULTS_DIR": str(volume), "AWS_ENDPOINT_URL": moto_endpoint,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-2"}),
        )
        assert done.returncode == 0, done.stderr
    items = sweep(h.services, AFTER, False, [STACK], lambda s: to_config(h.sec))
    assert [(i.stack, i.action) for i in items] == [(STACK, "destroyed")]
    got = collect_stack(STACK, h.services, to_config(h.sec))
    assert not got.collection.partial, got.collection.problems
    for step, log in logs.items():
        assert (got.run_dir / "steps" / step / "log.txt").read_bytes() == log
    events = (got.run_dir / "events.jsonl").read_text().splitlines()
    assert len(events) == 2 * len(logs)  # Pulling and Pulled per step, re-emissions merged


def test_a_missing_bucket_costs_the_cluster_collection_nothing(harness, gcs):  # noqa: F811
    h = harness(steps=list(STEPS3))
    out = h.run(keep=True)  # no bucket configured for this run
    assert out.exit_code == 0
    store = GcsStore(bucket_name(), client=gcs)  # never created
    h.services.results_store = lambda spec: store
    again = collect_stack(STACK, h.services, to_config(h.sec))
    assert again.run_dir == out.run_dir and not again.collection.partial
    (warning,) = [x for x in h.progress.lines if x.startswith("warning:")]
    assert warning.startswith(f"warning: {store.url}: cannot list {STACK}/: NotFound")
    assert warning.endswith("; collecting from the cluster only")
