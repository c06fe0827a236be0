"""The real clock, signal handling and atomic file writer (the non-cloud parts of `Services`).

Kept apart from the orchestrator so tests swap them for simulated time, a fake signal hub and a
writer that can run out of disk space.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from study.lifecycle.interfaces import SignalHandler


class SystemClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ProcessSignals:
    """SIGINT and SIGTERM call the orchestrator's handler; previous handlers come back after."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}

    def install(self, handler: SignalHandler) -> None:
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, lambda signum, _frame: handler(signum))

    def restore(self) -> None:
        for sig, prev in self._previous.items():
            signal.signal(sig, prev)  # type: ignore[arg-type]
        self._previous.clear()


class AtomicWriter:
    """Write to a temp file in the same directory, fsync, then rename over the target."""

    def write_bytes(self, path, data: bytes) -> bool:
        path = Path(path)
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True
