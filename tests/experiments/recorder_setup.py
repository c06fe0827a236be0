"""The step recorder as the pull tests run it: in-process, on one seed pull run's events.

Why shared: the recorder tests and the pull clean-up tests start from the same state (the seed's
run1 events as the event recorder's file, results under tmp_path, no real sleeps).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "experiments"
SEED_EVENTS = FIX / "run1-4-size-1176249324.jsonl"


def seed_recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """`experiments.recorder` writing to tmp_path, its events file the seed's, sleeps instant."""
    from experiments import recorder as rec

    (tmp_path / "events").mkdir()
    shutil.copy(SEED_EVENTS, tmp_path / "events" / "events.jsonl")
    monkeypatch.setattr(rec, "RESULTS", str(tmp_path))
    monkeypatch.setattr(rec.time, "sleep", lambda s: None)
    return rec
