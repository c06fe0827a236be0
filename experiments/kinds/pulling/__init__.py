"""Image pulling: every node pulls each studied image exactly once, from a cold cache.

Steps, in order: the registry mirror (Artifact Registry stacks only), the optional priming pull
(`prime`, for image streaming, which streams an image only after its first pull), then for each
iteration and each image one step made of
  1. `<step>`: the pull Job, completions = parallelism = N, one pod per node enforced by the
     scheduler (required pod anti-affinity on the hostname plus a DoNotSchedule topology spread;
     a pull pod holds its node for the whole pull, and the pods-per-node check catches the rest).
     Each pod first runs the privileged init container `clear` (hostPID, nsenter into the host)
     with `clear_script`: remove every studied image's containers, exited ones included (they
     keep its layer snapshots), remove every studied image (the chonks share a base layer, so an
     earlier step's image would keep part of this one warm; crictl, or ctr where there is no
     crictl, as on EKS AL2023), then prove with ctr that no name of them and none of their layer
     snapshots is left; a layer still held by another image is named. Only then does the kubelet
     start the `pull` container and pull its image (`imagePullPolicy: IfNotPresent`, so a warm
     cache shows up as `already present on machine`): the clear runs on the very node of the
     pull, immediately before it. A clear that cannot prove the cache cold exits 1, which fails
     its pod (restartPolicy Never) and the Job (backoffLimit 0) before anything is pulled;
  2. the recorder checks the events afterwards (N cold pulls on N distinct nodes, none warm,
     none faster than a cold pull can be, every pod that pulled with its own clear's OK record),
     then deletes the pull Job in the foreground and waits until its pods are gone, so the next
     repeat finds no container holding the image's snapshots. A failed clear is recorded with its
     FAIL line (or, for a clear that could not run, the kubelet's reason: StartError,
     ErrImagePull, ...) and then stops the run (`experiments.recorder`): every later step would
     fail the same way on that node.
The plan stays the same size whatever N is: per step the pull Job and the step's recorder (and
upload) Jobs, no per-node object.

Duration model (per step; `experiments.duration_model`, fitted by `benchmarks/fit_durations.py`
to the seed's run1-run4 events at 4 and 16 nodes, GKE n1-standard-16): the measured work is the
slowest node's pull (the step waits for it), a + b * GB for the cluster's configuration (plain disk,
local SSD, image streaming) at the fitted node count nearest the cluster's, then the Job's
completion after the last `Pulled` (containers start, run and exit; it grows with the image):
the pull Job's own time, which the seed's loop paid too. The harness's overhead is the cache
clear (inside the pull pod, before its pull), the recorder and the upload, where the seed's own
loop turned around in about 1 s; `infra/data/durations.yaml` gives each piece with its source. The
chonk layers are /dev/zero (20.7 MB compressed for 19 GB), so decompression and disk writes
dominate; other images add their compressed bytes (half their size, assumed) at 100 MB/s. With
image streaming the seed's 16-node pulls took about 0.6 s whatever the size (the cost moves to
the Job's completion). Explicit images of unknown size count as `assumed_size_bytes`.
"""

from __future__ import annotations

import shlex
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.reference import ImageRef, RepositoryName, normalize
from experiments import duration_model
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
from experiments.kinds.pulling.results import PullingResults
from experiments.registry import register

PRIME_STEP = "prime-images"
NETWORK_BYTES_PER_SECOND = 100e6  # assumed, for images that are not zero-filled chonks


class PullingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    # Where the images live upstream; Artifact Registry stacks copy them into their own repo.
    repository: RepositoryName = Field(
        default="ghcr.io/converged-computing/container-chonks-run1", min_length=1
    )
    layers: list[int] = Field(default_factory=list, description="chonk layer counts")
    sizes: list[int] = Field(default_factory=list, description="chonk sizes, uncompressed bytes")
    images: list[ImageRef] = Field(default_factory=list, description="explicit image references")
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

    def studied(self, registry: str) -> list[str]:
        """The studied images as the cluster pulls them: copies in `registry` when it is the
        stack's Artifact Registry, else the sources themselves."""
        return [mirrored(src, registry) for src in self.sources()]


def _fit(cluster: ClusterFacts) -> dict[str, Any]:
    config = duration_model.pull_config(cluster.local_ssd, cluster.image_streaming)
    return duration_model.pulling(config, cluster.node_count)


