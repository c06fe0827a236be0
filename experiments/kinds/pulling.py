"""Image pulling: every node pulls each studied image exactly once, from a cold cache.

Steps, in order: the registry mirror (Artifact Registry stacks only), the optional priming pull
(`prime`, for image streaming, which streams an image only after its first pull), then for each
iteration and each image one step made of
  1. `clr-<step>`: a Job with one privileged pod per node that removes the image from the node's
     containerd store (`crictl rmi` through nsenter into the host; the seed's DaemonSet talked to
     the Docker socket, which does nothing on containerd) and fails unless `crictl inspecti` then
     says the image is absent (verified cold). Pulumi awaits it: a cache that cannot be cleared
     stops the run rather than producing a warm measurement;
  2. `<step>`: the pull Job, completions = parallelism = N, one pod per node enforced by the
     scheduler (required pod anti-affinity on the hostname plus a DoNotSchedule topology spread),
     `imagePullPolicy: IfNotPresent` so a warm cache shows up as `already present on machine`;
  3. the recorder checks the events afterwards: N cold pulls on N distinct nodes, none warm.
The plan stays the same size whatever N is: two Jobs per step, never one object per node.

Duration model (per step): 30 s cache clear + 15 s scheduling + pull + 30 s recording, where
pull = 0.5 s + 5.8 s per GB uncompressed + compressed bytes / 100 MB/s. The 5.8 s/GB is the seed's
GKE runs (n1-standard-16, run1-3): medians 7.1 s at 1.18 GB, 15.4 s at 2.77 GB, 38.6 s at 6.84 GB,
58.3 s at 10.9 GB. The chonk layers are /dev/zero (20.7 MB compressed for 19 GB), so decompression
and disk writes dominate. With image streaming the seed saw `Pulled` after ~1 s whatever the size
(cost moves to container start): 1 s + 1 s/GB. Explicit images of unknown size count as
`assumed_size_bytes`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from experiments.base import ClusterFacts, RenderContext, Step, Workload
from experiments.images import (
    MIRROR_STEP,
    chonk_tag,
    init_containers_job,
    mirror_job,
    mirror_steps,
    mirrored,
    parse_chonk,
    slug,
)
from experiments.kinds._common import job_path, job_workload, pod_selector, timed_step
from experiments.registry import register

PRIME_STEP = "prime-images"
SECONDS_PER_GB = 5.8
STREAMING_SECONDS_PER_GB = 1.0
NETWORK_BYTES_PER_SECOND = 100e6
CHONK_COMPRESSED_FRACTION = 20.7e6 / 19034736629  # zero layers compress ~1000x


class PullingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Where the images live upstream; Artifact Registry stacks copy them into their own repo.
    repository: str = Field(
        default="ghcr.io/converged-computing/container-chonks-run1", min_length=1
    )
    layers: list[int] = Field(default_factory=list, description="chonk layer counts")
    sizes: list[int] = Field(default_factory=list, description="chonk sizes, uncompressed bytes")
    images: list[str] = Field(default_factory=list, description="explicit image references")
    iterations: int = Field(default=1, ge=1, le=100)
    command: list[str] = Field(default_factory=lambda: ["true"], min_length=1)
    assumed_size_bytes: int = Field(default=2_000_000_000, gt=0)
    # Pull every image once on one node before measuring: GKE image streaming only streams an
    # image after its first pull. The caches are cleared before each measured step anyway.
    prime: bool = False

    @model_validator(mode="after")
    def _matrix(self):
        if bool(self.layers) != bool(self.sizes):
            msg = "layers and sizes go together (the chonk tag is <L>-layers-size-<bytes>-bytes)"
            raise ValueError(msg)
        if not self.layers and not self.images:
            msg = "no images: give layers and sizes, or images"
            raise ValueError(msg)
        if any(n < 1 for n in self.layers) or any(b < 1 for b in self.sizes):
            msg = "layers and sizes must be positive"
            raise ValueError(msg)
        return self

    def sources(self) -> list[str]:
        chonks = [
            f"{self.repository}:{chonk_tag(n, b)}" for n in self.layers for b in self.sizes
        ]
        out: list[str] = []
        for ref in chonks + list(self.images):
            if ref not in out:
                out.append(ref)
        return out


def pull_seconds(ref: str, cluster: ClusterFacts, assumed: int) -> float:
    chonk = parse_chonk(ref)
    size = chonk[1] if chonk else assumed
    gb = size / 1e9
    if cluster.image_streaming:
        return 1.0 + STREAMING_SECONDS_PER_GB * gb
    compressed = size * CHONK_COMPRESSED_FRACTION if chonk else size / 2
    return 0.5 + SECONDS_PER_GB * gb + compressed / NETWORK_BYTES_PER_SECOND


def one_pod_per_node(labels: dict[str, str]) -> dict[str, Any]:
    """Affinity + spread that let the scheduler place at most one of these pods on a node."""
    selector = {"matchLabels": dict(labels)}
    return {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"}
                ]
            }
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": selector,
            }
        ],
    }


def clear_script(image: str) -> str:
    """Remove `image` from the host's containerd store, then prove it is gone."""
    return (
        # crictl lives in /home/kubernetes/bin on COS, /usr/bin or /usr/local/bin elsewhere.
        "export PATH=$PATH:/home/kubernetes/bin:/usr/local/bin; "
        f"crictl rmi '{image}' >/dev/null 2>&1 || true; "
        f"if crictl inspecti -q '{image}' >/dev/null 2>&1; then "
        f"echo \"cache-clear: '{image}' still present on $(hostname)\"; exit 1; fi; "
        f"echo \"cache-clear: '{image}' absent on $(hostname)\""
    )


