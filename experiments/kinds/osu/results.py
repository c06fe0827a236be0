"""What analysis gets from an OSU study: launcher logs (and the seed's `times.log`) -> tables.

A seed tree's hand-assembled `times.log` arrives as an output named `times.log`; an unusable one
costs its own table, not the run's.
"""

from __future__ import annotations

from typing import Any

from experiments.base import Metric, StepOutput
from experiments.kinds._tables import distinct
from experiments.views import Pivot

# One record per benchmark run (its wall time) and one per value of its table (latency or
# bandwidth at a message size: the row's metric, `osu_` before it, names the record's metric).
OSU_WALL_VIEW = Pivot(
    "osu_wall",
    columns=("benchmark", "nodes", "np", "wall_seconds", "complete"),
    dtypes={"benchmark": "str", "nodes": "Int64", "np": "Int64", "wall_seconds": "float64",
            "complete": "bool"},
    metrics={"osu_wall_seconds": "wall_seconds"},
    labels_only=("step",),
)
OSU_METRICS_VIEW = Pivot(
    "osu_metrics",
    columns=("benchmark", "nodes", "np", "size_bytes", "metric", "value"),
    dtypes={"benchmark": "str", "nodes": "Int64", "np": "Int64", "size_bytes": "Int64",
            "metric": "str", "value": "float64"},
    metric_column="metric", metric_prefix="osu_",
    labels_only=("step",),
)

TIMES_LOG = "times.log"


class OsuResults:
    data = "osu"
    tables = ("osu_wall", "osu_scaling", "osu_metrics", "osu_times")
    metrics = (
        Metric("osu_wall_seconds", "s", "lower", "wall time of one OSU benchmark run"),
        Metric("osu_latency_us", "us", "lower", "OSU latency at one message size"),
        Metric("osu_bandwidth_mb_s", "MB/s", "higher", "OSU bandwidth at one message size"),
        # What the collectives, osu_init, osu_mbw_mr and the non-blocking tests print besides.
        Metric("osu_avg_latency_us", "us", "lower", "a collective's mean latency over ranks"),
        Metric("osu_min_ms", "ms", "lower", "osu_init: fastest rank's MPI_Init"),
        Metric("osu_max_ms", "ms", "lower", "osu_init: slowest rank's MPI_Init"),
        Metric("osu_avg_ms", "ms", "lower", "osu_init: mean MPI_Init over ranks"),
        Metric("osu_mb_s", "MB/s", "higher", "osu_mbw_mr: aggregate bandwidth"),
        Metric("osu_messages_s", "messages/s", "higher", "osu_mbw_mr: message rate"),
        Metric("osu_overall_us", "us", "lower", "a non-blocking test's whole time"),
        Metric("osu_compute_us", "us", "lower", "a non-blocking test's compute time"),
        Metric("osu_pure_comm_us", "us", "lower", "a non-blocking test's time without compute"),
        Metric("osu_overlap_pct", "%", "higher", "how much communication the compute hid"),
    )
    report_tables = (("osu_scaling", "OSU benchmark scaling classes"),
                     ("osu_wall", "OSU wall time per benchmark"))
    views = (OSU_WALL_VIEW, OSU_METRICS_VIEW)

    def parse(self, outputs: list[StepOutput], problems: list[str]) -> dict[str, Any]:
        from experiments.kinds.osu import parse
        from experiments.parse_errors import BadInput

        logs = [o.path for o in outputs if o.step != TIMES_LOG]
        steps = {o.path: None if o.seed else o.step for o in outputs if o.step != TIMES_LOG}
        out: dict[str, Any] = {}
        if logs:
            wall, metrics, _meta = parse.osu_tables(logs, problems, steps)
            out.update(osu_wall=wall, osu_metrics=metrics, osu_scaling=parse.scaling_table(wall))
        for times in (o for o in outputs if o.step == TIMES_LOG):
            try:
                out["osu_times"] = parse.read_times_log(times.path, problems)
            except BadInput as exc:
                problems.append(f"{exc}; left out")
        return out

    def summarize(self, combined: dict[str, Any]) -> dict[str, Any]:
        return {}

    def describe(self, tables: dict[str, Any]) -> dict[str, Any]:
        """What a run without a recorded experiment definition shows it ran."""
        benchmarks = distinct(tables, "osu_wall", "benchmark")
        return {} if benchmarks is None else {"benchmarks": benchmarks}

    def figures(self) -> tuple[Any, ...]:
        from experiments.kinds.osu.figures import osu_by_message_size, osu_wall_scaling

        return (osu_wall_scaling, osu_by_message_size)

    def observations(self, tables: dict[str, Any], by: str | None) -> list[Any]:
        import pandas as pd

        wall = tables.get("osu_wall")
        if wall is None or wall.empty:
            return []
        key = wall["benchmark"] + " nodes=" + wall["nodes"].astype(str)
        return [pd.DataFrame({"metric": "osu_wall_seconds", "key": key,
                              "value": wall["wall_seconds"]})]