def _size(ref: str, assumed: int) -> tuple[int, bool]:
    chonk = parse_chonk(ref)
    return (chonk[1], True) if chonk else (assumed, False)


def pull_seconds(ref: str, cluster: ClusterFacts, assumed: int) -> float:
    """The slowest node's pull of `ref` (what a pull step waits for)."""
    size, chonk = _size(ref, assumed)
    fit = duration_model.line(_fit(cluster)["pull"], size / 1e9)
    if chonk or cluster.image_streaming:
        return fit
    return fit + size / 2 / NETWORK_BYTES_PER_SECOND


def completion_seconds(ref: str, cluster: ClusterFacts, assumed: int) -> float:
    """From the last `Pulled` to the Job's completion: containers start, run and exit (the seed's
    Jobs took 6-35 s, up to 141 s under image streaming, growing with the image)."""
    size, _ = _size(ref, assumed)
    return duration_model.line(_fit(cluster)["completion"], size / 1e9)


def overhead_seconds() -> float:
    """What the harness adds to one pull step: the cache clear, the recorder, the upload."""
    return (duration_model.harness("cache_clear") + duration_model.harness("recorder")
            + duration_model.harness("upload"))


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


CLEAR_CONTAINER = "clear"  # the pull pod's init container
CLEAR_OK = "cache-clear: OK"  # the record the step recorder looks for in each pod's clear log
CLEAR_FAIL = "cache-clear: FAIL"  # the line a failed clear prints before it exits 1

