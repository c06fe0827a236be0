"""What analysis gets from a pulling study: its metrics and figures.

A pulling study's data is not its steps' logs but the run's whole Kubernetes event stream
(image pulls of every node), which the analysis core reads and turns into the `pulls` table
(`analysis.events`); so this kind has no step-output parser, only what it measures and draws.
"""

from __future__ import annotations

from typing import Any

from experiments.base import Metric
from experiments.views import Pivot

_TIMES = ("scheduled_at", "pulling_at", "pulled_at", "created_at", "started_at")
# One record per pull and timing (the kubelet's pull time, the same with its queue wait, time
# to Started); the image, node, pod, step and the pull's timestamps are its labels.
PULLS_VIEW = Pivot(
    "pulls",
    columns=("run", "nodes", "image", "image_ref", "role", "layers", "size_bytes",
             "compressed_bytes", "node", "namespace", "pod", "container", "init_container",
             "cached", "message_format", "pull_seconds", "pull_seconds_waiting", *_TIMES,
             "time_to_started_seconds", "step"),
    dtypes={"run": "object", "nodes": "Int64", "image": "object", "image_ref": "object",
            "role": "object", "layers": "Int64", "size_bytes": "Int64",
            "compressed_bytes": "Int64", "node": "object", "namespace": "object",
            "pod": "object", "container": "object", "init_container": "bool",
            "cached": "boolean", "message_format": "object", "pull_seconds": "float64",
            "pull_seconds_waiting": "float64", **dict.fromkeys(_TIMES, "datetime64[us, UTC]"),
            "time_to_started_seconds": "float64", "step": "object"},
    metrics={"pull_seconds": "pull_seconds", "pull_seconds_waiting": "pull_seconds_waiting",
             "time_to_started_seconds": "time_to_started_seconds"},
)


class PullingResults:
    data = "pulls"
    metrics = (
        Metric("pull_seconds", "s", "lower", "the kubelet's pull time of one image on one node"),
        Metric("time_to_started_seconds", "s", "lower", "from scheduled to container started"),
        Metric("pull_seconds_waiting", "s", "lower",
               "the kubelet's pull time including its wait in the pull queue (1.26+)"),
    )
    views = (PULLS_VIEW,)

    def figures(self) -> tuple[Any, ...]:
        from experiments.kinds.pulling.figures import (
            event_spread,
            pull_time_vs_size,
            pull_vs_started,
        )

        return (pull_time_vs_size, event_spread, pull_vs_started)
