"""Collection: idempotent, resumable, merges rather than drops, never writes a secret."""

from __future__ import annotations

import json

import pytest

from core.errors import StudyError
from study.lifecycle.collect import merge_events, public_outputs, redact_config, step_rows
from study.lifecycle.commands import collect_stack
from study.lifecycle.interfaces import OutputValue
from tests.conftest import to_config
from tests.doubles.lifecycle import FAKE_KUBECONFIG, raising
from tests.study.lifecycle.conftest import STACK, STEPS3


def _snapshot(run_dir):
    return {
        p.relative_to(run_dir).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(run_dir.rglob("*"))
        if p.is_file()
    }


class TestCollectIsIdempotent:
    """Running `study collect` twice on the same cluster changes no byte and no mtime."""

    def test_twice_changes_nothing(self, harness):
        h = harness(steps=list(STEPS3))
        out = h.run(keep=True)
        assert out.exit_code == 0
        first = _snapshot(out.run_dir)
        again = collect_stack(STACK, h.services, to_config(h.sec))
        assert again.run_dir == out.run_dir and not again.collection.partial
        assert _snapshot(out.run_dir) == first
        h.world.clock.sleep(3600)  # later, same cluster content
        collect_stack(STACK, h.services, to_config(h.sec))
        assert _snapshot(out.run_dir) == first

    def test_resumes_after_a_half_way_failure(self, harness):
        h = harness(steps=list(STEPS3))
        h.world.faults.add("reader.log", raising(ConnectionResetError("stream closed")), after=1)
        h.world.faults.add("reader.events", raising(TimeoutError("read timed out")))
        out = h.run(keep=True)
        assert out.collection.partial
        prov = json.loads((out.run_dir / "provenance.json").read_text())
        assert prov["partial"] is True
        assert [s["complete"] for s in prov["steps"]] == [True, False, True]
        assert not (out.run_dir / "events.jsonl").exists()
        again = collect_stack(STACK, h.services, to_config(h.sec))
        assert not again.collection.partial
        prov = json.loads((out.run_dir / "provenance.json").read_text())
        assert prov["partial"] is False and all(s["complete"] for s in prov["steps"])
        assert (out.run_dir / "events.jsonl").is_file()

    def test_each_step_keeps_the_recorders_whole_status(self, harness):
        """From the cluster, as from the bucket: `steps/<step>/status.json` is the recorder's
        own file (checks, timings, its start and end), not only the summary in steps.json."""
        h = harness(steps=list(STEPS3))
        out = h.run(keep=True)
        statuses = h.world.experiment.statuses()
        assert set(statuses) == {s.name for s in STEPS3}
        for name, status in statuses.items():
            kept = json.loads((out.run_dir / "steps" / name / "status.json").read_text())
            assert kept == json.loads(json.dumps(status, default=str))

    def test_collect_after_destroy_keeps_what_is_there(self, harness):
        h = harness(steps=list(STEPS3))
        out = h.run()
        before = _snapshot(out.run_dir)
        again = collect_stack(STACK, h.services, to_config(h.sec))
        assert again.collection is None and "already collected" in again.message
        assert _snapshot(out.run_dir) == before

    def test_nothing_to_collect_is_one_clear_error(self, harness):
        h = harness()
        with pytest.raises(StudyError, match="has no outputs: nothing was brought up"):
            collect_stack(STACK, h.services, to_config(h.sec))


class TestNoSecretsWritten:
    """No kubeconfig, token or credential reaches the results directory or the ledger."""

    def test_results_never_hold_the_kubeconfig(self, harness):
        h = harness(steps=list(STEPS3))
        out = h.run()
        assert out.exit_code == 0
        secret_bits = ["FAKE-BEARER-TOKEN", "kind: Config", FAKE_KUBECONFIG, "token"]
        for path in h.results.rglob("*"):
            if path.is_file():
                text = path.read_text()
                for bit in secret_bits:
                    assert bit not in text, f"{bit!r} written to {path}"
        outputs = json.loads((out.run_dir / "outputs.json").read_text())
        assert "kubeconfig" not in outputs and outputs["cluster_name"] == STACK

    def test_public_outputs_drop_marked_and_named_secrets(self):
        outs = {
            "endpoint": OutputValue("1.2.3.4"),
            "kubeconfig": OutputValue("x", secret=False),  # even unmarked
            "admin_token": OutputValue("t"),
            "db": OutputValue("p", secret=True),
        }
        assert public_outputs(outs) == {"endpoint": "1.2.3.4"}

    def test_secure_config_values_are_redacted(self):
        cfg = {"study:owner": "me", "gcp:token": '{"secure": "AAABBB"}'}
        assert redact_config(cfg) == {"gcp:token": "[secret]", "study:owner": "me"}