# Runs on the host (nsenter into PID 1's mount namespace) as root, so every value is quoted.
# Why each step, from containerd v2.1 (internal/cri/server/images/image_remove.go,
# core/unpack/unpacker.go, cmd/ctr) and cri-tools v1.35 (cmd/crictl/image.go):
# - removing an image drops only its references; the layer snapshots stay while any container,
#   also an exited one, uses them, and the next pull's unpacker skips every layer whose
#   chain-ID snapshot exists. So: remove the images' containers first, then the images, and
#   every studied image of the study, not only the step's: they share their base layer.
# - `crictl rmi`/`inspecti` exit 1 for a missing image *and* for any other failure, and a
#   missing crictl (EKS AL2023, awslabs/amazon-eks-ami#2163; its install-worker.sh installs the
#   containerd RPM and nerdctl, no cri-tools) is "command not found": none of those may read as
#   "absent". Absence is proven with `ctr` (it ships with containerd on every node):
#   `images ls -q` exits 0 and prints nothing, and none of the chain IDs that `ctr images
#   usage` listed before the removal (in any snapshotter `ctr plugins ls` shows) is left in
#   `ctr snapshots ls`.
# - the kubelet deletes a pod object once its containers have stopped, and removes the exited
#   containers by its own container GC, once a minute, in the background (kubernetes/kubernetes
#   pkg/kubelet/kubelet_pods.go `PodResourcesAreReclaimed` asks only that none still runs and
#   the volumes are gone); its image GC may remove an image too. So a container (or an image)
#   listed a moment ago may be gone when its removal runs, and `crictl rm` then fails on its
#   first call, ContainerStatus (cri-tools cmd/crictl/container.go `removeContainerCommand`),
#   as `crictl rmi` does on a missing image and `ctr containers rm` on a missing container. A
#   removal that failed counts as done when the object is gone; the final ctr proof (no name,
#   no layer snapshot left) still decides whether the cache is cold.
# - not covered: a pull killed mid-way (its pod deleted during the pull) may leave committed
#   layer snapshots no image names yet; `ctr images usage` cannot list them, so the proof does
#   not see them, and the next pull's unpacker would reuse them. Seen only after an interrupted
#   step; listing every committed snapshot no image holds would catch it.
_CLEAR_SCRIPT = r"""
set -u
set -f  # the names are data: no globbing when the list is split into words
export PATH="$PATH:/home/kubernetes/bin:/usr/local/bin"
node="${NODE_NAME:-$(hostname)}"
fail() { echo "cache-clear: FAIL node=$node: $*"; exit 1; }
command -v ctr >/dev/null 2>&1 || fail "no ctr on the node: cannot prove the images are gone"
if command -v crictl >/dev/null 2>&1; then client=crictl; else client=ctr; fi
# `list_images` runs in the script's own shell (never inside $(...), where `fail` would only end
# a subshell): $all is then the current `ctr images ls` (REF TYPE DIGEST SIZE ...).
list_images() { all=$(ctr -n k8s.io images ls) || fail "ctr images ls failed"; }
# Whether no image is named $1 (ctr lists nothing and exits 0; a failing listing is "not gone").
image_gone() { left=$(ctr -n k8s.io images ls -q "name==$1") && [ -z "$left" ]; }
# CRI records one pull under three names with one target (name:tag, name@digest and the config
# digest as `sha256:...`): every name holds the content, so each is removed and checked.
refs_of() { printf '%s\n' "$all" | awk -v t="$1" 'NR > 1 && $3 == t {print $1}'; }
# Every snapshotter the node runs (overlayfs; gcfs too with GKE image streaming).
plugins=$(ctr plugins ls) || fail "ctr plugins ls failed"  # TYPE ID PLATFORMS STATUS
sns=$(printf '%s\n' "$plugins" | awk '$1 == "io.containerd.snapshotter.v1" && $NF == "ok" {
  print $2 }')
list_images
present=""  # "<name> <target>" of the studied images on the node
chains=""   # "<snapshotter> <chain ID>": their layer snapshots
tops=""     # "<snapshotter> <chain ID>": each image's top layer (its containers' parent)
add_present() {  # $1: a name of the image, $2: its target
  case "$present" in *" $2
"*) return ;; esac  # this image (target) is already counted
  present="$present$1 $2
"
  found=""
  for sn in $sns; do
    if usage=$(ctr -n k8s.io images usage --snapshotter "$sn" "$1" 2>/dev/null); then
      c=$(printf '%s\n' "$usage" | awk 'NR > 1 && $1 != "" {print $1}')
      [ -n "$c" ] || continue
      found=1
      chains="$chains$(printf '%s\n' "$c" | awk -v sn="$sn" '{print sn, $1}')
"
      tops="$tops$sn $(printf '%s\n' "$c" | head -n 1)
"
    fi
  done
  [ -n "$found" ] \
    || fail "ctr images usage found $1 in no snapshotter: cannot list its layer snapshots"
}
for img in $IMGS; do
  # The image by its name, and every digest name in its repository: what an interrupted
  # earlier clear left (its `name:tag` gone, `name@digest` not), or another tag of the study's
  # repository. One entry per target.
  repo=$(printf '%s\n' "$img" | awk '{sub(/@.*/, ""); n = split($0, p, "/");
    sub(/:[^:]*$/, "", p[n]); s = p[1]; for (i = 2; i <= n; i++) s = s "/" p[i]; print s}')
  rows=$(printf '%s\n' "$all" | awk -v r="$img" -v p="$repo@" \
    'NR > 1 && ($1 == r || index($1, p) == 1) && !seen[$3]++ {print $1, $3}')
  [ -n "$rows" ] || continue
  while read -r name t; do
    add_present "$name" "$t"
  done <<ROWS
$rows
ROWS
done
names=$(printf '%s' "$present" | awk 'NF {print $1}')
if [ "$client" = crictl ]; then
  for img in $names; do
    ids=$(crictl ps -a -q --image "$img") || fail "crictl ps failed"
    for id in $ids; do
      crictl rm "$id" >/dev/null || ! crictl inspect "$id" >/dev/null 2>&1 \
        || fail "crictl rm $id failed"
    done
    crictl rmi "$img" >/dev/null || image_gone "$img" || fail "crictl rmi $img failed"
  done
else
  # CRI containers carry no image name in containerd; each has an active snapshot keyed by its
  # ID whose parent is its image's top layer: that is how ctr finds them.
  for sn in $sns; do
    mine=$(printf '%s' "$tops" | awk -v sn="$sn" '$1 == sn {print $2}')
    [ -n "$mine" ] || continue
    snaps=$(ctr -n k8s.io snapshots --snapshotter "$sn" ls) || fail "ctr snapshots ls failed"
    for top in $mine; do
      ids=$(printf '%s\n' "$snaps" | awk -v p="$top" '$2 == p && $3 == "Active" {print $1}')
      for id in $ids; do
        ctr -n k8s.io containers rm "$id" >/dev/null \
          || ! ctr -n k8s.io containers info "$id" >/dev/null 2>&1 \
          || fail "ctr containers rm $id failed"
      done
    done
  done
  list_images
  for t in $(printf '%s' "$present" | awk 'NF {print $2}'); do
    for ref in $(refs_of "$t"); do
      ctr -n k8s.io images rm --sync "$ref" >/dev/null || image_gone "$ref" \
        || fail "ctr images rm $ref failed"
    done
  done
fi
for img in $names; do
  left=$(ctr -n k8s.io images ls -q "name==$img") || fail "ctr images ls failed"
  [ -z "$left" ] || fail "image $img still present after $client removed it"
done
list_images
for t in $(printf '%s' "$present" | awk 'NF {print $2}'); do
  others=$(refs_of "$t")
  [ -z "$others" ] || fail "image still present as $(echo $others) after $client removed it"
done
for sn in $sns; do
  mine=$(printf '%s' "$chains" | awk -v sn="$sn" '$1 == sn {print $2}' | sort -u)
  [ -n "$mine" ] || continue
  snaps=$(ctr -n k8s.io snapshots --snapshotter "$sn" ls) || fail "ctr snapshots ls failed"
  for c in $mine; do
    if printf '%s\n' "$snaps" | awk -v c="$c" '$1 == c {f = 1} END {exit !f}'; then
      holder=""  # another image with the same layer (a helper image built on the same base)
      for ref in $(printf '%s\n' "$all" | awk 'NR > 1 && !seen[$3]++ {print $1}'); do
        if ctr -n k8s.io images usage --snapshotter "$sn" "$ref" 2>/dev/null \
            | awk -v c="$c" '$1 == c {f = 1} END {exit !f}'; then holder=" (held by $ref)"; break
        fi
      done
      fail "layer snapshot $c still present in $sn$holder"
    fi
  done
done
n=$(printf '%s' "$chains" | awk 'NF' | sort -u | wc -l | tr -d ' ')
k=$(printf '%s' "$present" | awk 'NF' | wc -l | tr -d ' ')
echo "cache-clear: OK node=$node images_removed=$k client=$client snapshots_removed=$n"
"""


