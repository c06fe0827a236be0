"""`study destroy`, `study runs`, `study janitor` and `study run` as commands, against the fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from study.lifecycle import ledger
from study.lifecycle.interfaces import PermanentError
from study.lifecycle.janitor import file_expiry, sweep
from study.lifecycle.state import load_state
from tests.conftest import to_config
from tests.doubles.lifecycle import raising
from tests.study.lifecycle.conftest import STACK, STEPS3, nightly

# The program re-validates under the mock engine with the real clock, so an expiry must lie in
# the real future; the janitor is then handed (or simulates) a time after it.
EXPIRY = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
AFTER = EXPIRY + timedelta(days=1)
EXPIRY_TEXT = EXPIRY.isoformat().replace("+00:00", "Z")


@pytest.fixture
def wired(harness, monkeypatch, project):
    """A fake world behind the real CLI entry point, with a project holding the test stack."""

    def make(sec=None, **kw):
        h = harness(sec=sec, steps=list(STEPS3), **kw)
        project(STACK, h.sec)
        h.services.results_root = project.root / "results"
        h.results = h.services.results_root
        monkeypatch.setattr("study.cli.run.services", lambda: h.services)
        monkeypatch.setattr("study.lifecycle.services.results_root", lambda: h.results)
        return h

    return make


class TestJanitor:
    """Expired stacks are destroyed, unexpired ones kept, `--dry-run` touches nothing."""

    def _expired_world(self, harness):
        sec = nightly(expires_at=EXPIRY_TEXT)
        h = harness(sec=sec, steps=list(STEPS3))
        out = h.run(keep=True)
        assert out.exit_code == 0 and h.world.cloud.live(STACK)
        return h

    def test_dry_run_lists_and_leaves_everything(self, harness):
        h = self._expired_world(harness)
        later = AFTER
        items = sweep(h.services, later, True, [STACK], lambda s: to_config(h.sec))
        assert [(i.stack, i.action) for i in items] == [(STACK, "would destroy")]
        assert h.world.cloud.live(STACK)
        assert [op for op, _ in h.world.backend.calls].count("destroy") == 0

    def test_expired_stack_is_destroyed_and_recorded(self, harness):
        h = self._expired_world(harness)
        later = AFTER
        items = sweep(h.services, later, False, [STACK], lambda s: to_config(h.sec))
        assert [(i.stack, i.action) for i in items] == [(STACK, "destroyed")]
        assert not h.world.cloud.live(STACK)
        st = load_state(h.results / STACK / load_state_dir(h))
        assert not st.resources_may_exist and st.destroyed_at is not None

    def test_not_expired_is_kept(self, harness):
        h = self._expired_world(harness)
        early = EXPIRY - timedelta(hours=1)
        items = sweep(h.services, early, False, [STACK], lambda s: to_config(h.sec))
        assert [i.action for i in items] == ["not expired"]
        assert h.world.cloud.live(STACK)

    def test_stack_known_only_by_labels_is_reported(self, harness):
        h = self._expired_world(harness)
        h.world.cloud.create("compute.instances", "orphan-1",
                             {"stack": "orphan", "expires-at": "20261101t000000z",
                              "managed-by": "study-harness"})
        later = AFTER
        items = {i.stack: i for i in sweep(h.services, later, True, [STACK],
                                           lambda s: to_config(h.sec))}
        assert items["orphan"].source == "labels"
        assert items["orphan"].action == "would destroy"

    def test_a_stack_label_that_is_no_stack_name_is_not_touched(self, harness):
        """AWS tag values may hold anything; one like `../x` reaches no path and no pulumi
        argument, and the sweep reports it as failed so cron notices."""
        h = self._expired_world(harness)
        h.world.cloud.create("ec2:instance", "i-1", {"stack": "../x", "managed-by": "study-harness",
                                                     "expires-at": "20261101t000000z"})
        items = {i.stack: i for i in sweep(h.services, AFTER, False, [STACK],
                                           lambda s: to_config(h.sec))}
        assert (items["../x"].action, items["../x"].detail) == (
            "failed", "the stack label is not a stack name; not touched, find the resources by "
                      "their labels")
        assert h.world.cloud.live("../x")

    def test_failed_destroy_is_loud(self, harness):
        h = self._expired_world(harness)
        h.world.faults.add("destroy", raising(PermanentError("permission denied")), times=9)
        later = AFTER
        items = sweep(h.services, later, False, [STACK], lambda s: to_config(h.sec))
        assert items[0].action == "failed"
        assert f"study destroy {STACK}" in items[0].detail and "leftovers:" in items[0].detail

    def test_file_expiry_parses_without_the_rest(self):
        assert file_expiry({"study:expires_at": "2026-01-01T00:00:00Z"}) == datetime(
            2026, 1, 1, tzinfo=UTC)
        assert file_expiry({}) is None

    def test_file_expiry_that_is_not_a_date_names_the_key(self):
        with pytest.raises(ValueError, match=r"^study:expires_at: 'tomorrow' is not an ISO 8601"):
            file_expiry({"study:expires_at": "tomorrow"})

    def test_a_stack_without_a_readable_expiry_fails_the_sweep(self, wired, cli, project):
        """Cron must hear about a stack the janitor could not judge: it may be expired and up."""
        wired(sec=nightly(expires_at=EXPIRY_TEXT))
        (project.root / "stacks" / "Pulumi.broken.yaml").write_text("config: [unclosed\n")
        code, out, err = cli("janitor", "--dry-run")
        assert code == 1
        assert f"{STACK}: not expired" in out
        assert "broken: unreadable" in out
        assert err.strip().splitlines()[-1].startswith(
            "error: 1 stack(s) with no readable expiry, not checked: broken ("
        )

    def test_human_report_is_on_stdout(self, wired, cli):
        wired(sec=nightly(expires_at=EXPIRY_TEXT))
        code, out, err = cli("janitor", "--dry-run")
        assert code == 0, err
        assert f"{STACK}: not expired" in out and "not expired" not in err

    def test_a_ttl_stack_never_created_is_not_an_unreadable_expiry(self, wired, cli):
        """A lifetime counts from creation and is stamped on the resources: with none there is
        nothing to expire, and cron must not hear of a failure."""
        wired(sec=nightly(ttl="12h"))
        code, out, err = cli("janitor", "--dry-run")
        assert (code, err) == (0, "")
        assert out == (f"{STACK}: not created (expires ?, from labels): study:ttl counts from "
                       "creation; nothing carries its labels\n")

    def test_a_ttl_stack_whose_labels_cannot_be_listed_is_unreadable(self, harness,
                                                                       monkeypatch):
        """No listing, no expiry: the janitor must not call such a stack never created."""
        h = harness(sec=nightly(ttl="12h"), steps=list(STEPS3))

        def unreachable(spec=None):
            msg = "compute.instances.list denied"
            raise PermissionError(msg)

        monkeypatch.setattr(h.services.inventory, "expiring_stacks", unreachable)
        items = sweep(h.services, AFTER, True, [STACK], lambda s: to_config(h.sec))
        assert [(i.stack, i.action, i.detail) for i in items] == [
            ("*", "failed", "('gke', 'study-harness-tests', 'us-central1'): compute.instances."
                            "list denied"),
            (STACK, "unreadable", "study:ttl: its expiry is on its resources' labels, which "
                                  "could not be listed"),
        ]

    def test_an_invalid_ttl_stack_says_why_it_cannot_be_judged(self, harness):
        sec = nightly(ttl="12h")
        sec["budget"] = {"usd": float("inf"), "max_hours": 1}
        h = harness(sec=nightly(ttl="12h"), steps=list(STEPS3))
        items = sweep(h.services, AFTER, True, [STACK], lambda s: to_config(sec))
        assert [(i.stack, i.action, i.detail) for i in items] == [
            (STACK, "unreadable", "study:budget.usd: inf is not allowed; input should be a "
                                  "finite number"),
        ]

    def test_a_created_ttl_stack_expires_by_its_stamped_label(self, harness):
        """The janitor reads a ttl stack's expiry from the `expires-at` label stamped at `up`."""
        h = harness(sec=nightly(ttl="12h"), steps=list(STEPS3))
        assert h.run(keep=True).exit_code == 0
        stamped = h.services.inventory.expiring_stacks()[STACK]
        early = sweep(h.services, stamped - timedelta(minutes=1), True, [STACK],
                      lambda s: to_config(h.sec))
        late = sweep(h.services, stamped + timedelta(minutes=1), True, [STACK],
                     lambda s: to_config(h.sec))
        assert [(i.action, i.source, i.expires_at) for i in early] == [
            ("not expired", "labels", stamped)]
        assert [(i.action, i.source, i.expires_at) for i in late] == [
            ("would destroy", "labels", stamped)]


