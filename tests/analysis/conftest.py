"""Fixtures shared by the analysis tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from seed_data import make_harness_run


@pytest.fixture
def harness_run(tmp_path: Path) -> Path:
    """A results/<stack>/<run-id>/ directory holding real seed events and logs."""
    return make_harness_run(tmp_path / "results")