def clear_script(images: list[str]) -> str:
    """The POSIX sh script that removes every studied image (as containerd names them) and
    proves they are gone.

    Why every studied image and not only the step's: the chonk images are built on one base
    image (container-crafter builds them `FROM busybox`; the seed's container-layers.csv shows
    one shared bottom layer), so an image pulled by an earlier step keeps layers the next step's
    image would otherwise have to fetch. Exit 0 and a `cache-clear: OK` line only when none of
    the images and none of their layer snapshots is left; exit 1 and `cache-clear: FAIL ...`
    otherwise (also when no client exists).
    """
    return f"IMGS={shlex.quote(chr(10).join(images))}\n" + _CLEAR_SCRIPT.lstrip("\n")


def clear_container(studied: list[str]) -> dict[str, Any]:
    """The pull pod's first container: enter the host and run `clear_script` over every studied
    image, as containerd stores them (docker.io/library/..., :latest, name@digest without the
    tag when pinned)."""
    return {
        "name": CLEAR_CONTAINER,
        "image": _debian(),
        "command": ["nsenter", "-t", "1", "-m", "--", "sh", "-c",
                    clear_script([normalize(ref) for ref in studied])],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "securityContext": {"privileged": True},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }


def pull_pod(image: str, command: list[str], studied: list[str]) -> dict[str, Any]:
    """The pull pod: the clear as its init container, then the pull.

    Why one pod: the kubelet starts a pod's init containers one at a time and its regular
    containers only after every init container exited 0, and pulls a container's image only
    when it starts that container (kubernetes/kubernetes pkg/kubelet/kuberuntime:
    kuberuntime_manager.go SyncPod, kuberuntime_container.go startContainer). So the clear
    runs on the very node of the pull, immediately before it, and a clear that fails (exit 1)
    fails the pod (restartPolicy Never) before anything is pulled. hostPID: nsenter enters PID
    1's mount namespace, the host's.
    """
    return {
        "hostPID": True,
        "initContainers": [clear_container(studied)],
        "containers": [
            {
                "name": "pull",
                "image": image,
                "imagePullPolicy": "IfNotPresent",  # warm caches must show, not be hidden
                "command": list(command),
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
            }
        ],
    }


def job(name: str, ctx: RenderContext, labels: dict[str, str], n: int, pod: dict[str, Any],
        deadline: float, skip_await: bool) -> dict[str, Any]:
    from core.k8s import batch_job

    return batch_job(
        name, ctx.namespace, labels, {**one_pod_per_node(labels), **pod}, skip_await=skip_await,
        completions=n, parallelism=n,
        backoffLimit=0,  # a retry could land on a node that already ran: no retries
        activeDeadlineSeconds=int(deadline),
    )