def load_state_dir(h) -> str:
    return sorted(p.name for p in (h.results / STACK).iterdir())[-1]


class TestLedger:
    """`study runs` shows one line per run; a resumed run's last record wins; torn lines skipped."""

    def test_last_record_wins_and_torn_lines_are_skipped(self, tmp_path):
        e1 = ledger.LedgerEntry("s", "r1", "interrupted", 143, 0.0, 10.0, 0.1, 0.4, 0.1)
        e2 = ledger.LedgerEntry("s", "r1", "succeeded", 0, 0.0, 20.0, 0.2, 0.8, 0.2)
        e3 = ledger.LedgerEntry("t", "r2", "failed", 1, 5.0, 9.0, 0.1, 0.4, 0.1)
        for e in (e1, e3, e2):
            ledger.append(tmp_path, e)
        with (tmp_path / ledger.LEDGER).open("a") as fh:
            fh.write('{"stack": "s", "run_id": ')  # a crash mid-line
        assert ledger.read(tmp_path) == [e2, e3]
        assert ledger.read(tmp_path, "t") == [e3]


class TestCommands:
    """The CLI entry point with fakes injected: exit codes and one-line messages."""

    def test_run_then_runs(self, wired, cli):
        h = wired()
        code, out, err = cli("run", STACK)
        assert code == 0, err
        assert f"run of {STACK} succeeded" in err
        assert out.strip().startswith(str(h.results / STACK))  # the run dir, for scripts
        code, out, err = cli("runs", "--json")
        rows = json.loads(out)
        assert [(r["stack"], r["status"]) for r in rows] == [(STACK, "succeeded")]
        assert not h.world.cloud.live(STACK)

    def test_run_leftovers_exit_5_with_the_command(self, wired, cli):
        h = wired()
        h.world.faults.add("destroy", raising(PermanentError("googleapi: Error 403")), times=9)
        code, out, err = cli("run", STACK)
        assert code == 5
        assert f"destroy of {STACK} did not complete" in err
        assert f"finish it with: study destroy {STACK}" in err
        assert "leftover: container.clusters gke-4-nightly-cluster" in err

    def test_destroy_command_after_keep(self, wired, cli):
        h = wired()
        assert cli("run", STACK, "--keep")[0] == 0
        assert h.world.cloud.live(STACK)
        code, out, err = cli("destroy", STACK)
        assert code == 0, err
        assert not h.world.cloud.live(STACK)

    def test_collect_command_prints_the_run_dir(self, wired, cli):
        h = wired()
        assert cli("run", STACK, "--keep")[0] == 0
        code, out, err = cli("collect", STACK)
        assert code == 0, err
        assert out.strip().startswith(str(h.results / STACK))

    def test_janitor_dry_run_command(self, wired, cli):
        h = wired(sec=nightly(expires_at=EXPIRY_TEXT))
        assert cli("run", STACK, "--keep")[0] == 0
        h.world.clock.t = AFTER.timestamp()  # cron fires after the expiry
        code, out, err = cli("janitor", "--dry-run", "--json")
        assert code == 0, err
        assert json.loads(out) == [{"stack": STACK, "expires_at": EXPIRY.isoformat(),
                                    "source": "stack file", "action": "would destroy",
                                    "detail": ""}]
        assert h.world.cloud.live(STACK)

    def test_resume_without_a_run_is_one_line(self, wired, cli):
        wired()
        code, out, err = cli("run", STACK, "--resume")
        assert code == 1
        assert "nothing to resume for gke-4-nightly: no run" in err


