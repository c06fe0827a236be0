"""`study campaign run` against the lifecycle's in-memory world: every case ends destroyed,
with every finished member collected, and `--resume` continuing after the last finished one."""

from __future__ import annotations

import json
import signal

from study.lifecycle.interfaces import PermanentError, TransientError
from tests.doubles.lifecycle import raising
from tests.study.campaign.conftest import campaign_of


def statuses(outcome) -> dict[str, str]:
    return {n: r.status for n, r in outcome.state.members.items()}


def run_until_stopped(camp, exit_code: int, **spec):
    """(harness, outcome, member statuses) of a campaign that must end with `exit_code`."""
    h = camp(campaign_of(**spec))
    out = h.run()
    assert out.exit_code == exit_code
    return h, out, statuses(out)


def assert_destroyed(h) -> None:
    assert h.world.cloud.live("gke-4-nightly") == []
    assert h.world.backend.state.get("gke-4-nightly", []) == []


class TestHappyPath:
    """One cluster for all members: created once, resized in place, destroyed once."""

    def test_members_run_in_order_on_one_cluster_resized_in_place(self, camp):
        h = camp()
        out = h.run()
        assert out.exit_code == 0
        assert statuses(out) == {"gke-4-nightly-n2": "succeeded", "gke-4-nightly-n4": "succeeded",
                                 "gke-4-nightly-n8": "succeeded"}
        # the pool: created at 2, updated (never replaced) to 4 and 8, scaled in to 1, deleted
        assert h.world.backend.pool_ops == [("create", 2), ("update", 4), ("update", 8),
                                            ("update", 1), ("delete", 1)]
        creates = [c for c in h.world.backend.calls if c[0] == "destroy"]
        assert len(creates) == 1
        assert_destroyed(h)

    def test_each_member_is_collected_under_the_campaign_run(self, camp):
        h = camp()
        out = h.run()
        for name in ("gke-4-nightly-n2", "gke-4-nightly-n4", "gke-4-nightly-n8"):
            member_dir = out.run_dir / name
            assert (member_dir / "provenance.json").is_file()
            assert (member_dir / "steps" / "pull-cold" / "log.txt").is_file()
            rows = json.loads((member_dir / "steps.json").read_text())
            assert {r["step"]: r["status"] for r in rows} == {"pull-cold": "succeeded",
                                                              "pull-warm": "succeeded"}
        nodes = json.loads((out.run_dir / "gke-4-nightly-n8" / "nodes.json").read_text())
        assert len(nodes["items"]) == 8
        prov = json.loads((out.run_dir / "provenance.json").read_text())
        assert [m["run_dir"] for m in prov["members"]] == [
            "gke-4-nightly-n2", "gke-4-nightly-n4", "gke-4-nightly-n8"]
        assert out.run_dir.parent.name == "nightly-sweep"
        assert out.run_dir.parent.parent.name == "campaigns"

    def test_every_member_runs_every_step_so_the_clear_step_runs_on_reused_nodes(self, camp):
        """No member inherits a finished step from the one before: the program renders all
        steps each time (no resume list), so the pulling kind's cache clearing runs on the
        nodes an earlier member used."""
        from core.layout import RESUME_ENV

        h = camp()
        h.run()
        envs = h.world.backend.member_envs
        assert len(envs) >= 3
        assert all(RESUME_ENV not in e for e in envs)
        sizes = [json.loads(e["STUDY_CONFIG_OVERRIDES"])["study:cluster"]["node_count"]
                 for e in envs]
        assert sizes == [2, 4, 8]


