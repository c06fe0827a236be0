"""Flux overlay topology: how fast an archive spreads through Flux's tree, per tree design.

One MiniCluster (flux-operator main, `flux.topology`) per design x archive size x iteration, each a
step. Inside, `experiments/data/topology.sh` (values filled in below) prints the overlay tree
between markers (the recorder
checks its shape against `experiments.topology_designs`), generates the payload at run time
(`zeros` can be deduplicated by Flux's content store, `random` cannot), and times: create the
archive, distribute to all nodes, to the leaves only, to the middle level then the leaves, delete,
clean, and the baseline the seed never ran: every node downloading the same bytes directly from one
in-cluster HTTP server (`study-archive-server`, created once before the first step). The leaves and
middle level come from the design (the seed passed a single rank as "the leaves"). Every timing is
a `STUDY-TIMING {json}` line. The content-cache purge target is set on every broker when given.

Duration model per step: 70 s MiniCluster start with the images already on the nodes (pods,
flux view copy, broker bootstrap: the seed's 90 s less its ~18 s first pull of the flux view; the
pre-pull step puts the app and flux view images on every node first, so no first pulls are
counted) plus, per GB of archive, the seed GKE medians
(c2d-standard-32): create 4.0 s, each distribution 2.7 s (x4: all, leaves, middle,
middle->leaves), direct download 3.5 s, cleans 1.0 s (x4), payload generation 1 s (zeros) or
6 s (random). Deadline: 2.5 x the estimate, at least 300 s beyond it: in the seed's parsed runs
(raw-max-6, raw-exact-30, raw-exact-6-aws, raw-exact-30-aws) one MiniCluster's summed event
times reach at most 2.24 x the median of its node count and size (GKE, 30 nodes, 1 GB).

Every value put into a script (the step script, the server's boot line, the `pre` command) is
shell-quoted with `shlex.quote`, even those the parameters already constrain.
"""

from __future__ import annotations

import base64
import re
import shlex
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from experiments.base import ClusterFacts, RenderContext, Step, Workload
from experiments.kinds._common import minicluster_workload, timed_step
from experiments.kinds.topology.results import TopologyResults
from experiments.registry import register
from experiments.topology_designs import DESIGN, designs, leaves, levels, middle, parents

START_SECONDS = 70.0
DEADLINE_MARGIN = 2.5  # max/median of a run's summed event times in the seed is 2.24
DEADLINE_SLACK_SECONDS = 300.0
# The flux view image, set explicitly (the pre-pull list names what the pods run, whatever the
# operator's default): the view's Flux and Python are built against its own OS, and the operator
# only copies the view into the app container and puts it on PATH (pkg/flux/templates/
# components.sh @1f686fea), so the view matches the app image's OS, Ubuntu noble
# (`core.versions.TOPOLOGY_APP`). The pinned operator's own default is rocky:tag-9.
FLUX_VIEW = "ghcr.io/converged-computing/flux-view-ubuntu:tag-noble"
SERVE_DIR = "/tmp/srv"  # the archive server's payload files
READY_FILE = "/tmp/ready"  # its readiness probe's marker
PER_GB = {"create": 4.0, "distribute": 2.7 * 4, "direct": 3.5, "clean": 1.0 * 4}
GENERATE_PER_GB = {"zeros": 1.0, "random": 6.0}
SERVER = "study-archive-server"
SERVER_PORT = 8080
GB = 1_000_000_000


class TopologyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    # Explicit designs; default: binomial + kary:1..max_k for the cluster's node count.
    designs: list[str] = Field(default_factory=list)
    max_k: int | None = Field(default=None, ge=1)
    sizes_gb: list[float] = Field(default_factory=lambda: [1.0, 2.0], min_length=1)
    payload: Literal["zeros", "random"] = "random"
    iterations: int = Field(default=1, ge=1, le=50)
    purge_target_bytes: int | None = Field(default=None, ge=0)  # content.purge-target-size
    baseline: bool = True  # the direct download from one in-cluster server
    image: str = Field(default="", description="app image; default: pinned buildpack-deps noble")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        from core.reference import validated

        return validated(v) if v else v

    @field_validator("designs")
    @classmethod
    def _designs(cls, v: list[str]) -> list[str]:
        for d in v:
            if not DESIGN.match(d):
                msg = f"'{d}' is not a design; allowed: 'binomial' or 'kary:K' with K >= 1"
                raise ValueError(msg)
        return v

    @field_validator("sizes_gb")
    @classmethod
    def _sizes(cls, v: list[float]) -> list[float]:
        if any(s <= 0 or s > 100 for s in v):
            msg = "sizes must be > 0 and <= 100 GB"
            raise ValueError(msg)
        return v

    def design_list(self, nodes: int) -> list[str]:
        return list(self.designs) or designs(nodes, self.max_k)


def size_label(gb: float) -> str:
    return f"{gb:g}".replace(".", "p") + "g"


def design_label(design: str) -> str:
    return re.sub(r"[^a-z0-9]", "", design)


def step_seconds(gb: float, payload: str, baseline: bool) -> float:
    per_gb = sum(v for k, v in PER_GB.items() if baseline or k != "direct")
    return START_SECONDS + gb * (per_gb + GENERATE_PER_GB[payload])


