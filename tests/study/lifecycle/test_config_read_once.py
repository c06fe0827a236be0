"""`study run` reads the stack file once: the CLI's read is what the plan, the plan's program,
the preflight and provenance use (it was read four times, and an edit mid-run could be seen by
one reader and not another)."""

from __future__ import annotations

import json

import pytest

from tests.study.lifecycle.conftest import STACK, STEPS3


@pytest.fixture
def reads(monkeypatch):
    """Every read of the test stack's file, through the one YAML reader core.stacks has."""
    import core.stacks

    real, seen = core.stacks.load_yaml_file, []

    def counting(path):
        if path.name == f"Pulumi.{STACK}.yaml":
            seen.append(path)
        return real(path)

    monkeypatch.setattr(core.stacks, "load_yaml_file", counting)
    return seen


def test_study_run_reads_the_stack_file_once(harness, project, monkeypatch, cli, reads):
    h = harness(steps=list(STEPS3))
    project(STACK, h.sec)
    h.services.results_root = h.results = project.root / "results"
    h.services.planner = None  # the real plan (mock engine) and the real config reading
    h.services.config_reader = None
    monkeypatch.setattr("study.cli.run.services", lambda: h.services)
    code, out, err = cli("run", STACK)
    assert code == 0, err
    assert len(reads) == 1
    run_dir = h.results / STACK / out.strip().rsplit("/", 1)[-1]
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["stack"] == STACK


def test_an_edit_after_the_read_is_checked_again(project, reads):
    """The plan's program skips the second read only for the very file already read."""
    from core.stacks import check_stack_file, read_stack_config
    from tests.study.lifecycle.conftest import nightly

    path = project.root / "stacks" / f"Pulumi.{project(STACK, nightly())}.yaml"
    read_stack_config(STACK, project.root)
    check_stack_file(STACK, project.root)
    assert len(reads) == 1
    path.write_text(path.read_text() + "\n# edited\n")
    check_stack_file(STACK, project.root)
    assert len(reads) == 2
