"""What analysis gets from an OSU study: launcher logs (and the seed's `times.log`) -> tables.

A seed tree's hand-assembled `times.log` arrives as an output named `times.log`; an unusable one
costs its own table, not the run's.
"""

from __future__ import annotations

from typing import Any

from experiments.base import Metric, StepOutput

TIMES_LOG = "times.log"


class OsuResults:
    data = "osu"
    tables = ("osu_wall", "osu_scaling", "osu_metrics", "osu_times")
    metrics = (
        Metric("osu_wall_seconds", "s", "lower", "wall time of one OSU benchmark run"),
        Metric("osu_latency_us", "us", "lower", "OSU latency at one message size"),
        Metric("osu_bandwidth_mb_s", "MB/s", "higher", "OSU bandwidth at one message size"),
    )
    report_tables = (("osu_scaling", "OSU benchmark scaling classes"),
                     ("osu_wall", "OSU wall time per benchmark"))

    def parse(self, outputs: list[StepOutput], problems: list[str]) -> dict[str, Any]:
        from experiments.kinds.osu import parse
        from experiments.parse_errors import BadInput

        logs = [o.path for o in outputs if o.step != TIMES_LOG]
        out: dict[str, Any] = {}
        if logs:
            wall, metrics, _meta = parse.osu_tables(logs, problems)
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
        wall = tables.get("osu_wall")
        if wall is None or wall.empty:
            return {}
        return {"benchmarks": sorted(wall["benchmark"].unique())}

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
