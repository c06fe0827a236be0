"""Application containers as Flux MiniClusters (the seed's streaming study and its ensemble).

Each step is one MiniCluster running one catalogue app (`experiments/data/apps.yaml`: image per
cloud, command, optional `pre`) on N nodes, for every N in `node_counts` (strong scaling from one
node), with `tasks_per_node` tasks per node (default: the node's vCPUs). `logging.timed` makes
Flux print the `FLUXTIME ... wall time` lines the seed analysed; the recorder saves the lead
broker's log (app output included), checks one pod per node, and the event recorder has every
pull event. Artifact Registry stacks mirror the images first (image streaming only accelerates
images in Artifact Registry).

Pre-pull: the flux view image (a helper) always; the app images only with
`prepull_app_images`, since the shipped app stacks are the seed's streaming study, whose subject
is how those images reach the nodes (streaming against the control): pre-pulling them would
erase it, as it would a pulling study's.

Duration model per step: 30 s start with the flux view already on the nodes (the seed's 60 s
start less its ~18 s first pull of the view and ~14 s of the app image) plus, unless the app
images are pre-pulled, 14 s for the app image's first pull on the step's new nodes, plus the
seed's 4-node wall time scaled by 4/N (strong scaling, optimistic at large N; it never drops below
the 4-node time's tenth, since start-up and communication do not shrink). Deadline: 1.25 x the
estimate, at least 300 s beyond it: the seed's two 4-node runs of each app (with and without
streaming) differ from their mean wall time by at most 11% (minife 10.0 s against 9.0 s), and
start-up jitter is what the floor is for. The `{grid}` values put into the command are
shell-quoted with `shlex.quote`.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from experiments.base import ClusterFacts, RenderContext, Step, Workload
from experiments.images import MIRROR_STEP, mirror_job, mirror_steps, mirrored
from experiments.kinds._common import (
    check_node_counts,
    job_workload,
    minicluster_workload,
    node_counts_at_least,
    timed_step,
)
from experiments.kinds.apps.results import AppsResults
from experiments.registry import register

CATALOGUE = Path(__file__).resolve().parents[2] / "data" / "apps.yaml"
START_SECONDS = 30.0
APP_PULL_SECONDS = 14.0  # the seed's first pull of an app image (streaming study events)
DEADLINE_MARGIN = 1.25
DEADLINE_SLACK_SECONDS = 300.0


@cache
def catalogue() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(CATALOGUE.read_text())


def process_grid(tasks: int) -> tuple[int, int, int]:
    """A balanced px*py*pz == tasks, px == pz preferred (the seed's 4 2 4, 4 8 4, 8 4 8)."""
    best: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None
    for px in range(1, tasks + 1):
        if tasks % px:
            continue
        rest = tasks // px
        for py in range(1, rest + 1):
            if rest % py:
                continue
            pz = rest // py
            key = (max(px, py, pz) - min(px, py, pz), int(px != pz), -py)
            if best is None or key < best[0]:
                best = (key, (px, py, pz))
    assert best is not None
    return best[1]


class AppsParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    apps: list[str] = Field(default_factory=lambda: sorted(catalogue()["apps"]), min_length=1)
    node_counts: list[int] = Field(min_length=1)
    tasks_per_node: int | None = Field(default=None, ge=1)  # default: the node's vCPUs
    iterations: int = Field(default=1, ge=1, le=20)
    # Pre-pull the app images too (app timing studies); off, the steps' first pulls are data.
    prepull_app_images: bool = False

    @field_validator("apps")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        known = sorted(catalogue()["apps"])
        for a in v:
            if a not in known:
                msg = f"'{a}' is not in experiments/data/apps.yaml; allowed: {', '.join(known)}"
                raise ValueError(msg)
        return v

    @field_validator("node_counts")
    @classmethod
    def _counts(cls, v: list[int]) -> list[int]:
        return node_counts_at_least(v, 1)


def app_image(app: str, cluster: ClusterFacts) -> str:
    return catalogue()["apps"][app]["image"][cluster.cloud]


@register
class Apps(AppsResults):
    name = "apps"
    requires = ("flux-operator", "event-recorder")  # operators the stack must list
    Params = AppsParams

    def steps(self, params: AppsParams, cluster: ClusterFacts) -> list[Step]:
        check_node_counts(params.node_counts, cluster)
        sources = [app_image(a, cluster) for a in params.apps]
        out = mirror_steps(sources, cluster)
        cat = catalogue()
        tpn = params.tasks_per_node or cluster.vcpus_per_node
        pull = 0.0 if params.prepull_app_images else APP_PULL_SECONDS
        for r in range(1, params.iterations + 1):
            for n in params.node_counts:
                for app in params.apps:
                    wall = cat["apps"][app]["seed_wall_seconds"]
                    run = max(wall * cat["seed_nodes"] / n, wall / 10)
                    out.append(
                        timed_step(
                            f"app-{app}-n{n}-r{r}",
                            START_SECONDS + pull + run,
                            {"app": app, "nodes": n, "tasks": n * tpn, "iteration": r,
                             "image": mirrored(app_image(app, cluster), cluster.image_registry)},
                            margin=DEADLINE_MARGIN,
                            slack=DEADLINE_SLACK_SECONDS,
                        )
                    )
        return out

    def helper_images(self, params: AppsParams, cluster: ClusterFacts) -> list[str]:
        """What the pre-pull step puts on every node: the flux view init container's image, and
        the app images as the steps reference them when `prepull_app_images` is set.

        The mirror step's gcrane image is not listed: it runs once, on one node, before the
        measured steps; mirrored app images exist only after it, so it must run first.
        """
        view = catalogue()["flux_view"]
        if not params.prepull_app_images:
            return [view]
        apps = [mirrored(app_image(a, cluster), cluster.image_registry) for a in params.apps]
        return [*dict.fromkeys(apps), view]

    def render(self, step: Step, params: AppsParams, ctx: RenderContext, opts) -> Workload:
        if step.name == MIRROR_STEP:
            return job_workload(step, ctx, "mirror", opts, mirror_job)
        app = catalogue()["apps"][step.params["app"]]
        n, tasks = step.params["nodes"], step.params["tasks"]
        grid = " ".join(shlex.quote(str(p)) for p in process_grid(tasks))
        container: dict[str, Any] = {
            "image": step.params["image"],
            "command": app["command"].replace("{grid}", grid),
        }
        if app.get("pre"):
            container["commands"] = {"pre": app["pre"]}
        return minicluster_workload(
            step, ctx, opts, size=n, tasks=tasks,
            logging={"quiet": True, "timed": True},
            flux={"container": {"image": catalogue()["flux_view"]}},
            containers=[container],
            expect={"nodes": n, "pods_per_node": 1},
        )