def job(name: str, ctx: RenderContext, labels: dict[str, str], n: int, pod: dict[str, Any],
        deadline: float, skip_await: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ctx.namespace, "labels": labels}
    if skip_await:
        meta["annotations"] = {"pulumi.com/skipAwait": "true"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "completions": n,
            "parallelism": n,
            "backoffLimit": 0,  # a retry could land on a node that already ran: no retries
            "activeDeadlineSeconds": int(deadline),
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", **one_pod_per_node(labels), **pod},
            },
        },
    }


@register
class Pulling:
    name = "pulling"
    requires = ("event-recorder",)  # operators the stack must list
    Params = PullingParams

    def steps(self, params: PullingParams, cluster: ClusterFacts) -> list[Step]:
        sources = params.sources()
        out = mirror_steps(sources, cluster)
        if params.prime:
            refs = [mirrored(src, cluster.image_registry) for src in sources]
            est = 30.0 + sum(pull_seconds(r, cluster, params.assumed_size_bytes) for r in refs)
            out.append(timed_step(PRIME_STEP, est, {"images": refs}))
        for r in range(1, params.iterations + 1):
            for src in sources:
                ref = mirrored(src, cluster.image_registry)
                est = 30.0 + 15.0 + pull_seconds(ref, cluster, params.assumed_size_bytes) + 30.0
                out.append(
                    timed_step(
                        f"pull-{slug(ref)}-r{r}",
                        est,
                        {"image": ref, "iteration": r},
                        slack=300.0,  # 5 min slack: a pull is seconds
                    )
                )
        return out

    def render(self, step: Step, params: PullingParams, ctx: RenderContext, opts) -> Workload:
        from pulumi import CustomTimeouts, ResourceOptions

        from experiments.component import step_labels
        from experiments.k8s import create

        if step.name == MIRROR_STEP:
            return job_workload(step, ctx, "mirror", opts, mirror_job)
        if step.name == PRIME_STEP:
            return job_workload(step, ctx, "prime", opts, prime_job)
        image, n = step.params["image"], ctx.cluster.node_count
        clear_labels = step_labels(ctx, step.name, "cache-clear")
        clear_pod = {
            "hostPID": True,
            "containers": [
                {
                    "name": "clear",
                    "image": _debian(),
                    "command": ["nsenter", "-t", "1", "-m", "--", "sh", "-c", clear_script(image)],
                    "securityContext": {"privileged": True},
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
        }
        clear = create(
            job(f"clr-{step.name}", ctx, clear_labels, n, clear_pod, 900, skip_await=False),
            ResourceOptions.merge(
                opts, ResourceOptions(custom_timeouts=CustomTimeouts(create="20m"))
            ),
        )
        labels = step_labels(ctx, step.name, "workload")
        pull_pod = {
            "containers": [
                {
                    "name": "pull",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",  # warm caches must show, not be hidden
                    "command": list(params.command),
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                }
            ],
        }
        pull = create(
            job(step.name, ctx, labels, n, pull_pod, step.deadline_seconds, skip_await=True),
            ResourceOptions.merge(opts, ResourceOptions(depends_on=[clear])),
        )
        path = job_path(ctx.namespace, step.name)
        return Workload(
            [clear, pull],
            [path],
            [path],
            pod_selector(labels),
            {"pull_images": [image], "nodes": n, "pods_per_node": 1},
        )


def prime_job(step: Step, ctx: RenderContext, labels: dict[str, str]) -> dict[str, Any]:
    """One pod that pulls every studied image once (init containers run them in turn)."""
    return init_containers_job(step, ctx, labels, [
        {"name": f"prime-{i}", "image": ref, "imagePullPolicy": "Always",
         "command": ["true"],
         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
        for i, ref in enumerate(step.params["images"])
    ], backoff_limit=2)


def _debian() -> str:
    from infra.operators.versions import DEBIAN

    return DEBIAN.ref
