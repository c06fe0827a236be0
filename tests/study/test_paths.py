"""Every name joined into a path is one harmless path component, or refused in one line."""

from __future__ import annotations

import pytest

from core.errors import StudyError
from study.paths import run_id, stack_name, step_name


class TestStackName:
    """Pulumi's stack-name rule (pulumi/pulumi pkg/backend/filestate/backend.go,
    validateStackName: ^[A-Za-z0-9_.-]{1,100}$), minus "." and ".." which it lets through."""

    def test_every_shipped_stack_name_is_allowed(self):
        from core.stacks import stack_names

        names = stack_names()
        assert names and [stack_name(n) for n in names] == names

    @pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "../x", "a b", "x" * 101, "-x",
                                     "a\x00b", "é"])
    def test_what_would_leave_the_directory_is_refused(self, bad):
        with pytest.raises(StudyError) as info:
            stack_name(bad)
        assert str(info.value) == (f"stack {bad!r}: not allowed; letters, digits, '-', '_' and "
                                   "'.', starting with a letter or digit, at most 100 "
                                   "characters (Pulumi's stack names)")


class TestRunId:
    def test_what_new_run_id_makes_is_allowed(self, tmp_path):
        from datetime import UTC, datetime

        from study.lifecycle.state import new_run_id

        t = datetime(2026, 11, 22, 12, tzinfo=UTC).timestamp()
        first = new_run_id(t, tmp_path)
        (tmp_path / first).mkdir()
        second = new_run_id(t, tmp_path)
        assert (run_id(first), run_id(second)) == ("20261122T120000Z", "20261122T120000Z-2")

    @pytest.mark.parametrize("bad", ["", "latest", "../../etc", "20261117T084640Z/..",
                                     "20261117T084640Z-2-3",
                                     "\uff12\uff10\uff12\uff16" "1117T084640Z"])
    def test_anything_else_is_refused(self, bad):
        with pytest.raises(StudyError, match=r"^--run-id .*: not allowed; a run id as `study "
                                             r"runs` lists them"):
            run_id(bad)


def test_step_names_are_dns_labels():
    assert step_name("pull-cold") == "pull-cold"
    with pytest.raises(StudyError, match=r"^step '\.\./x': not allowed; a DNS-1123 label"):
        step_name("../x")


class TestOnTheCommandLine:
    """A stack file whose name is no stack name is refused before anything is written."""

    def test_plan_and_run_refuse_a_stack_named_with_a_space(self, cli, project):
        from tests.conftest import sections

        project("a b", sections("gke-64-localssd"))
        expected = ("error: stack 'a b': not allowed; letters, digits, '-', '_' and '.', "
                    "starting with a letter or digit, at most 100 characters (Pulumi's stack "
                    "names)\n")
        assert cli("plan", "a b") == (1, "", expected)
        assert cli("run", "a b") == (1, "", expected)
        assert sorted(p.name for p in project.root.iterdir()) == ["Pulumi.yaml", "__main__.py",
                                                                 "stacks"]
