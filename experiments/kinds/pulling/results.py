"""What analysis gets from a pulling study: its metrics and figures.

A pulling study's data is not its steps' logs but the run's whole Kubernetes event stream
(image pulls of every node), which the analysis core reads and turns into the `pulls` table
(`analysis.events`); so this kind has no step-output parser, only what it measures and draws.
"""

from __future__ import annotations

from typing import Any

from experiments.base import Metric


class PullingResults:
    data = "pulls"
    metrics = (
        Metric("pull_seconds", "s", "lower", "the kubelet's pull time of one image on one node"),
        Metric("time_to_started_seconds", "s", "lower", "from scheduled to container started"),
    )

    def figures(self) -> tuple[Any, ...]:
        from experiments.kinds.pulling.figures import (
            event_spread,
            pull_time_vs_size,
            pull_vs_started,
        )

        return (pull_time_vs_size, event_spread, pull_vs_started)
