"""The test doubles live under tests/: no product module imports them, nor is any left behind."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("study", "core", "infra", "experiments", "analysis", "policy")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_product_module_imports_the_test_doubles():
    offenders = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for pkg in PRODUCT
        for path in (ROOT / pkg).rglob("*.py")
        for name in _imports(path)
        if name == "tests" or name.startswith(("tests.", "study.lifecycle.fakes"))
    )
    assert offenders == []


def test_the_lifecycle_doubles_are_under_tests_only():
    assert not (ROOT / "study" / "lifecycle" / "fakes.py").exists()
    assert (ROOT / "tests" / "doubles" / "lifecycle.py").is_file()