@register
class Pulling(PullingResults):
    name = "pulling"
    requires = ("event-recorder",)  # operators the stack must list
    Params = PullingParams

    def steps(self, params: PullingParams, cluster: ClusterFacts) -> list[Step]:
        out = mirror_steps(params.sources(), cluster)
        refs = params.studied(cluster.image_registry)
        assumed = params.assumed_size_bytes
        if params.prime:
            from dataclasses import replace

            est = 30.0 + sum(pull_seconds(r, cluster, assumed) for r in refs)
            # Preparation (measures nothing): beside the operators, once the mirror's copies are.
            out.append(replace(timed_step(PRIME_STEP, est, {"images": refs}, work=0.0),
                               preparation=True, needs=tuple(s.name for s in out)))
        for r in range(1, params.iterations + 1):
            for ref in refs:
                # The pull Job's own time (the seed's loop paid it too): the slowest pull,
                # then the containers' start, run and exit.
                work = (pull_seconds(ref, cluster, assumed)
                        + completion_seconds(ref, cluster, assumed))
                est = overhead_seconds() + work
                out.append(
                    timed_step(
                        f"pull-{slug(ref)}-r{r}",
                        est,
                        {"image": ref, "iteration": r},
                        slack=300.0,  # 5 min slack: a pull is seconds
                        work=work,
                    )
                )
        return out

    def render(self, step: Step, params: PullingParams, ctx: RenderContext, opts) -> Workload:
        from core.k8s import create
        from experiments.component import step_labels

        if step.name == MIRROR_STEP:
            return job_workload(step, ctx, "mirror", opts, mirror_job)
        if step.name == PRIME_STEP:
            return job_workload(step, ctx, "prime", opts, prime_job)
        from core.image_lock import committed

        source, n = step.params["image"], ctx.cluster.node_count
        # What the pod runs: by digest once the lock has one (core.k8s.create renders
        # every image so), so the clear and the checks name the very same reference.
        lock = committed()
        image = lock.pinned(source)
        # Every studied image of the study, as its pods run them: the clear removes them all.
        studied = [lock.pinned(ref) for ref in params.studied(ctx.cluster.image_registry)]
        labels = step_labels(ctx, step.name, "workload")
        pull = create(
            job(step.name, ctx, labels, n, pull_pod(image, params.command, studied),
                step.deadline_seconds, skip_await=True),
            opts,
        )
        path = job_path(ctx.namespace, step.name)
        chonk = parse_chonk(source)
        selector = pod_selector(labels)
        expect = {
            "pull_images": [image], "nodes": n, "pods_per_node": 1,
            # Speed is no evidence under image streaming: `Pulled` comes before the bytes do.
            "pull_speed": None if ctx.cluster.image_streaming else
            {image: chonk[1] if chonk else None},
            # Each pull pod's own `clear` init container: the step's pods themselves.
            "clears": {"selector": selector, "container": CLEAR_CONTAINER, "ok": CLEAR_OK,
                       "fail": CLEAR_FAIL},
            # Pull pods deleted before the next step's clear: a pod's exited containers keep
            # the layer snapshots until the pod is gone or the clear removes them.
            "cleanup": [path],
        }
        return Workload([pull], [path], [path], selector, expect)

    def helper_images(self, params: PullingParams, cluster: ClusterFacts) -> list[str]:
        """Images the steps run besides the studied ones (never the studied ones: they must
        stay cold): the clear (the pull pods' init container), the step recorder, the mirror's
        copier."""
        from core.versions import GCRANE, PYTHON
        from experiments.images import is_artifact_registry

        out = [_debian(), PYTHON.ref]
        if is_artifact_registry(cluster.image_registry):
            out.append(GCRANE.ref)
        return out


def prime_job(step: Step, ctx: RenderContext, labels: dict[str, str]) -> dict[str, Any]:
    """One pod that pulls every studied image once (init containers run them in turn)."""
    return init_containers_job(step, ctx, labels, [
        {"name": f"prime-{i}", "image": ref, "imagePullPolicy": "Always",
         "command": ["true"],
         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
        for i, ref in enumerate(step.params["images"])
    ], backoff_limit=2)


def _debian() -> str:
    from core.versions import DEBIAN

    return DEBIAN.ref