class TestFaults:
    def test_interrupt_after_a_member_destroys_and_resume_continues_after_it(self, camp):
        h = camp()
        w = h.world
        # the campaign's clear before the second member: Ctrl-C there
        w.faults.add("up.start", w.signals.action(signal.SIGINT), after=1)
        out = h.run()
        assert out.exit_code == 130
        assert statuses(out)["gke-4-nightly-n2"] == "succeeded"
        assert statuses(out)["gke-4-nightly-n4"] == "pending"
        assert (out.run_dir / "gke-4-nightly-n2" / "provenance.json").is_file()
        assert_destroyed(h)
        again = h.run(resume=True)
        assert again.exit_code == 0
        assert again.run_dir == out.run_dir
        assert statuses(again) == {"gke-4-nightly-n2": "succeeded",
                                   "gke-4-nightly-n4": "succeeded",
                                   "gke-4-nightly-n8": "succeeded"}
        # the new cluster starts at the first member not finished
        assert ("create", 4) in h.world.backend.pool_ops[-5:]
        assert_destroyed(h)

    def test_a_resize_that_fails_transiently_is_retried_by_the_member_run(self, camp):
        h = camp()
        w = h.world
        hits = {"n": 0}

        def flaky():
            hits["n"] += 1
            if hits["n"] == 1:
                msg = "googleapi: Error 503: backend error"
                raise TransientError(msg)

        # the first up.resource hits are the create's 8 resources; the resize comes after
        w.faults.add("up.resource", flaky, after=len(w.backend.template))
        out = h.run()
        assert out.exit_code == 0
        assert ("update", 4) in w.backend.pool_ops
        assert_destroyed(h)

    def test_a_resize_that_fails_permanently_stops_collects_destroys(self, camp):
        h = camp()
        w = h.world
        w.faults.add("up.resource", raising(PermanentError("googleapi: Error 403: denied")),
                     after=len(w.backend.template))
        out = h.run()
        assert out.exit_code == 1
        st = statuses(out)
        assert st["gke-4-nightly-n2"] == "succeeded"
        assert st["gke-4-nightly-n4"] == "failed"
        assert st["gke-4-nightly-n8"] == "pending"
        assert (out.run_dir / "gke-4-nightly-n2" / "steps" / "pull-cold" / "log.txt").is_file()
        assert_destroyed(h)
        again = h.run(resume=True)
        assert again.exit_code == 0
        assert statuses(again)["gke-4-nightly-n8"] == "succeeded"

    def test_the_quota_shrinking_mid_campaign_stops_before_the_member(self, camp):
        h = camp()
        w = h.world

        def shrink():
            w.cloud.quota_limits["cpus"] = 20  # 2 nodes x 4 held + 12: 4 nodes fit, 8 do not

        w.faults.add("up.end", shrink)
        out = h.run()
        assert out.exit_code == 3
        st = statuses(out)
        assert st["gke-4-nightly-n2"] == "succeeded"
        assert st["gke-4-nightly-n4"] == "succeeded"
        assert st["gke-4-nightly-n8"] == "not-run (quota)"
        assert out.state.stopped_before == "gke-4-nightly-n8"
        assert out.message == ("campaign nightly-sweep stopped before gke-4-nightly-n8: quota "
                               "cpus (live): gke-4-nightly-n8 needs 32, 20 available with the "
                               "cluster's own nodes")
        assert_destroyed(h)
        # --resume reruns nothing finished; the region still has 20 vCPUs: 8 nodes still do not
        # fit, on a new cluster holding nothing
        creates = len(w.backend.pool_ops)
        again = h.run(resume=True)
        assert again.exit_code == 3
        assert statuses(again)["gke-4-nightly-n4"] == "succeeded"
        assert again.state.stopped_before == "gke-4-nightly-n8"
        assert len(w.backend.pool_ops) == creates  # nothing was created for it
        assert_destroyed(h)

    def test_the_campaign_deadline_during_a_member_stops_it_collected_and_destroyed(self, camp):
        from tests.doubles.lifecycle import FakeStep
        # the steps take far longer than the stack's estimate: the second member meets the
        # campaign's deadline while it runs
        h = camp(campaign_of(budget={"usd": 60, "max_hours": 1.2}),
                 steps=[FakeStep("pull-cold", 1100), FakeStep("pull-warm", 1100)])
        out = h.run()
        assert out.exit_code == 4
        st = statuses(out)
        assert st["gke-4-nightly-n2"] == "succeeded"
        assert st["gke-4-nightly-n4"] == "deadline"
        assert (out.run_dir / "gke-4-nightly-n4" / "provenance.json").is_file()
        assert_destroyed(h)


class TestParallel:
    """Stacks asked to run side by side each get their own cluster and thread; a signal reaches
    both, and both end destroyed."""

    def campaign(self):
        return campaign_of(base=None, parallel=True,
                           sweep={"node_count": [2, 4],
                                  "stacks": ["gke-4-nightly", "gke-2-nightly"]})

    def test_both_stacks_run_every_member_on_their_own_cluster(self, camp):
        h = camp(self.campaign())
        out = h.run()
        assert out.exit_code == 0
        assert set(statuses(out).values()) == {"succeeded"}
        for stack, w in h.worlds.items():
            assert w.backend.pool_ops == [("create", 2), ("update", 4), ("update", 1),
                                          ("delete", 1)]
            assert w.cloud.live(stack) == []

    def test_a_signal_during_one_stack_stops_both_and_both_are_destroyed(self, camp):
        h = camp(self.campaign())
        first, second = h.worlds.values()
        # Ctrl-C reaches the process (the main thread's handler) while the second stack's
        # first member is being created
        second.faults.add("up.resource", first.signals.action(signal.SIGINT), after=3)
        out = h.run()
        assert out.exit_code == 130
        for stack, w in h.worlds.items():
            assert w.cloud.live(stack) == []
            assert w.backend.state.get(stack, []) == []
        assert "gke-4-nightly-n4" not in [n for n, s in statuses(out).items()
                                          if s == "succeeded"]