class TestPathsFromOutside:
    """Values that become paths (a --run-id, a step name read back from the cluster) cannot
    reach outside results/<stack>/<run-id>/."""

    def test_collect_refuses_a_run_id_that_is_a_path(self, wired, cli):
        h = wired()
        code, out, err = cli("collect", STACK, "--run-id", "../../etc")
        assert (code, out) == (1, "")
        assert err == ("error: --run-id '../../etc': not allowed; a run id as `study runs` lists "
                       "them, e.g. 20261122T120000Z or 20261122T120000Z-2\n")
        assert h.world.backend.calls == []

    def test_a_step_name_from_the_cluster_that_is_a_path_is_not_written(self, harness):
        from tests.doubles.lifecycle import FakeStep

        h = harness(steps=[FakeStep("ok", 60), FakeStep("../../escaped", 60)])
        out = h.run()
        assert not (h.results / STACK / "escaped").exists()
        assert (out.run_dir / "steps" / "ok" / "log.txt").is_file()
        assert ("step '../../escaped': not a step name (a DNS-1123 label); its log was not "
                "written") in out.collection.problems


class TestNothingToDestroy:
    """`study destroy` of a stack whose state holds nothing destroys nothing and says why."""

    def test_a_stack_never_created_exits_0_and_says_so(self, wired, cli):
        h = wired()
        code, out, err = cli("destroy", STACK)
        assert (code, out) == (0, "")
        assert err.strip() == (f"nothing to destroy: {STACK} has no resources in its Pulumi "
                               "state (never created here, or already destroyed); nothing "
                               f"labelled stack={STACK} remains")
        assert [op for op, _ in h.world.backend.calls] == []  # no refresh, no destroy
        assert not (h.results / STACK).exists()

    def test_resources_carrying_its_labels_without_state_are_listed(self, wired, cli):
        """A lost state file does not make a running cluster "gone": the labels say otherwise."""
        from tests.study.lifecycle.conftest import labels_of

        h = wired()
        h.world.cloud.create("container.clusters", f"{STACK}-cluster", labels_of(h.sec))
        code, out, err = cli("destroy", STACK)
        assert (code, out) == (5, "")
        lines = err.strip().splitlines()
        assert lines[0] == f"error: {STACK} has no Pulumi state, yet resources carry its labels"
        assert lines[1] == f"  leftover: container.clusters {STACK}-cluster"


    def test_a_destroy_finished_by_hand_is_recorded_in_the_run(self, wired, cli):
        """After exit 5 the user runs `pulumi destroy` (the finish command offers it); the
        next `study destroy` finds an empty state and the run stops saying resources remain."""
        h = wired()
        h.world.faults.add("destroy", raising(PermanentError("googleapi: Error 403")), times=9)
        assert cli("run", STACK)[0] == 5
        run_dir = next((h.results / STACK).iterdir())
        assert load_state(run_dir).resources_may_exist is True
        for r in h.world.cloud.live(STACK):  # `pulumi destroy -s STACK --yes`, by hand
            h.world.cloud.delete(r.name)
        h.world.backend.state[STACK] = []
        h.world.clock.t += 3600  # the listing has caught up with the deletes
        code, _, err = cli("destroy", STACK)
        assert code == 0, err
        st = load_state(run_dir)
        assert (st.status, st.resources_may_exist, st.leftovers) == ("destroyed", False, [])
        assert st.destroyed_at == h.world.clock.now()


