"""`study plan` and `study stacks` as a user runs them: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from tests.conftest import sections


def test_plan_json_has_the_documented_shape(cli, tmp_path):
    code, out, err = cli("plan", "gke-64-localssd", "--json", "--manifests", str(tmp_path))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["stack"] == "gke-64-localssd"
    assert doc["violations"] == []
    types = {r["type"] for r in doc["resources"]}
    assert {
        "gcp:compute/network:Network",
        "gcp:container/cluster:Cluster",
        "gcp:container/nodePool:NodePool",
    } <= types
    assert all(set(r) >= {"type", "name"} for r in doc["resources"])
    cost = doc["cost"]
    assert cost["estimated_usd"] > 0
    assert abs(cost["estimated_usd"] - cost["usd_per_hour"] * cost["estimated_hours"]) < 0.05
    assert cost["estimated_usd"] <= doc["budget"]["usd"]
    # Manifests are written and each one is a Kubernetes object.
    files = sorted(tmp_path.glob("*.yaml"))
    assert len(files) == doc["manifests"] > 0
    for f in files:
        obj = yaml.safe_load(f.read_text())
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"]


def test_plan_human_output_shows_cost_and_resources(cli, tmp_path, locked_images):
    code, out, err = cli("plan", "gke-6-topology", "--manifests", str(tmp_path))
    assert code == 0, err
    assert "gcp:container/nodePool:NodePool" in out.replace("\n", "")
    assert "estimated cost" in out
    assert "plan OK" in err


def test_over_budget_plan_exits_non_zero_with_the_numbers(cli, project, tmp_path):
    sec = sections("gke-64-localssd")
    sec["budget"] = {"usd": 1, "max_hours": 3}
    project("tight", sec)
    code, out, err = cli("plan", "tight", "--json", "--manifests", str(tmp_path / "m"))
    assert code == 3
    doc = json.loads(out)
    assert len(doc["violations"]) == 2
    assert doc["violations"][0].startswith("study:budget.usd: 1 does not cover the estimated cost")
    # 1 USD buys minutes, not the 3 h of max_hours: the watchdog would stop every step early.
    assert doc["violations"][1].startswith("study:budget.usd: 1 (buys 0.02 h) leaves the steps "
                                           "less than their estimates")
    assert doc["resources"] == []  # nothing rendered for an invalid stack


def test_structural_errors_are_one_line_each_without_traceback(cli, project, tmp_path):
    sec = sections("gke-64-localssd")
    sec["cluster"]["node_count"] = 0
    sec["cluster"]["machine_typ"] = "n1-standard-4"
    project("broken", sec)
    code, out, err = cli("plan", "broken", "--manifests", str(tmp_path / "m"))
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert lines == [
        "error: study:cluster.node_count: 0 is not allowed; input should be greater than or "
        "equal to 1",
        "error: study:cluster.machine_typ: unknown key; did you mean 'machine_type'?",
    ]
    assert "Traceback" not in err


def test_unknown_stack_suggests_the_closest(cli):
    code, out, err = cli("plan", "gke-64-localsd")
    assert code == 1
    assert err.strip().endswith("did you mean 'gke-64-localssd'?")
    assert len(err.strip().splitlines()) == 1


def test_malformed_yaml_is_one_line(cli, project):
    project("weird", {"study": "x"})
    (project.root / "stacks" / "Pulumi.weird.yaml").write_text("config: [unclosed\n")
    code, _, err = cli("plan", "weird")
    assert code == 1
    assert err.startswith("error: Pulumi.weird.yaml: not valid YAML:")
    assert len(err.strip().splitlines()) == 1


def test_stacks_lists_every_stack_with_cost(cli):
    from core.stacks import stack_names

    code, out, err = cli("stacks", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["stack"] for r in rows] == stack_names()
    gke = next(r for r in rows if r["stack"] == "gke-64-osu")
    assert gke["cloud"] == "gke"
    assert gke["nodes"] == 64
    assert gke["machine_type"] == "c2d-standard-2"
    assert gke["estimated_usd"] > 0


def test_stacks_human_table(cli):
    code, out, _ = cli("stacks")
    assert code == 0
    assert "gke-64-localssd" in out and "n1-standard-16" in out


def test_yaml_error_names_line_and_column(cli, project):
    project("weird", {"study": "x"})
    (project.root / "stacks" / "Pulumi.weird.yaml").write_text(
        "config:\n  study:quota: 7\n    cpus: 16\n")
    code, out, err = cli("plan", "weird")
    assert (code, out) == (1, "")
    assert err.strip() == ("error: Pulumi.weird.yaml: not valid YAML: line 3, column 9: "
                           "mapping values are not allowed here")


def test_stack_file_that_is_not_a_mapping_is_one_line(cli, project):
    project("listy", {"study": "x"})
    (project.root / "stacks" / "Pulumi.listy.yaml").write_text("- a\n- b\n")
    code, _, err = cli("plan", "listy")
    assert code == 1
    assert err.strip() == ("error: Pulumi.listy.yaml: must be a mapping with a 'config:' key, "
                           "not a list")
    code, out, err = cli("stacks", "--json")  # one broken file does not break the listing
    assert code == 1  # but the listing does not call the project healthy
    assert json.loads(out) == [{
        "stack": "listy",
        "error": "Pulumi.listy.yaml: must be a mapping with a 'config:' key, not a list",
        "problems": ["Pulumi.listy.yaml: must be a mapping with a 'config:' key, not a list"],
    }]


def test_key_outside_the_study_namespace_is_named(cli, project):
    sec = sections("gke-64-localssd")
    project("ns", sec)
    path = project.root / "stacks" / "Pulumi.ns.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["studdy:quota"] = doc["config"].pop("study:quota")
    doc["config"]["gcp:project"] = "elsewhere"  # provider keys stay allowed
    path.write_text(yaml.safe_dump(doc))
    code, out, err = cli("plan", "ns")
    assert (code, out) == (1, "")
    assert err.strip() == ("error: studdy:quota: not in the 'study:' namespace, so never read; "
                           "did you mean 'study:quota'?")


class TestManifestsDir:
    """`--manifests` never writes into a directory by accident and never deletes a file the
    harness did not write: it writes into a new or empty directory, or one whose index
    (`.study-manifests.json`) says which files an earlier plan wrote."""

    def test_a_directory_holding_a_users_files_is_refused_and_left_untouched(self, cli, tmp_path):
        """`--manifests .` in the project must not delete Pulumi.yaml or anyone's YAML."""
        (tmp_path / "Pulumi.yaml").write_text("name: keep\n")
        (tmp_path / "999-stale-old.yaml").write_text("kind: Old\n")
        code, out, err = cli("plan", "gke-64-localssd", "--json", "--manifests", str(tmp_path))
        line = (f"--manifests {tmp_path}: holds files study plan did not write "
                "(999-stale-old.yaml, Pulumi.yaml); pass a new or empty directory, or remove it")
        assert code == 1
        assert json.loads(out)["violations"] == [line]  # --json: one object, also for bad input
        assert err.strip() == f"error: {line}"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["999-stale-old.yaml", "Pulumi.yaml"]
        assert (tmp_path / "999-stale-old.yaml").read_text() == "kind: Old\n"

    def test_the_working_directory_is_never_written_by_accident(self, cli, tmp_path, monkeypatch):
        """An empty value is not "." (pathlib reads "" as the current directory)."""
        monkeypatch.chdir(tmp_path)
        code, out, err = cli("plan", "gke-64-localssd", "--manifests", "")
        assert (code, out) == (1, "")
        assert err.strip() == ("error: --manifests '': empty; pass a directory (default: "
                               "plan-out/<stack>)")
        assert list(tmp_path.iterdir()) == []

    @pytest.mark.parametrize("where", ["/proc", "/proc/self"])
    def test_kernel_pseudo_filesystems_are_refused(self, cli, where):
        code, out, err = cli("plan", "gke-64-localssd", "--manifests", where)
        assert (code, out) == (1, "")
        assert err == (f"error: --manifests {where}: is inside a kernel pseudo-filesystem; pass "
                       "a directory of your own\n")

    def test_the_root_directory_is_refused(self, cli):
        """`/` holds this machine's directories, named in the line (the first three)."""
        code, out, err = cli("plan", "gke-64-localssd", "--manifests", "/")
        assert (code, out) == (1, "")
        shown = ", ".join(sorted(e.name for e in os.scandir("/"))[:3])
        assert err == (f"error: --manifests /: holds files study plan did not write ({shown}, "
                       "...); pass a new or empty directory, or remove it\n")

    def test_an_index_left_half_written_by_a_crash_does_not_lock_the_directory(self, cli,
                                                                               tmp_path):
        """A crash between writing the index and renaming it into place leaves only the
        harness's temporary file: the next plan writes there as into an empty directory."""
        out_dir = tmp_path / "m"
        out_dir.mkdir()
        (out_dir / "..study-manifests.json.tmp").write_text('{"written_by": "study pl')
        code, _, err = cli("plan", "gke-64-localssd", "--json", "--manifests", str(out_dir))
        assert code == 0, err
        assert not (out_dir / "..study-manifests.json.tmp").exists()
        index = json.loads((out_dir / ".study-manifests.json").read_text())
        assert sorted(index["files"]) == sorted(p.name for p in out_dir.glob("*.yaml"))

    def test_a_name_too_long_for_the_filesystem_is_one_line(self, cli, tmp_path):
        where = tmp_path / ("x" * 300)  # NAME_MAX is 255 on Linux filesystems
        code, out, err = cli("plan", "gke-64-localssd", "--json", "--manifests", str(where))
        assert code == 1  # and --json still prints its one object:
        assert json.loads(out)["violations"] == [err.removeprefix("error: ").rstrip()]
        assert err == (f"error: --manifests {where}: cannot be used (File name too long); pass "
                       "another directory\n")

    def test_a_link_to_nothing_is_named_as_such(self, cli, tmp_path):
        link = tmp_path / "m"
        link.symlink_to(tmp_path / "gone")
        code, out, err = cli("plan", "gke-64-localssd", "--json", "--manifests", str(link))
        assert code == 1  # and --json still prints its one object:
        assert json.loads(out)["violations"] == [err.removeprefix("error: ").rstrip()]
        assert err == (f"error: --manifests {link}: is a link to nothing ({tmp_path / 'gone'}); "
                       "create its target or pass another directory\n")
        assert not (tmp_path / "gone").exists()

    def test_a_second_plan_replaces_only_its_own_files(self, cli, tmp_path):
        out_dir = tmp_path / "m"
        assert cli("plan", "gke-64-localssd", "--json", "--manifests", str(out_dir))[0] == 0
        index = json.loads((out_dir / ".study-manifests.json").read_text())
        written = sorted(p.name for p in out_dir.glob("*.yaml"))
        assert sorted(index["files"]) == written and written
        (out_dir / "notes.txt").write_text("mine\n")  # a user's file beside the manifests
        stale = out_dir / index["files"][0]
        rendered = stale.read_text()
        stale.write_text("edited by hand\n")
        assert cli("plan", "gke-64-localssd", "--json", "--manifests", str(out_dir))[0] == 0
        assert (out_dir / "notes.txt").read_text() == "mine\n"
        assert stale.read_text() == rendered  # the harness's file, rendered again
        assert sorted(p.name for p in out_dir.glob("*.yaml")) == written

    def test_a_failed_plan_removes_the_earlier_manifests_and_says_so(self, cli, project, tmp_path):
        sec = sections("gke-64-localssd")
        project("later-broken", sec)
        out_dir = tmp_path / "m"
        code, _, err = cli("plan", "later-broken", "--json", "--manifests", str(out_dir))
        assert code == 0, err
        count = len(list(out_dir.glob("*.yaml")))
        (out_dir / "notes.txt").write_text("mine\n")
        sec["budget"] = {"usd": 1, "max_hours": 3}  # over budget: nothing is rendered
        project("later-broken", sec)
        code, out, err = cli("plan", "later-broken", "--manifests", str(out_dir))
        assert code == 3
        assert list(out_dir.glob("*.yaml")) == []
        assert (out_dir / "notes.txt").read_text() == "mine\n"
        assert (f"the {count} manifest(s) of an earlier plan in {out_dir} were removed: they no "
                "longer match the stack") in err.splitlines()

    def test_a_structurally_broken_stack_removes_them_too(self, cli, project, tmp_path):
        sec = sections("gke-64-localssd")
        project("typo-later", sec)
        out_dir = tmp_path / "m"
        assert cli("plan", "typo-later", "--json", "--manifests", str(out_dir))[0] == 0
        count = len(list(out_dir.glob("*.yaml")))
        sec["cluster"]["machine_typ"] = sec["cluster"].pop("machine_type")
        project("typo-later", sec)
        code, _, err = cli("plan", "typo-later", "--manifests", str(out_dir))
        assert code == 1
        assert list(out_dir.glob("*.yaml")) == []
        assert err.splitlines()[0] == (f"the {count} manifest(s) of an earlier plan in {out_dir} "
                                       "were removed: they no longer match the stack")

    def test_a_hand_edited_index_cannot_reach_outside(self, cli, tmp_path):
        outside = tmp_path / "precious.yaml"
        outside.write_text("keep\n")
        out_dir = tmp_path / "m"
        out_dir.mkdir()
        (out_dir / ".study-manifests.json").write_text(json.dumps(
            {"written_by": "study plan", "files": ["../precious.yaml", "/etc/hostname"]}))
        assert cli("plan", "gke-64-localssd", "--json", "--manifests", str(out_dir))[0] == 0
        assert outside.read_text() == "keep\n"

    def test_a_manifest_replaced_by_a_link_is_not_written_through(self, cli, tmp_path):
        """A symlink where the harness's file was is removed; its target stays as it was."""
        outside = tmp_path / "precious.yaml"
        outside.write_text("keep\n")
        out_dir = tmp_path / "m"
        assert cli("plan", "gke-64-localssd", "--json", "--manifests", str(out_dir))[0] == 0
        first = json.loads((out_dir / ".study-manifests.json").read_text())["files"][0]
        written = (out_dir / first).read_text()
        (out_dir / first).unlink()
        (out_dir / first).symlink_to(outside)
        (out_dir / "..study-manifests.json.tmp").symlink_to(tmp_path / "precious-too")
        assert cli("plan", "gke-64-localssd", "--json", "--manifests", str(out_dir))[0] == 0
        assert outside.read_text() == "keep\n"
        assert not (tmp_path / "precious-too").exists()
        assert not (out_dir / first).is_symlink()
        assert (out_dir / first).read_text() == written

    def test_a_users_file_named_like_a_manifest_beside_an_index_is_refused(self, cli, tmp_path):
        """The index says what the harness wrote; a file it does not list is the user's, even
        when its name is one a plan would write, so the plan refuses rather than replace it."""
        out_dir = tmp_path / "m"
        out_dir.mkdir()
        (out_dir / ".study-manifests.json").write_text(
            json.dumps({"written_by": "study plan", "files": []}))
        (out_dir / "000-namespace-study-harness.yaml").write_text("mine\n")
        code, out, err = cli("plan", "gke-64-localssd", "--json", "--manifests", str(out_dir))
        assert code == 1  # and --json still prints its one object:
        assert json.loads(out)["violations"] == [err.removeprefix("error: ").rstrip()]
        assert err == (f"error: --manifests {out_dir}: holds files study plan did not write "
                       "(000-namespace-study-harness.yaml); pass a new or empty directory, or "
                       "remove it\n")
        assert (out_dir / "000-namespace-study-harness.yaml").read_text() == "mine\n"

    def test_the_default_directory_adopts_files_of_plans_before_the_index(self, cli, project):
        """plan-out/<stack> is the harness's own: its older `<nnn>-<kind>-<name>.yaml` files
        are taken as written by the harness (and replaced), nothing else is."""
        project("adopt", sections("gke-64-localssd"))
        old = project.root / "plan-out" / "adopt"
        old.mkdir(parents=True)
        (old / "999-namespace-gone.yaml").write_text("kind: Namespace\n")
        code, _, err = cli("plan", "adopt", "--json")
        assert code == 0, err
        assert not (old / "999-namespace-gone.yaml").exists()
        assert (old / ".study-manifests.json").is_file()

    def test_the_default_directory_adopts_nothing_else(self, cli, project):
        project("mixed", sections("gke-64-localssd"))
        old = project.root / "plan-out" / "mixed"
        old.mkdir(parents=True)
        (old / "000-namespace-x.yaml").write_text("kind: Namespace\n")
        (old / "notes.md").write_text("mine\n")
        code, out, err = cli("plan", "mixed")
        assert (code, out) == (1, "")
        assert err.strip() == (f"error: the manifests directory {old}: holds files study plan "
                               "did not write (000-namespace-x.yaml, notes.md); pass a new or "
                               "empty directory, or remove it")
        assert sorted(p.name for p in old.iterdir()) == ["000-namespace-x.yaml", "notes.md"]