class TestStopsBefore:
    """A member that does not fit is never started: the campaign stops in front of it, with
    the members before it collected, and destroys."""

    def test_the_declared_quota_stops_it_before_the_member_that_does_not_fit(self, camp):
        # 16 declared vCPUs: 2 and 4 nodes of n1-standard-4 fit, 8 do not (as run3 at 128)
        h, out, st = run_until_stopped(camp, 3, quota={"cpus": 16, "in_use_addresses": 20})
        assert st["gke-4-nightly-n4"] == "succeeded"
        assert st["gke-4-nightly-n8"] == "not-run (quota)"
        assert out.state.stopped_before == "gke-4-nightly-n8"
        assert out.message.startswith("campaign nightly-sweep stopped before gke-4-nightly-n8: "
                                      "gke-4-nightly-n8: study:quota.cpus: the stack needs 32 "
                                      "but the declared quota is 16")
        assert h.world.backend.pool_ops[0] == ("create", 2)
        assert ("update", 8) not in h.world.backend.pool_ops
        assert_destroyed(h)

    def test_what_is_left_of_the_budget_stops_it_before_a_member(self, camp):
        # 2 nodes spend 0.23 of 0.3 USD (the member's own run state, start to end); 4 would not
        h, out, st = run_until_stopped(camp, 3, budget={"usd": 0.3, "max_hours": 10})
        assert st["gke-4-nightly-n2"] == "succeeded"
        assert st["gke-4-nightly-n4"] == "not-run (budget)"
        assert out.state.message == ("gke-4-nightly-n4 needs an estimated 0.09 USD, the "
                                     "campaign has 0.07 of 0.3 USD left")
        assert ("update", 4) not in h.world.backend.pool_ops
        assert_destroyed(h)

    def test_the_money_running_out_during_a_member_stops_it_there(self, camp):
        """A member that runs longer than estimated is stopped by its watchdog where the
        campaign's money ends (what is left over its price per hour), collected, destroyed."""
        h, out, st = run_until_stopped(camp, 4, budget={"usd": 0.5, "max_hours": 10})
        assert st["gke-4-nightly-n2"] == "succeeded"
        assert st["gke-4-nightly-n4"] == "deadline"
        assert (out.run_dir / "gke-4-nightly-n4" / "provenance.json").is_file()
        assert_destroyed(h)


def test_a_clear_between_members_that_keeps_failing_stops_and_destroys(camp):
    """The update that clears a finished member is retried on transient errors; when it keeps
    failing the campaign stops with that error, the finished member kept, and destroys."""
    from tests.doubles.lifecycle import gke_in_progress

    h = camp()
    w = h.world
    w.faults.add("up.start", raising(gke_in_progress()), times=3, after=1)
    out = h.run()
    assert out.exit_code == 1
    st = statuses(out)
    assert st["gke-4-nightly-n2"] == "succeeded"
    assert st["gke-4-nightly-n4"] == "pending"
    assert out.state.message.startswith("gke-4-nightly: TransientError: googleapi: Error 400: "
                                        "Operation operation-1700000000000-abc is currently")
    assert_destroyed(h)


def test_the_minutes_between_members_count_against_the_campaign_budget(camp):
    """The cluster bills at the finished member's size while the update between members clears
    it: no member's own run counts that time, so the campaign adds it to what it has spent."""
    h = camp()
    # The update that clears the first member (the second `up`) takes an hour longer.
    h.world.faults.add("up.start", lambda: h.world.clock.sleep(3600), times=1, after=1)
    slow = h.run()
    assert slow.exit_code == 0
    rate = json.loads((slow.run_dir / "gke-4-nightly-n2" / "run-state.json").read_text())[
        "usd_per_hour"]
    saved = json.loads((slow.run_dir / "campaign.json").read_text())
    assert saved["spent_usd"] == slow.state.spent_usd
    assert slow.state.spent_usd >= rate  # at least the hour at two nodes' price
    assert slow.state.spent_usd < rate + 0.5 * rate  # and not much more: two quick clears