class TestPrerequisites:
    """Without the pulumi CLI or a passphrase every lifecycle command prints the same one line
    and exits 1, before anything is read from a cloud or written to results/."""

    COMMANDS = [("run", STACK), ("destroy", STACK), ("collect", STACK), ("janitor",),
                ("janitor", "--dry-run")]

    @pytest.fixture
    def real(self, project, monkeypatch, tmp_path):
        project(STACK, nightly())
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        monkeypatch.setenv("PATH", str(bin_dir))  # nothing but what a test puts there
        monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
        return project.root, bin_dir

    @pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
    def test_without_the_pulumi_cli(self, real, cli, args):
        from study.lifecycle.pulumi_backend import MISSING_CLI

        root, _ = real
        code, out, err = cli(*args)
        assert (code, out, err) == (1, "", f"error: {MISSING_CLI}\n")
        assert not (root / "results").exists()

    @pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
    def test_without_a_passphrase(self, real, cli, monkeypatch, args):
        """The CLI on PATH answers `pulumi version` (all the harness asks before the check);
        with neither passphrase variable set, the real CLI would fail non-interactively
        (pulumi/pulumi pkg/secrets/passphrase/manager.go, readPassphrase, at 037bd642)."""
        root, bin_dir = real
        fake = bin_dir / "pulumi"
        fake.write_text("#!/bin/sh\necho v3.272.0\n")
        fake.chmod(0o755)
        monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
        monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
        code, out, err = cli(*args)
        assert (code, out) == (1, "")
        assert err == ("error: PULUMI_CONFIG_PASSPHRASE is not set: the stacks' secrets are "
                       "encrypted with a passphrase; export PULUMI_CONFIG_PASSPHRASE=... or name "
                       "a file holding it with PULUMI_CONFIG_PASSPHRASE_FILE=PATH\n")
        assert not (root / "results").exists()


