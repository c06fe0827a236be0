"""Reading event files: one streaming pass, big files split across processes.

Event files are large (a 256-node run writes hundreds of MB), so they are streamed in fixed-size
binary chunks (`analysis.events.parse`); files over 64 MB are split at line boundaries across
processes (one per free core) and the partial ingests merged.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from analysis.events.parse import EventIngest

PARALLEL_MIN_BYTES = 64 << 20


def free_cores() -> int:
    """Cores this process may use that other work is not already using (like `make -l`).

    Forking workers onto a machine whose cores are busy only adds pickling and contention.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    return max(1, min(cores, round(cores - busy + 1)))


def ingest_files(paths: Iterable[Path], workers: int | None = None) -> EventIngest:
    """One streaming pass over event files; big files are split across worker processes.

    GC is paused during the pass: it allocates no reference cycles, and generational scans of
    the growing record dict would otherwise cost more than the parsing.
    """
    workers = workers or free_cores()
    ingest = EventIngest()
    enabled = gc.isenabled()
    gc.disable()
    try:
        for path in map(Path, paths):
            size = path.stat().st_size
            if workers > 1 and size >= PARALLEL_MIN_BYTES:
                for part in _parallel(path, size, workers):
                    ingest.merge(part)
                ingest.stats["files"] += 1
            else:
                ingest.feed_file(path)
                ingest.stats["files"] += 1
    finally:
        if enabled:
            gc.enable()
    return ingest


def _line_boundaries(path: Path, size: int, parts: int) -> list[int]:
    """Offsets that split the file into `parts` ranges, each starting at a line start."""
    bounds = [0]
    with open(path, "rb") as fh:
        for i in range(1, parts):
            fh.seek(max(size * i // parts, bounds[-1]))
            fh.readline()
            bounds.append(min(fh.tell(), size))
    bounds.append(size)
    return bounds


def _ingest_range(path: Path, start: int, end: int) -> EventIngest:
    gc.disable()
    part = EventIngest()
    part.feed_file(path, start, end)
    return part


def _ingest_range_pickled(path: Path, start: int, end: int) -> bytes:
    """A worker's ingest as pickle bytes without a memo table: the records hold no shared or
    cyclic objects, and the memo would cost a worker as much memory as the records."""
    import io
    import pickle

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(_ingest_range(path, start, end))
    return buffer.getvalue()


def _parallel(path: Path, size: int, workers: int) -> Iterator[EventIngest]:
    """Ingests of consecutive byte ranges, in file order. This process reads the first range
    itself while forked workers read the others, so only their records cross a pipe."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    bounds = _line_boundaries(path, size, workers)
    ranges = [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=max(1, len(ranges) - 1), mp_context=context) as pool:
        import pickle

        futures = [pool.submit(_ingest_range_pickled, path, a, b) for a, b in ranges[1:]]
        yield _ingest_range(path, *ranges[0])
        for future in futures:
            yield pickle.loads(future.result())
