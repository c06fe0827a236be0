"""What analysis gets from a topology study: step logs -> the topology table, medians, metrics.

The harness records each step's design, node count and iteration in its params; the seed's raw
tree says them in its directory names (`<nodes>/<topology>/<iteration>/`).
"""

from __future__ import annotations

from typing import Any

from experiments.base import Metric, StepOutput
from experiments.views import Pivot

# One record per timed event; the design, node count, iteration, event, size and the tree's
# shape are its labels.
TOPOLOGY_VIEW = Pivot(
    "topology",
    columns=("uid", "topology", "iteration", "nodes", "event", "size_gb", "time_seconds",
             "tree_depth", "max_fanout"),
    dtypes={"uid": "str", "topology": "str", "iteration": "Int64", "nodes": "Int64",
            "event": "str", "size_gb": "Int64", "time_seconds": "float64",
            "tree_depth": "Int64", "max_fanout": "Int64"},
    metrics={"topology_seconds": "time_seconds"},
    labels_only=("step",),
)


class TopologyResults:
    data = "topology"
    tables = ("topology", "topology_medians")
    metrics = (Metric("topology_seconds", "s", "lower",
                      "wall time of one distribution event over a broker tree"),)
    report_tables = (("topology_medians", "Median topology step time"),)
    views = (TOPOLOGY_VIEW,)

    def parse(self, outputs: list[StepOutput], problems: list[str]) -> dict[str, Any]:
        import pandas as pd

        from experiments.kinds.topology import parse

        rows: list[dict] = []
        steps: list[str | None] = []
        for out in outputs:
            parsed = parse.parse_topology_log(out.path.read_text(errors="replace"), out.path)
            problems += parsed.problems
            if out.seed:
                nodes, topo, iteration = parse.seed_context(out.path)
            else:
                params = out.params
                nodes = params.get("nodes")
                topo = parse.topology_label(params.get("topology"))
                iteration = params.get("iteration", params.get("repeat"))
            timed = parse.topology_rows(parsed, topo, iteration, nodes)
            rows.extend(timed)
            steps += [None if out.seed else out.step] * len(timed)
        table = parse.frame(rows)
        table["step"] = pd.Series(steps, dtype=object)
        return {"topology": table}

    def summarize(self, combined: dict[str, Any]) -> dict[str, Any]:
        if "topology" not in combined:
            return {}
        return {"topology_medians": topology_medians(combined["topology"])}

    def describe(self, tables: dict[str, Any]) -> dict[str, Any]:
        """What a run without a recorded experiment definition shows it ran."""
        topo = tables.get("topology")
        if topo is None or topo.empty:
            return {}
        return {"designs": sorted(topo["uid"].dropna().unique()),
                "sizes_gb": sorted(int(s) for s in topo["size_gb"].dropna().unique())}

    def figures(self) -> tuple[Any, ...]:
        from experiments.kinds.topology.figures import topology_step_times

        return (topology_step_times,)

    def observations(self, tables: dict[str, Any], by: str | None) -> list[Any]:
        import pandas as pd

        topo = tables.get("topology")
        if topo is None or topo.empty:
            return []
        # By design: the overlay topology alone (kary-2 on 6 GKE nodes meets kary-2 on 6 EKS
        # nodes, and on another node count); otherwise the design on its node count.
        design = topo["topology"] if by == "design" else topo["uid"]
        key = (topo["event"] + " size_gb=" + topo["size_gb"].astype(str) + " "
               + design.astype(str))
        return [pd.DataFrame({"metric": "topology_seconds", "key": key,
                              "value": topo["time_seconds"]})]


def topology_medians(topo):
    """Median step time per run, design, node count, event and size over iterations."""
    keys = ["run", "topology", "nodes", "tree_depth", "max_fanout", "event", "size_gb"]
    return (topo.groupby(keys, dropna=False)
            .agg(n=("time_seconds", "size"), median_seconds=("time_seconds", "median"))
            .reset_index())
