"""The fitted step-duration model, read from `infra/data/durations.yaml`.

Why a data file: every constant a step's estimate uses is fitted by `benchmarks/fit_durations.py`
from the raw seed data and carries its source there; the kinds only evaluate the fitted forms.
Work (what the seed's own logs timed) and overhead (what the harness adds around it) are kept
apart so the plan can show both.
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent.parent / "infra" / "data" / "durations.yaml"
# A machine the topology fit has no data for is priced as the seed's GKE machine.
DEFAULT_TOPOLOGY_MACHINE = "c2d-standard-32"


@cache
def model() -> dict[str, Any]:
    return yaml.safe_load(DATA.read_text())


def harness(part: str) -> float:
    """Seconds the harness adds per step for `part` (recorder, upload, cache_clear): the sum of
    its pieces (`harness_pieces`)."""
    return float(model()["harness"][f"{part}_seconds"])


def harness_pieces(part: str) -> dict[str, tuple[float, str]]:
    """What `harness(part)` is made of: piece -> (seconds, where the figure comes from: the
    seed's events, the harness's own constant, or a stated assumption)."""
    pieces = model()["harness"]["pieces"][part]
    return {name: (float(p["seconds"]), str(p["source"])) for name, p in pieces.items()}


def helper_pull(part: str) -> float:
    """The seed's first pull of a small helper image: `start` (Scheduled to Pulling) or
    `per_image` (pull and start)."""
    return float(model()["helper_images"][f"{part}_seconds"])


def minicluster_start() -> float:
    return float(model()["topology"]["minicluster_start_seconds"])


def topology_machine(machine: str) -> str:
    """The fitted machine a cluster's machine type is priced as."""
    events = model()["topology"]["events"]
    return machine if machine in events else DEFAULT_TOPOLOGY_MACHINE


def topology_event_seconds(machine: str, event: str, gb: float, nodes: int) -> float:
    """One timed event: a + b GB, a and b interpolated linearly in the node count between the
    fitted node counts and held flat beyond them; never below zero.

    Why piecewise: the seed's distribution per GB is flat from 6 to 30 nodes and 5-7x at 256,
    which no single curve in N fits. An event the machine's seed runs never timed (EKS ran no
    leaf or middle distributions) is priced with the default machine's coefficients.
    """
    events = model()["topology"]["events"]
    coef = events[topology_machine(machine)].get(event) or events[DEFAULT_TOPOLOGY_MACHINE][event]
    return event_seconds(coef, gb, nodes)


def event_seconds(coef: dict[int, list[float]], gb: float, nodes: int) -> float:
    """a + b GB from one event's fitted `{nodes: [a, b]}`, both interpolated linearly in N
    between the fitted node counts (held flat beyond them); never below zero. The fitting script
    uses this same function to score its fit, so what it reports is what the plan charges."""
    counts = sorted(coef)
    lo = max([n for n in counts if n <= nodes], default=counts[0])
    hi = min([n for n in counts if n >= nodes], default=counts[-1])
    w = 0.0 if hi == lo else (nodes - lo) / (hi - lo)
    a = coef[lo][0] + w * (coef[hi][0] - coef[lo][0])
    b = coef[lo][1] + w * (coef[hi][1] - coef[lo][1])
    return max(0.0, a + b * gb)


def pull_config(local_ssd: bool, image_streaming: bool) -> str:
    return "streaming" if image_streaming else "local_ssd" if local_ssd else "plain"


def _nearest(fitted: dict[int, Any], nodes: int) -> Any:
    return fitted[min(fitted, key=lambda n: (abs(math.log(n / max(nodes, 1))), n))]


def pulling(config: str, nodes: int) -> dict[str, Any]:
    """The pulling fit for a configuration at the fitted node count nearest `nodes`."""
    return _nearest(model()["pulling"]["configs"][config], nodes)


def line(coef: list[float], gb: float) -> float:
    return max(0.0, coef[0] + coef[1] * gb)


def osu_benchmark_seconds(bench: str, nodes: int) -> float:
    m = model()["osu"]["benchmarks"][bench]
    return float(m["mean"]) if "mean" in m else float(m["a"]) * nodes ** float(m["b"])


def osu_network_sleep() -> int:
    return int(model()["osu"]["network_sleep_seconds"])
