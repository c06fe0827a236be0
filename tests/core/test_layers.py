"""Imports only point down: core <- (infra, experiments) <- policy, analysis <- study (the CLI).

Read from the source with `ast`, not by importing, so an import inside a function (how most of
this code defers its heavy SDKs) counts the same as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("core", "infra", "experiments", "analysis", "policy", "study")


def imported_packages(package: str) -> dict[str, set[str]]:
    """{module path: the first-party top-level packages it imports}."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        tops: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                tops |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops.add(node.module.split(".")[0])
        out[str(path.relative_to(ROOT))] = tops & set(OURS)
    return out


def crossings(package: str, forbidden: set[str]) -> list[str]:
    return sorted(f"{module} imports {', '.join(sorted(tops & forbidden))}"
                  for module, tops in imported_packages(package).items() if tops & forbidden)


@pytest.mark.parametrize("package", ["core", "infra", "experiments", "analysis", "policy"])
def test_nothing_below_the_cli_imports_study(package):
    assert crossings(package, {"study"}) == []


def test_core_imports_nothing_of_ours():
    assert crossings("core", set(OURS) - {"core"}) == []


def test_experiments_do_not_import_infra():
    assert crossings("experiments", {"infra", "policy", "analysis"}) == []


def test_infra_reaches_experiments_only_where_it_composes_the_stack():
    """Not yet one-way: these modules compose the experiment into the stack (its spec, its
    estimate and validation, its component and its upload target) and are to move to the
    program layer; no other infra module may start importing experiments."""
    assert crossings("infra", {"experiments"}) == [
        "infra/estimate.py imports experiments",
        "infra/results_bucket.py imports experiments",
        "infra/spec/__init__.py imports experiments",
        "infra/validate.py imports experiments",
        "infra/workloads.py imports experiments",
    ]


def test_the_checker_sees_a_deferred_import(tmp_path, monkeypatch):
    """The walk finds an import inside a function body, the form most of this code uses."""
    pkg = tmp_path / "core"
    pkg.mkdir()
    (pkg / "late.py").write_text("def f():\n    from study.cli import main\n    return main\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert crossings("core", {"study"}) == ["core/late.py imports study"]
