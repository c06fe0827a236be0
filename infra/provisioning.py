"""How long a cluster takes to come up, change its node count and go away: data with sources.

The figures live in `data/provisioning.yaml`, each with where it came from (the seed studies'
own timestamps where they exist, public documentation or a stated assumption otherwise). The
single-stack estimate (`infra.estimate`) and the campaign plan (`study.campaign.plan`) both read
them here, so a stack and a campaign of that stack are priced by the same clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

TABLE = Path(__file__).parent / "data" / "provisioning.yaml"
PHASES = ("create", "operators", "teardown", "resize_up", "resize_down", "clear")


@dataclass(frozen=True)
class Phase:
    """One phase's duration: base_s + per_node_s x nodes."""

    cloud: str
    name: str
    base_s: float
    per_node_s: float
    source: str

    def seconds(self, nodes: int) -> float:
        return self.base_s + self.per_node_s * max(0, nodes)


@cache
def table() -> dict:
    return yaml.safe_load(TABLE.read_text())


def phase(cloud: str, name: str) -> Phase:
    row = table()[cloud][name]
    return Phase(cloud, name, float(row["base_s"]), float(row["per_node_s"]), str(row["source"]))


def provision_seconds(cloud: str, nodes: int) -> float:
    """Cluster and node pool created, then the operators installed."""
    return phase(cloud, "create").seconds(nodes) + phase(cloud, "operators").seconds(nodes)


def teardown_seconds(cloud: str, nodes: int) -> float:
    return phase(cloud, "teardown").seconds(nodes)


def resize_seconds(cloud: str, from_nodes: int, to_nodes: int) -> float:
    """A node pool (node group) changed in place from one count to another; 0 when equal."""
    if to_nodes == from_nodes:
        return 0.0
    name = "resize_up" if to_nodes > from_nodes else "resize_down"
    return phase(cloud, name).seconds(abs(to_nodes - from_nodes))


def provision_hours(cloud: str, nodes: int) -> float:
    return provision_seconds(cloud, nodes) / 3600


def teardown_hours(cloud: str, nodes: int) -> float:
    return teardown_seconds(cloud, nodes) / 3600


def figures_used(cloud: str, phases: tuple[str, ...] = ("create", "operators", "teardown")
                 ) -> list[str]:
    """One line per phase: its formula and its source, as the plans print them."""
    out = []
    for name in phases:
        p = phase(cloud, name)
        out.append(f"{cloud} {name}: {p.base_s:g} s + {p.per_node_s:g} s/node ({p.source})")
    return out


def figures_brief(cloud: str, phases: tuple[str, ...] = ("create", "operators", "teardown")
                  ) -> str:
    """The phases' formulas in one line, naming the table their sources are in."""
    parts = []
    for name in phases:
        p = phase(cloud, name)
        per = f" + {p.per_node_s:g} s/node" if p.per_node_s else ""
        parts.append(f"{name} {p.base_s:g} s{per}")

    return f"{cloud}: " + ", ".join(parts) + f" (sources in infra/data/{TABLE.name})"
