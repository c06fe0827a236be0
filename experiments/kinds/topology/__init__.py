"""Flux overlay topology: how fast an archive spreads through Flux's tree, per tree design.

One MiniCluster (flux-operator main, `flux.topology`) per design x iteration, each a step, as the
seed ran it: inside, `experiments/data/topology.sh` (values filled in below) prints the overlay
tree between markers (the recorder checks its shape against `experiments.topology_designs`),
then for every archive size in order runs the `events` in the order given, each timed on a
`STUDY-TIMING {json}` line. Which events run is data: the seed's EKS runs did create, distribute
to all, delete and clean; its GKE runs re-created the archive before the leaf and the middle
distributions (`create-archive` listed three times). The payload is a file of the app image
(`payload: image`, the seed's `/chonks/<N>gb.txt`) or generated at run time (`zeros` can be
deduplicated by Flux's content store, `random` cannot). The leaves and middle level come from the
design (the seed passed a single rank as "the leaves"). With `baseline`, every node also
downloads the same bytes directly from one in-cluster HTTP server (`study-archive-server`,
created once before the first step), which the seed never ran. The content-cache purge target is
set on every broker when given.

Duration model per step (`experiments.duration_model`, fitted by benchmarks/fit_durations.py):
the MiniCluster's start (the seed's GKE totals less their timed events, per MiniCluster; the
pre-pull step puts the app and flux view images on every node first) and the harness's recorder
and upload, then per size and event the fit `a + b * GB` for the cluster's machine type and
node count (the seed's c2d-standard-32 on GKE, c5a.4xlarge on EKS, other machines priced as
c2d-standard-32; a and b interpolated between the fitted node counts 4-6, 30 and 256), plus
payload generation (1 s/GB zeros, 6 s/GB random) and the direct download (3.5 s/GB), which the
seed never timed. Deadline: 2 x the estimate, at least 300 s beyond it: over every seed
MiniCluster (raw-max-6, raw-exact-30, raw-exact-6-aws, raw-exact-30-aws, the 256-node run) the
observed time of its start and events is at most 1.57 x the fit (raw-exact-30 binomial).

Every value put into a script (the step script, the server's boot line, the `pre` command) is
shell-quoted with `shlex.quote`, even those the parameters already constrain.
"""

from __future__ import annotations

import base64
import re
import shlex
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from experiments import duration_model
from experiments.base import ClusterFacts, RenderContext, Step, Workload
from experiments.kinds._common import (
    check_node_counts,
    minicluster_workload,
    runs_distinct,
    timed_step,
)
from experiments.kinds.topology.results import TopologyResults
from experiments.registry import register
from experiments.topology_designs import DESIGN, designs, leaves, levels, middle, parents

# The largest observed / fitted time of one seed MiniCluster (start plus every event) is 1.57
# (raw-exact-30 binomial, iteration 0; durations.yaml topology_max_observed_over_fitted).
DEADLINE_MARGIN = 2.0
DEADLINE_SLACK_SECONDS = 300.0
# The flux view image, set explicitly (the pre-pull list names what the pods run, whatever the
# operator's default): the view's Flux and Python are built against its own OS, and the operator
# only copies the view into the app container and puts it on PATH (pkg/flux/templates/
# components.sh @1f686fea), so the view matches the app image's OS, Ubuntu noble
# (`core.versions.TOPOLOGY_APP`). The pinned operator's own default is rocky:tag-9.
FLUX_VIEW = "ghcr.io/converged-computing/flux-view-ubuntu:tag-noble"
SERVE_DIR = "/tmp/srv"  # the archive server's payload files
READY_FILE = "/tmp/ready"  # its readiness probe's marker
# Not in the seed data (it never generated a payload nor downloaded directly): GKE estimates.
GENERATE_PER_GB = {"zeros": 1.0, "random": 6.0, "image": 0.0}
DIRECT_PER_GB = 3.5
# The events topology.sh can run, per size, in the order a stack lists them.
EVENTS = (
    "create-archive", "distribute-all-nodes", "clean-all-nodes", "distribute-leaf-nodes",
    "clean-leaf-nodes", "distribute-middle-nodes", "distribute-middle-then-leaf-nodes",
    "clean-middle-nodes", "delete-archive",
)
DEFAULT_EVENTS = list(EVENTS)
DISTRIBUTIONS = frozenset(e for e in EVENTS if e.startswith("distribute-"))
_PAYLOAD_DIR = re.compile(r"^/[A-Za-z0-9._/-]*$")
SERVER = "study-archive-server"
SERVER_PORT = 8080
GB = 1_000_000_000


