"""The real clock, signal hub and atomic writer (the parts of Services that are not cloud calls)."""

from __future__ import annotations

import os
import signal

import pytest

from study.lifecycle.system import AtomicWriter, ProcessSignals


def test_signals_reach_the_handler_and_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    got: list[int] = []
    hub = ProcessSignals()
    hub.install(got.append)
    os.kill(os.getpid(), signal.SIGTERM)
    hub.restore()
    assert got == [signal.SIGTERM]
    assert signal.getsignal(signal.SIGTERM) == before


def test_writer_is_atomic_and_skips_unchanged(tmp_path, monkeypatch):
    w = AtomicWriter()
    target = tmp_path / "a" / "f.json"
    assert w.write_bytes(target, b"one") is True
    mtime = target.stat().st_mtime_ns
    assert w.write_bytes(target, b"one") is False and target.stat().st_mtime_ns == mtime

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        w.write_bytes(target, b"two")
    assert target.read_bytes() == b"one"  # the old content is intact
    assert [p.name for p in target.parent.iterdir()] == ["f.json"]  # no temp file left


def test_a_real_sigterm_mid_experiment_still_collects_and_destroys(harness):
    """The OS delivers SIGTERM through the real handler (ProcessSignals), not a fake hub."""
    from study.lifecycle.state import load_state
    from tests.doubles.lifecycle import FakeStep

    h = harness(steps=[FakeStep("a", 300), FakeStep("b", 300)])
    h.services.signals = ProcessSignals()
    before = signal.getsignal(signal.SIGTERM)
    h.world.faults.add("up.step", lambda: os.kill(os.getpid(), signal.SIGTERM), after=40)
    out = h.run()
    assert (out.status, out.exit_code) == ("interrupted", 143)
    assert "interrupted by SIGTERM during up" in out.message
    assert not h.world.cloud.live("gke-4-nightly")
    assert load_state(out.run_dir).finished_steps == ["a"]
    assert (out.run_dir / "steps" / "a" / "log.txt").is_file()
    assert signal.getsignal(signal.SIGTERM) == before


def test_plain_progress_prints_changes_and_a_heartbeat(capsys):
    from study.lifecycle.progress import PlainProgress, Snapshot

    p = PlainProgress(every_s=300)
    p.update(Snapshot(1, 7, 0, 3, 60, 0.01, 5))
    p.update(Snapshot(1, 7, 0, 3, 120, 0.02, 5))  # no change, no heartbeat yet
    p.update(Snapshot(2, 7, 0, 3, 130, 0.03, 5))
    p.update(Snapshot(2, 7, 0, 3, 500, 0.10, 5))  # heartbeat
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "resources 1/7 | steps 0/3 | 1.0 min | 0.01 of 5.00 USD",
        "resources 2/7 | steps 0/3 | 2.2 min | 0.03 of 5.00 USD",
        "resources 2/7 | steps 0/3 | 8.3 min | 0.10 of 5.00 USD",
    ]


def test_rich_progress_renders_bars(monkeypatch):
    import io

    from rich.console import Console

    from study import console
    from study.lifecycle.progress import RichProgress, Snapshot

    buf = io.StringIO()
    monkeypatch.setattr(console, "err_console", lambda: Console(file=buf, force_terminal=True,
                                                                 width=100))
    p = RichProgress()
    p.update(Snapshot(3, 7, 1, 3, 600, 0.5, 5))
    p.line("hello")
    p.close()
    text = buf.getvalue()
    assert "resources" in text and "0.50 / 5.00 USD" in text and "hello" in text