class TestMerging:
    """Events are deduplicated by uid (latest version kept); earlier step results survive."""

    def test_events_dedup_latest_wins_order_kept(self):
        a1 = {"metadata": {"uid": "a"}, "count": 1}
        b1 = {"metadata": {"uid": "b"}, "count": 1}
        a2 = {"metadata": {"uid": "a"}, "count": 2}
        assert merge_events([a1], [b1, a2]) == [a2, b1]

    def test_terminal_step_is_not_overwritten_by_a_fresh_cluster(self):
        prev = [{"step": "s1", "status": "succeeded", "kind": "k", "started_at": "t0",
                 "finished_at": "t1", "params": {}}]
        rows = step_rows({"s1": {"status": "pending"}, "s2": {"status": "running"}}, prev,
                         stop_reason="deadline")
        by = {r["step"]: r for r in rows}
        assert by["s1"]["status"] == "succeeded"
        assert by["s2"]["status"] == "deadline" and by["s2"]["stopped_by"] == "deadline"

    def test_a_newer_ending_drops_the_old_stop(self):
        """A step that stopped a run and ended again on resume: its row is the new one whole,
        so no `stop` of the earlier attempt is left for the verdict to read."""
        prev = [{"step": "s1", "status": "failed", "kind": "k", "started_at": "t0",
                 "finished_at": "t1", "params": {}, "stop": "study stopped at step s1: ..."}]
        rows = step_rows({"s1": {"status": "succeeded", "kind": "k", "started_at": "t2",
                                 "finished_at": "t3"}}, prev, stop_reason=None)
        assert rows == [{"step": "s1", "kind": "k", "status": "succeeded", "started_at": "t2",
                         "finished_at": "t3", "params": {}}]

    def test_a_stop_stands_while_the_step_has_not_ended_again(self):
        prev = [{"step": "s1", "status": "failed", "kind": "k", "started_at": "t0",
                 "finished_at": "t1", "params": {}, "stop": "study stopped at step s1: ..."}]
        rows = step_rows({"s1": {"status": "running"}}, prev, stop_reason=None)
        assert rows == prev


def test_provenance_has_what_the_analysis_needs(harness):
    h = harness(steps=list(STEPS3))
    out = h.run()
    prov = json.loads((out.run_dir / "provenance.json").read_text())
    for key in ("stack_config", "stack", "run_id", "experiment", "repository", "harness_version",
                "versions", "kubernetes_version", "operator_images", "node_count", "machine_type",
                "started_at", "ended_at", "node_hours", "estimated_cost_usd", "actual_cost_usd",
                "steps", "partial"):
        assert key in prov, key
    assert prov["repository"] == {"commit": "0" * 40, "dirty": False}
    assert prov["kubernetes_version"] == "v1.30.5-gke.1"
    assert prov["operator_images"][0]["image_id"].startswith("ghcr.io/resmoio/")
    assert prov["actual_cost_usd"] == pytest.approx(prov["node_hours"] / 4 * 0.9148, rel=0.01)
    steps = json.loads((out.run_dir / "steps.json").read_text())
    assert set(steps[0]) == {"step", "kind", "status", "started_at", "finished_at", "params"}
    nodes = json.loads((out.run_dir / "nodes.json").read_text())
    assert nodes["kind"] == "List" and len(nodes["items"]) == 4
    events = [json.loads(x) for x in (out.run_dir / "events.jsonl").read_text().splitlines()]
    uids = [e["metadata"]["uid"] for e in events]
    assert len(uids) == len(set(uids)) == 6 and all(e["count"] == 2 for e in events)


def test_environment_capture_tolerates_no_git(tmp_path):
    from study.lifecycle.environment import capture

    env = capture(tmp_path)
    assert env["repository"]["commit"] is None
    assert env["versions"]["pulumi"]