class TopologyRun(BaseModel):
    """MiniClusters of `nodes` brokers for each of `designs` (a run smaller than the cluster)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    nodes: int = Field(ge=2)
    designs: list[str] = Field(min_length=1)

    @field_validator("designs")
    @classmethod
    def _designs(cls, v: list[str]) -> list[str]:
        return _check_designs(v)


def _check_designs(v: list[str]) -> list[str]:
    for d in v:
        if not DESIGN.match(d):
            msg = f"'{d}' is not a design; allowed: 'binomial' or 'kary:K' with K >= 1"
            raise ValueError(msg)
    return v


class TopologyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    # Explicit designs; default: binomial + kary:1..max_k for the cluster's node count.
    designs: list[str] = Field(default_factory=list)
    max_k: int | None = Field(default=None, ge=1)
    sizes_gb: list[float] = Field(default_factory=lambda: [1.0, 2.0], min_length=1)
    # Generated at run time (zeros, random), or files of the app image (image: the seed's
    # /chonks/<N>gb.txt, named after the size in GB).
    payload: Literal["zeros", "random", "image"] = "random"
    payload_dir: str = "/chonks"
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1)
    iterations: int = Field(default=1, ge=1, le=50)
    purge_target_bytes: int | None = Field(default=None, ge=0)  # content.purge-target-size
    # Seconds to wait after each event but create-archive (the seed's EKS script slept 2 s).
    settle_seconds: float = Field(default=0.0, ge=0, le=60)
    # MiniClusters smaller than the cluster: per node count, its designs (default: one run of
    # the cluster's node count with `designs`).
    runs: list[TopologyRun] = Field(default_factory=list)
    baseline: bool = True  # the direct download from one in-cluster server
    # The operator's flux view (Flux copied into the app container); false when the app image
    # carries Flux itself, as the seed's did (`flux.container.disable`).
    flux_view: bool = True
    image: str = Field(default="", description="app image; default: pinned buildpack-deps noble")

    @field_validator("image")
    @classmethod
    def _image(cls, v: str) -> str:
        from core.reference import validated

        return validated(v) if v else v

    @field_validator("designs")
    @classmethod
    def _designs(cls, v: list[str]) -> list[str]:
        return _check_designs(v)

    @field_validator("sizes_gb")
    @classmethod
    def _sizes(cls, v: list[float]) -> list[float]:
        if any(s <= 0 or s > 100 for s in v):
            msg = "sizes must be > 0 and <= 100 GB"
            raise ValueError(msg)
        return v

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        archive = False
        for i, e in enumerate(v):
            if e not in EVENTS:
                msg = f"'{e}' is not an event; allowed: {', '.join(EVENTS)}"
                raise ValueError(msg)
            if e == "create-archive":
                archive = True
            elif e == "delete-archive":
                archive = False
            elif e in DISTRIBUTIONS and not archive:
                msg = (f"'{e}' (event {i + 1}) has no archive to distribute; allowed: after a "
                       "create-archive and before its delete-archive")
                raise ValueError(msg)
        return v

    @field_validator("payload_dir")
    @classmethod
    def _payload_dir(cls, v: str) -> str:
        if not _PAYLOAD_DIR.match(v):
            msg = f"'{v}' is not allowed; an absolute path of letters, digits, '.', '_', '-', '/'"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _runs(self):
        if self.runs and (self.designs or self.max_k is not None):
            msg = "give runs, or designs / max_k, not both"
            raise ValueError(msg)
        runs_distinct(self.runs)
        return self

    @model_validator(mode="after")
    def _image_payload(self):
        if self.payload == "image" and self.baseline:
            msg = ("baseline: true is not allowed with payload: image; the archive server "
                   "generates its bytes, so it needs payload zeros or random")
            raise ValueError(msg)
        return self

    def design_list(self, nodes: int) -> list[str]:
        return list(self.designs) or designs(nodes, self.max_k)

    def matrix(self, cluster_nodes: int) -> list[tuple[int, list[str]]]:
        """(MiniCluster size, designs) in run order."""
        if self.runs:
            return [(r.nodes, list(r.designs)) for r in self.runs]
        return [(cluster_nodes, self.design_list(cluster_nodes))]


def size_label(gb: float) -> str:
    return f"{gb:g}".replace(".", "p") + "g"


def design_label(design: str) -> str:
    return re.sub(r"[^a-z0-9]", "", design)


def payload_file(gb: float, payload: str) -> str:
    """The payload's file name: the seed image's `<N>gb.txt`, or the generated one per size."""
    return f"{gb:g}gb.txt" if payload == "image" else f"payload-{size_label(gb)}.bin"


def work_seconds(params: TopologyParams, cluster: ClusterFacts, design: str, n: int) -> float:
    """The timed work of one MiniCluster of `n` brokers: every size's events (and generation,
    download)."""
    has_middle = bool(middle(design, n))
    total = 0.0
    for gb in params.sizes_gb:
        total += gb * GENERATE_PER_GB[params.payload]
        for e in params.events:
            if e.startswith("distribute-middle") and not has_middle:
                continue  # topology.sh skips them: the design has no middle level
            total += duration_model.topology_event_seconds(cluster.machine_type, e, gb, n)
        if params.baseline:
            total += gb * DIRECT_PER_GB + duration_model.topology_event_seconds(
                cluster.machine_type, "clean-all-nodes", gb, n)
    return total


def overhead_seconds(params: TopologyParams, design: str, n: int) -> float:
    """What one MiniCluster costs beyond its timed work: its start, the settle waits, the
    recorder, the upload."""
    settles = sum(1 for e in params.events if e != "create-archive")  # as topology.sh sleeps
    return (duration_model.minicluster_start() + duration_model.harness("recorder")
            + duration_model.harness("upload")
            + params.settle_seconds * settles * len(params.sizes_gb))


SCRIPT = Path(__file__).resolve().parents[2] / "data" / "topology.sh"


def render_script(design: str, nodes: int, params: TopologyParams, namespace: str) -> str:
    url = f"http://{SERVER}.{namespace}.svc:{SERVER_PORT}" if params.baseline else ""
    mid = middle(design, nodes)
    sizes = " ".join(f"{int(gb * GB)}:{payload_file(gb, params.payload)}"
                     for gb in params.sizes_gb)
    values = {  # each placeholder stands alone in the script and is replaced by a quoted word
        "__SIZES__": sizes,
        "__PAYLOAD__": params.payload,
        "__PAYLOAD_DIR__": params.payload_dir,
        "__EVENTS__": " ".join(params.events),
        "__DESIGN__": design,
        "__NODES__": str(nodes),
        "__LEAVES__": ",".join(map(str, leaves(design, nodes))),
        "__MIDDLE__": ",".join(map(str, mid)),
        "__URL__": url,
        "__PURGE__": "" if params.purge_target_bytes is None else str(params.purge_target_bytes),
        "__SETTLE__": f"{params.settle_seconds:g}",
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
        matrix = params.matrix(cluster.node_count)
        check_node_counts([n for n, _ in matrix], cluster)
        out = []
        for n, design_list in matrix:
            for design in design_list:
                out += self._design_steps(params, cluster, design, n)
        return out

    def _design_steps(self, params: TopologyParams, cluster: ClusterFacts, design: str,
                      n: int) -> list[Step]:
        work = work_seconds(params, cluster, design, n)
        sizes = [int(gb * GB) for gb in params.sizes_gb]
        out = []
        for r in range(1, params.iterations + 1):
            out.append(
                timed_step(
                    f"topo-{design_label(design)}-n{n}-r{r}",
                    overhead_seconds(params, design, n) + work,
                    {"design": design, "nodes": n, "sizes_bytes": sizes, "iteration": r,
                     "levels": len(levels(design, n))},
                    margin=DEADLINE_MARGIN,
                    slack=DEADLINE_SLACK_SECONDS,
                    work=work,
                )
            )
        return out

    def helper_images(self, params: TopologyParams, cluster: ClusterFacts) -> list[str]:
        """What every MiniCluster pod runs: the app image and the flux view (an init container).

        The archive server's python image is not listed: it runs once, on one node, before the
        first step.
        """
        from core.versions import TOPOLOGY_APP

        app = params.image or TOPOLOGY_APP.ref
        return [app, FLUX_VIEW] if params.flux_view else [app]

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

        n, ns = step.params["nodes"], ctx.namespace
        design = step.params["design"]
        script = render_script(design, n, params, ns)
        b64 = base64.b64encode(script.encode()).decode()
        return minicluster_workload(
            step, ctx, opts, size=n, tasks=n,
            logging={"quiet": True},
            flux={"topology": design,
                  "container": {"image": FLUX_VIEW} if params.flux_view else {"disable": True}},
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
