"""What every experiment kind provides, so one generic mechanism can plan, render and check it.

A kind turns its validated parameters into an ordered list of steps (each a Kubernetes resource
later). The plan's cost estimate sums the steps' estimated durations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel


@dataclass(frozen=True)
class ClusterFacts:
    """What a kind may know about the cluster when planning: shape, not cloud objects."""

    cloud: str
    node_count: int
    machine_type: str
    vcpus_per_node: int
    image_registry: str
    local_ssd: bool = False
    image_streaming: bool = False


@dataclass(frozen=True)
class Step:
    """One experiment step: runs alone, has an estimate (seconds) and a hard deadline."""

    name: str
    estimated_seconds: float
    deadline_seconds: float
    params: dict[str, Any] = field(default_factory=dict)


class ExperimentKind(Protocol):
    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]

    def steps(self, params: BaseModel, cluster: ClusterFacts) -> list[Step]:
        """Every step in run order, with its duration estimate (explain the model in the kind)."""
        ...