SCRIPT = Path(__file__).resolve().parents[2] / "data" / "topology.sh"


def render_script(design: str, nodes: int, size_bytes: int, params: TopologyParams,
                  namespace: str) -> str:
    url = f"http://{SERVER}.{namespace}.svc:{SERVER_PORT}/{size_bytes}" if params.baseline else ""
    mid = middle(design, nodes)
    values = {  # each placeholder stands alone in the script and is replaced by a quoted word
        "__SIZE__": str(size_bytes),
        "__PAYLOAD__": params.payload,
        "__DESIGN__": design,
        "__NODES__": str(nodes),
        "__LEAVES__": ",".join(map(str, leaves(design, nodes))),
        "__MIDDLE__": ",".join(map(str, mid)),
        "__URL__": url,
        "__PURGE__": "" if params.purge_target_bytes is None else str(params.purge_target_bytes),
    }
    text = SCRIPT.read_text()
    for k, v in values.items():
        text = text.replace(k, shlex.quote(v))
    return text


def server_objects(params: TopologyParams, ctx: RenderContext) -> list[dict]:
    """One HTTP server pod (and Service) holding one payload file per requested size."""
    from core.versions import PYTHON
    from experiments.component import step_labels

    labels = step_labels(ctx, SERVER, "server")
    sizes = " ".join(shlex.quote(str(int(s * GB))) for s in params.sizes_gb)
    src = "/dev/zero" if params.payload == "zeros" else "/dev/urandom"
    srv, port = shlex.quote(SERVE_DIR), shlex.quote(str(SERVER_PORT))
    boot = (
        f'mkdir -p {srv} && for s in {sizes}; do head -c "$s" {src} > {srv}/"$s"; done '
        f"&& touch {shlex.quote(READY_FILE)} "
        f"&& exec python -m http.server --directory {srv} {port}"
    )
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": SERVER, "namespace": ctx.namespace, "labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "server",
                        "image": PYTHON.ref,
                        "command": ["sh", "-c", boot],
                        "ports": [{"containerPort": SERVER_PORT}],
                        "readinessProbe": {
                            "exec": {"command": ["test", "-f", READY_FILE]},
                            "periodSeconds": 5,
                        },
                        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
                    }
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVER, "namespace": ctx.namespace, "labels": dict(ctx.labels)},
            "spec": {
                "selector": labels,
                "ports": [{"port": SERVER_PORT, "targetPort": SERVER_PORT}],
            },
        },
    ]


@register
class Topology(TopologyResults):
    name = "topology"
    requires = ("flux-operator", "event-recorder")  # operators the stack must list
    Params = TopologyParams

    def steps(self, params: TopologyParams, cluster: ClusterFacts) -> list[Step]:
        n = cluster.node_count
        out = []
        for design in params.design_list(n):
            for gb in params.sizes_gb:
                for r in range(1, params.iterations + 1):
                    out.append(
                        timed_step(
                            f"topo-{design_label(design)}-{size_label(gb)}-r{r}",
                            step_seconds(gb, params.payload, params.baseline),
                            {"design": design, "size_bytes": int(gb * GB), "iteration": r,
                             "levels": len(levels(design, n))},
                            margin=DEADLINE_MARGIN,
                            slack=DEADLINE_SLACK_SECONDS,
                        )
                    )
        return out

    def helper_images(self, params: TopologyParams, cluster: ClusterFacts) -> list[str]:
        """What every MiniCluster pod runs: the app image and the flux view (an init container).

        The archive server's python image is not listed: it runs once, on one node, before the
        first step.
        """
        from core.versions import TOPOLOGY_APP

        return [params.image or TOPOLOGY_APP.ref, FLUX_VIEW]

    def prepare(self, params: TopologyParams, ctx: RenderContext, opts) -> list:
        from pulumi import CustomTimeouts, ResourceOptions

        from core.k8s import create

        if not params.baseline:
            return []
        # Pulumi awaits the Pod until Ready, i.e. until every payload is written; a resumed `up`
        # may update it instead, so both get the same timeout.
        t = f"{int(600 + sum(params.sizes_gb) * GENERATE_PER_GB[params.payload] * 2)}s"
        opts = ResourceOptions.merge(
            opts, ResourceOptions(custom_timeouts=CustomTimeouts(create=t, update=t)))
        return [create(o, opts) for o in server_objects(params, ctx)]

    def render(self, step: Step, params: TopologyParams, ctx: RenderContext, opts) -> Workload:
        from core.versions import TOPOLOGY_APP

        n, ns = ctx.cluster.node_count, ctx.namespace
        design = step.params["design"]
        script = render_script(design, n, step.params["size_bytes"], params, ns)
        b64 = base64.b64encode(script.encode()).decode()
        return minicluster_workload(
            step, ctx, opts, size=n, tasks=n,
            logging={"quiet": True},
            flux={"topology": design, "container": {"image": FLUX_VIEW}},
            containers=[
                {
                    "image": params.image or TOPOLOGY_APP.ref,
                    "command": "bash /tmp/study-topology.sh",
                    "launcher": True,
                    "commands": {
                        "pre": f"echo {shlex.quote(b64)} | base64 -d > /tmp/study-topology.sh",
                    },
                }
            ],
            expect={"overlay_parents": parents(design, n), "nodes": n, "pods_per_node": 1},
        )