class TestInvalidInput:
    """A typo'd or broken stack is invalid input: exit 1, one line each, no run recorded."""

    def test_run_of_unknown_stack_records_nothing(self, wired, cli):
        h = wired()
        code, out, err = cli("run", "gke-4-nightli")
        assert (code, out) == (1, "")
        assert err.strip().endswith(f"did you mean '{STACK}'?")
        assert "--resume" not in err
        assert not (h.results / "gke-4-nightli").exists()
        assert cli("runs", "--json")[1].strip() == "[]"

    def test_run_of_invalid_stack_lists_the_problems(self, wired, cli, project):
        h = wired()
        sec = nightly()
        sec["cluster"]["machine_typ"] = sec["cluster"].pop("machine_type")
        project("typo", sec)
        code, _, err = cli("run", "typo")
        assert code == 1
        assert err.strip().splitlines() == [
            "error: study:cluster.machine_type: required key is missing",
            "error: study:cluster.machine_typ: unknown key; did you mean 'machine_type'?",
        ]
        assert not (h.results / "typo").exists()

    def test_collect_without_a_usable_cli_says_so(self, wired, cli):
        h = wired()
        h.world.faults.add("check", raising(PermanentError("the pulumi CLI is not usable")))
        code, out, err = cli("collect", STACK)
        assert (code, out) == (1, "")
        assert err.strip() == f"error: cannot collect {STACK}: the pulumi CLI is not usable"

    def test_runs_of_a_stack_without_runs_names_it(self, wired, cli):
        wired()
        code, out, err = cli("runs", "--stack", "nope")
        assert (code, out) == (0, "")
        assert err.startswith("no runs recorded for stack 'nope' (")

    @pytest.mark.parametrize(("command", "expected"), [
        ("collect", "(default: the latest)"),
        ("janitor", "5 when an expired stack could not be destroyed"),
        ("run", "3 preflight failed, nothing created"),
        ("destroy", "5 when the destroy did not complete"),
    ])
    def test_help_says_defaults_and_exit_codes(self, cli, command, expected):
        code, out, _ = cli(command, "--help")
        assert code == 0
        assert expected in " ".join(out.replace("\u2502", " ").split())
