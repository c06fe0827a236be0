"""Signals for members running side by side: the main thread receives them, each worker acts.

Only a process's main thread may install signal handlers, and `study run`'s orchestrator wants
its handler called where it runs, so a campaign's parallel stacks each get a `WorkerSignals`
(the handler is kept, not installed) and a `WorkerClock` that hands a pending signal to that
handler at the worker's next look at the clock (the orchestrator reads it at least every poll,
and the Pulumi backend's stop check every second). The main thread's handler only queues the
signal for every worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class WorkerSignals:
    """A Signals for one worker thread: install keeps the handler; `deliver` calls it."""

    def __init__(self) -> None:
        self.handler: Callable[[int], None] | None = None
        self.pending: list[int] = []
        self.lock = threading.Lock()

    def install(self, handler: Callable[[int], None]) -> None:
        self.handler = handler

    def restore(self) -> None:
        self.handler = None

    def queue(self, signum: int) -> None:
        with self.lock:
            self.pending.append(signum)

    def deliver(self) -> None:
        with self.lock:
            if not self.pending or self.handler is None:
                return
            signum = self.pending.pop(0)
        self.handler(signum)  # may raise: in this worker, as a signal would


class WorkerClock:
    """The stack's clock; every reading first delivers a signal waiting for this worker."""

    def __init__(self, inner, signals: WorkerSignals):
        self.inner, self.signals = inner, signals

    def now(self) -> float:
        self.signals.deliver()
        return self.inner.now()

    def sleep(self, seconds: float) -> None:
        self.signals.deliver()
        self.inner.sleep(seconds)
        self.signals.deliver()


class SignalRelay:
    """The main thread's handler: every worker gets the signal."""

    def __init__(self, workers: list[WorkerSignals]):
        self.workers = workers
        self.received: list[int] = []

    def __call__(self, signum: int) -> None:
        self.received.append(signum)
        for w in self.workers:
            w.queue(signum)
