"""The `study` command itself: --version, shell completion, and --help a newcomer can read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import ROOT

STUDY = Path(sys.executable).parent / "study"  # the console script bin/bootstrap installs


def readme_commands() -> list[str]:
    """The command names of the README's command table, top to bottom, each once."""
    names: list[str] = []
    for line in (ROOT / "README.md").read_text().splitlines():
        m = re.match(r"\| `study ([a-z-]+)", line)
        if m and m.group(1) not in names:
            names.append(m.group(1))
    return names


def all_commands() -> list[tuple[str, ...]]:
    import typer.main

    from study.cli import app

    root = typer.main.get_command(app)
    out: list[tuple[str, ...]] = []
    for name in root.list_commands(None):  # type: ignore[attr-defined, arg-type]
        cmd = root.get_command(None, name)  # type: ignore[attr-defined, arg-type]
        out.append((name,))
        for sub in getattr(cmd, "commands", {}):
            out.append((name, sub))
    return out


def test_version_prints_the_package_version(cli):
    assert cli("--version") == (0, f"study-harness {version('study-harness')}\n", "")


def test_help_lists_the_commands_in_the_readme_order(cli):
    code, out, _ = cli("--help")
    assert code == 0
    listed = re.findall(r"^│ ([a-z][a-z-]*) ", out, flags=re.MULTILINE)
    assert listed == readme_commands()


@pytest.mark.parametrize("command", [(), *all_commands()], ids=lambda c: " ".join(c) or "study")
def test_help_has_no_type_noise(cli, command):
    """Flags show no `<bool>`, arguments no `<str>`, usage lines `STACK`, not `{STACK}`, and a
    repeated argument one `...`, not `RUN_DIR......`."""
    code, out, _ = cli(*command, "--help")
    assert code == 0
    assert re.findall(r"<(?:bool|str|int|float|path)[^>]*>|\{[A-Z_]+\}|\.{4,}", out) == []


def test_a_typer_without_the_display_methods_is_left_as_it_is(monkeypatch):
    """The help clean-up replaces three typer methods (typer 0.29.2, typer/core.py:
    TyperOption.display_type_rich, TyperArgument.display_type_rich and _usage_display_name);
    a typer that renamed one keeps its own help rather than failing on import."""
    from typer.core import TyperArgument, TyperOption

    from study.cli.help import quiet_types

    before = (TyperOption.display_type_rich, TyperArgument.display_type_rich)
    monkeypatch.delattr(TyperArgument, "_usage_display_name")
    assert quiet_types() is False
    assert (TyperOption.display_type_rich, TyperArgument.display_type_rich) == before


class TestCompletion:
    """typer's completion (click's protocol): the shell calls `study` with _STUDY_COMPLETE set
    to `complete_bash` and the words in COMP_WORDS/COMP_CWORD; the bash script registers
    `_study_completion` (typer 0.29.2, typer/_completion_shared.py COMPLETION_SCRIPT_BASH and
    typer/_completion_classes.py BashComplete)."""

    def complete(self, words: str) -> list[str]:
        env = {**os.environ, "_STUDY_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(len(words.split()) - 1)}
        res = subprocess.run([str(STUDY)], env=env, capture_output=True, text=True,
                             timeout=120, check=True, cwd=ROOT)
        return res.stdout.split()

    def test_the_bash_script_registers_the_command(self):
        res = subprocess.run([str(STUDY), "--show-completion", "bash"], capture_output=True,
                             text=True, timeout=120, check=True)
        assert "complete -o default -F _study_completion study" in res.stdout

    def test_commands_and_stack_names_complete(self):
        from core.stacks import stack_names

        assert self.complete("study pl") == ["plan"]
        assert self.complete("study plan gke-64-l") == ["gke-64-localssd"]
        assert self.complete("study destroy eks-") == [n for n in stack_names()
                                                       if n.startswith("eks-")]
