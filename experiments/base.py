"""What every experiment kind provides, so one generic mechanism can plan, render and check it.

A kind turns its validated parameters into an ordered list of steps (each a Kubernetes resource
later). The plan's cost estimate follows the chain the steps run in (`experiments.schedule`).
"""

from __future__ import annotations

import re
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
    """One experiment step: runs alone, has an estimate (seconds) and a hard deadline.

    `estimated_seconds` is the step run alone: its workload, its recorder and its upload
    (`experiments.schedule` takes the harness's recorder and upload figures back out to place it
    on the chain). `work_seconds` is the part of the estimate spent in measured work (what the
    step's own timings record); the rest is the harness's overhead (start, recording, upload).
    None when a kind does not split its estimate.

    `preparation`: the step measures nothing (a pre-pull, a registry mirror, a priming pull), so
    its workload runs beside the operators' installation instead of after it
    (`experiments.component`); `needs` names the earlier preparation steps whose workload must
    have finished before its own starts (a priming pull needs the mirror's copies).

    `node_local`: what the step leaves behind lives on the nodes themselves (the pre-pull's
    images in each node's cache), so it is lost with them: a `study run --resume` on a new
    cluster runs it again although the destroyed cluster finished it. A registry-side step (the
    mirror's copies, the priming pull's streamable images) outlives the cluster and stays done.
    """

    name: str
    estimated_seconds: float
    deadline_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    work_seconds: float | None = None
    preparation: bool = False
    needs: tuple[str, ...] = ()
    node_local: bool = False

    @property
    def overhead_seconds(self) -> float | None:
        """The estimate less the measured work (None when the kind does not split it)."""
        if self.work_seconds is None:
            return None
        return round(self.estimated_seconds - self.work_seconds, 1)


@dataclass(frozen=True)
class RenderContext:
    """What rendering a step needs besides its params: where, for whom, and how to label it."""

    stack: str
    namespace: str
    cluster: ClusterFacts
    labels: dict[str, str]  # study-harness.io/* labels every object carries


@dataclass(frozen=True)
class Workload:
    """What a rendered step runs, so the step recorder can wait for it and judge it.

    `wait_for`: API paths of the Jobs or JobSets whose Complete/Completed/Failed condition ends
    the step (operators create them for MiniClusters and MetricSets); `owners`: API paths deleted
    at the deadline;
    `pod_selector`: the step's pods; `expect`: what the validity check compares against.
    """

    resources: list[Any]
    wait_for: list[str]
    owners: list[str]
    pod_selector: str
    expect: dict[str, Any] = field(default_factory=dict)


class ExperimentKind(Protocol):
    name: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    requires: ClassVar[tuple[str, ...]]  # operators (study:operators entries) the kind needs

    def steps(self, params: BaseModel, cluster: ClusterFacts) -> list[Step]:
        """Every step in run order, with its duration estimate (explain the model in the kind)."""
        ...

    def render(self, step: Step, params: BaseModel, ctx: RenderContext, opts: Any) -> Workload:
        """Create the step's Kubernetes resources (opts: pulumi.ResourceOptions with depends_on)."""
        ...

    # Optional (looked up with getattr, so it is not part of the structural type):
    #   helper_images(params, cluster) -> list[str]
    # every image the steps run besides the studied ones, operator-injected ones included (the
    # flux view, metric images). `experiments.pernode.with_prepull` then puts a `prepull`
    # preparation step before anything measured that pulls them (and the upload's CLI image) on
    # every node, so no measured step pays a first pull. A pulling
    # study must never list its studied images here: they have to stay cold.


_DNS_LABEL = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")
MAX_STEP_NAME = 48  # room for the recorder's `rec-` prefix and the Job controller's pod suffix


def check_step_names(steps: list[Step]) -> None:
    """Step names are Kubernetes names and the resume key: DNS-1123, short, unique; a step's
    `needs` name earlier preparation steps (the chain orders nothing else), and every
    preparation step comes before the first measured one."""
    seen: set[str] = set()
    prepared: set[str] = set()  # earlier preparation steps: what a preparation step may need
    for s in steps:
        if not _DNS_LABEL.match(s.name) or len(s.name) > MAX_STEP_NAME:
            msg = (
                f"study:experiment: step name '{s.name}' is not allowed; must be a DNS-1123 "
                f"label of at most {MAX_STEP_NAME} characters"
            )
            raise ValueError(msg)
        if s.name in seen:
            msg = f"study:experiment: step name '{s.name}' is not unique; change the matrix"
            raise ValueError(msg)
        missing = [n for n in s.needs if n not in prepared]
        if missing or (s.needs and not s.preparation):
            # A kind's own mistake, not the user's: the chain could not order the step.
            msg = (f"step '{s.name}' needs {missing or list(s.needs)}; only a preparation step "
                   "may need others, and only earlier preparation steps")
            raise ValueError(msg)
        if s.preparation and len(prepared) < len(seen):
            # The chain records preparation side by side before the first measured step.
            msg = (f"step '{s.name}' is a preparation step after a measured one; preparation "
                   "steps come first")
            raise ValueError(msg)
        seen.add(s.name)
        if s.preparation:
            prepared.add(s.name)


@dataclass(frozen=True)
class Metric:
    """What a measured quantity is: its unit and which way is better.

    The regression gate and `study compare` read `direction` from here, never from the metric's
    name (`app_fom` is a rate although its name says nothing of it).
    """

    name: str
    unit: str
    direction: str  # "lower" or "higher": which is better
    description: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("lower", "higher"):
            msg = f"metric '{self.name}': direction {self.direction!r}; allowed: lower, higher"
            raise ValueError(msg)


@dataclass(frozen=True)
class StepOutput:
    """One step's raw output as the collector kept it, handed to its kind's parser.

    `seed`: the file comes from a seed study's raw tree, whose directory names carry what the
    harness records in `params` (node count, design, iteration).
    """

    path: Any  # pathlib.Path
    step: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    seed: bool = False


class ResultsPlugin(Protocol):
    """What a kind adds to analysis (optional attributes of a kind, looked up with getattr).

    `data`: the name of its data in a run's summary; `tables`: the tidy tables `parse` makes,
    in the order they are written; `metrics`: the quantities it measures. Optional too:
    `report_tables` ((table, caption) the HTML report shows) and `describe(tables)` (what a run
    that recorded no experiment definition shows it ran). Parsers and figures import pandas
    and matplotlib inside the call, so planning never pays for them.
    """

    data: ClassVar[str]
    tables: ClassVar[tuple[str, ...]]
    metrics: ClassVar[tuple[Metric, ...]]

    def parse(self, outputs: list[StepOutput], problems: list[str]) -> dict[str, Any]:
        """Table name -> DataFrame of the steps' outputs; unreadable parts go to `problems`."""
        ...

    def summarize(self, combined: dict[str, Any]) -> dict[str, Any]:
        """Tables across runs (medians) from the combined tables of every run."""
        ...

    def figures(self) -> tuple[Any, ...]:
        """Drawers `(tables, out_dir, context) -> [Figure | Skipped]`, in drawing order."""
        ...

    def observations(self, tables: dict[str, Any], by: str | None) -> list[Any]:
        """(metric, key, value) DataFrames `study compare` compares across runs."""
        ...