def test_unusable_manifests_dir_is_one_line_before_the_plan(cli, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    code, out, err = cli("plan", "gke-64-localssd", "--manifests", str(target))
    assert (code, out) == (1, "")
    assert err.strip() == (f"error: --manifests {target}: exists and is not a directory; "
                           "pass a directory")


def test_help_shows_defaults_and_exit_codes(cli):
    code, out, _ = cli("plan", "--help")
    assert code == 0
    text = " ".join(out.replace("\u2502", " ").split())
    assert "(default: plan-out/<stack>)" in text
    assert "3 a check failed; 1 invalid input" in text


def test_stack_file_path_instead_of_name_gets_the_name(cli):
    code, _, err = cli("plan", "stacks/Pulumi.gke-64-localssd.yaml")
    assert code == 1
    assert err.strip().endswith(
        "give the stack's name, not its file; did you mean 'gke-64-localssd'?")


def test_project_dir_without_a_project_is_not_silently_replaced(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("STUDY_PROJECT_DIR", str(tmp_path / "nowhere"))
    code, out, err = cli("stacks")
    assert (code, out) == (1, "")
    assert err.strip() == (f"error: STUDY_PROJECT_DIR={tmp_path / 'nowhere'}: no Pulumi.yaml and "
                           "stacks/ there; fix or unset it")


def test_values_that_look_like_markup_are_shown_not_parsed(cli, project):
    """'[/]' in a stack file is a value to quote, not rich markup (was a traceback)."""
    sec = sections("gke-64-localssd")
    sec["owner"] = "[/]"
    sec["description"] = "[draft] local SSD"
    project("markup", sec)
    code, out, err = cli("plan", "markup")
    assert (code, out) == (1, "")
    assert err.strip().startswith("error: study:owner: '[/]' is not allowed")
    code, out, err = cli("stacks")
    assert code == 1 and "Traceback" not in err  # the listing says a stack is invalid
    # The whole problem, under the table: quoted as written, never parsed as markup.
    assert err.strip().startswith("error: markup: study:owner: '[/]' is not allowed")


def test_description_with_brackets_is_printed_whole(cli, project, tmp_path, locked_images):
    sec = sections("gke-6-topology")
    sec["description"] = "[draft] six nodes"
    project("draft", sec)
    code, out, err = cli("plan", "draft", "--manifests", str(tmp_path / "m"))
    assert code == 0, err
    assert "study plan draft — [draft] six nodes" in out


def test_experiment_typo_is_invalid_input_not_a_failed_check(cli, project, tmp_path):
    sec = sections("gke-4-nightly")
    sec["experiment"]["params"]["iterationz"] = 2
    project("typo", sec)
    code, out, err = cli("plan", "typo", "--json", "--manifests", str(tmp_path / "m"))
    assert code == 1
    violations = json.loads(out)["violations"]
    assert len(violations) == 1
    assert violations[0].startswith("study:experiment.params.iterationz: unknown key")
