"""The user's GCP project comes from a git-ignored overlay, never from editing a tracked stack
file; `study run` refuses the shipped placeholder with the line that sets a real one."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import ROOT, sections

PLACEHOLDER_LINE = (
    "error: study:cluster.project: 'study-harness-sandbox' is the shipped placeholder, not your "
    "GCP project; set yours without editing the stack file: `echo 'gcp_project: YOUR-PROJECT' "
    "> stacks/local.yaml` or `export STUDY_GCP_PROJECT=YOUR-PROJECT`\n"
)


@pytest.fixture
def shipped(project, monkeypatch):
    """A project with the shipped nightly stack as it is, and the overlay at stacks/local.yaml."""
    project("gke-4-nightly", sections("gke-4-nightly"))
    monkeypatch.delenv("STUDY_LOCAL_CONFIG")
    return project


def cluster_of(config: dict[str, str]) -> dict:
    return json.loads(config["study:cluster"])


def test_the_overlay_file_sets_the_project_for_plan_and_program(shipped):
    from core.stacks import read_stack_config
    from infra.config import all_config

    (shipped.root / "stacks" / "local.yaml").write_text("gcp_project: my-study-proj\n")
    config = read_stack_config("gke-4-nightly")
    assert cluster_of(config)["project"] == "my-study-proj"
    # The program reads its config through the same overlay: `pulumi up` builds what plan showed.
    import pulumi

    cluster = json.dumps(sections("gke-4-nightly")["cluster"])
    pulumi.runtime.set_all_config({"study:cluster": cluster})
    try:
        assert cluster_of(all_config())["project"] == "my-study-proj"
    finally:
        pulumi.runtime.set_all_config({})


def test_the_environment_wins_over_the_file(shipped, monkeypatch):
    from core.stacks import read_stack_config

    (shipped.root / "stacks" / "local.yaml").write_text("gcp_project: my-study-proj\n")
    monkeypatch.setenv("STUDY_GCP_PROJECT", "ci-study-proj")
    assert cluster_of(read_stack_config("gke-4-nightly"))["project"] == "ci-study-proj"


def test_a_stack_naming_its_own_project_keeps_it(shipped, monkeypatch):
    from core.stacks import read_stack_config

    sec = sections("gke-4-nightly")
    sec["cluster"]["project"] = "team-owned-proj"
    shipped("own", sec)
    monkeypatch.setenv("STUDY_GCP_PROJECT", "ci-study-proj")
    assert cluster_of(read_stack_config("own"))["project"] == "team-owned-proj"


@pytest.mark.parametrize(("text", "line"), [
    ("gcp_projet: x\n", "local.yaml: gcp_projet: unknown key; did you mean 'gcp_project'?"),
    ("gcp_project: 42\n", "local.yaml: gcp_project: 42 is not allowed; must be a string"),
    ("gcp_project: Bad_Id\n", "local.yaml: gcp_project: 'Bad_Id' is not a GCP project id; 6-30 "
     "lowercase letters, digits or '-', starting with a letter, not ending with '-'"),
    ("- a\n", "local.yaml: must be a mapping of gcp_project"),
])
def test_a_bad_overlay_is_one_line(shipped, cli, text, line):
    (shipped.root / "stacks" / "local.yaml").write_text(text)
    code, out, err = cli("plan", "gke-4-nightly")
    assert (code, out, err) == (1, "", f"error: {line}\n")


def test_run_refuses_the_placeholder_before_anything_is_recorded(shipped, cli):
    code, out, err = cli("run", "gke-4-nightly")
    assert (code, out, err) == (1, "", PLACEHOLDER_LINE)
    assert not (shipped.root / "results").exists()


def test_plan_warns_about_the_placeholder_and_passes(shipped, cli, tmp_path):
    code, out, err = cli("plan", "gke-4-nightly", "--json",
                         "--manifests", str(tmp_path / "manifests"))
    assert code == 0
    assert json.loads(out)["warnings"] == [
        "study:cluster.project: 'study-harness-sandbox' is the shipped placeholder, not your GCP "
        "project; set yours without editing the stack file: `echo 'gcp_project: YOUR-PROJECT' > "
        "stacks/local.yaml` or `export STUDY_GCP_PROJECT=YOUR-PROJECT`; study run refuses it"
    ]


def test_the_overlay_is_git_ignored():
    """Setting the project never dirties a tracked file (provenance records a clean tree)."""
    out = subprocess.run(["git", "check-ignore", "-q", "stacks/local.yaml"], cwd=ROOT,
                         check=False)
    assert out.returncode == 0


def test_a_bad_overlay_leaves_the_stacks_that_do_not_use_it_readable(shipped, cli):
    """The overlay only sets the placeholder project of GKE stacks: a broken one makes those
    stacks one line each, and never an EKS stack or a GKE stack naming its own project
    unreadable, so `study stacks` and the cron janitor still judge them."""
    own = sections("gke-4-nightly")
    own["cluster"]["project"] = "team-owned-proj"
    shipped("own", own)
    shipped("eks", sections("eks-16-pulling"))
    (shipped.root / "stacks" / "local.yaml").write_text("gcp_project: Bad_Id\n")
    code, out, err = cli("stacks", "--json")
    rows = {r["stack"]: r for r in json.loads(out)}
    line = ("local.yaml: gcp_project: 'Bad_Id' is not a GCP project id; 6-30 lowercase letters, "
            "digits or '-', starting with a letter, not ending with '-'")
    assert code == 1
    assert rows["gke-4-nightly"] == {"stack": "gke-4-nightly", "error": line, "problems": [line]}
    assert (rows["own"]["ok"], rows["eks"]["ok"]) == (True, True)
