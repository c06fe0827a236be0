"""Work that must run exactly once on every node: a DaemonSet whose init containers do the work.

Why a DaemonSet and not a Job: the scheduler's pod anti-affinity and topology spread ignore
finished pods, so a short Job pod frees its node and a second one may land there, leaving another
node untouched. The DaemonSet controller instead creates one pod per eligible node and pins it
there with node affinity on the node's name (kubernetes/kubernetes
pkg/controller/daemon/util/daemonset_util.go, `ReplaceDaemonSetPodNodeNameNodeAffinity`). The work
runs in init containers; the main container only idles, so the pod turns Ready exactly when the
work succeeded on its node.

pulumi-kubernetes awaits a DaemonSet until kstatus calls it Current: `desiredNumberScheduled`
current, updated, available and ready at the observed generation (pulumi/pulumi-kubernetes
provider/pkg/await/daemonset.go, since v4.12.0, read at the snapshot after v4.32.0; the lock pins
4.34.2; sigs.k8s.io/cli-utils pkg/kstatus/status/core.go `daemonsetConditions`). A failing init
container restarts (CrashLoopBackOff) and never turns Ready, so the create times out and `pulumi
up` stops: work that did not happen on a node fails closed. One object per step whatever the node
count; the step recorder deletes it afterwards (foreground) so idle pods do not pile up.

`prepull` is the generic pre-pull step every kind may start with: it puts the helper images the
steps run (`ExperimentKind.helper_images`) and the upload's CLI image on every node, so no measured
step pays a first pull and no upload beside a measured step pulls cold. It is a preparation step
(`Step.preparation`): its DaemonSet is created beside the operators' installation, and it needs
the registry mirror only when it pulls images the mirror copies. It is node-local
(`Step.node_local`): the images it leaves are in the nodes' caches, so a resume on a new cluster
pulls them again, while a resume on the same nodes keeps it done.
Images need neither `sh` nor `true`: a first init container copies a static busybox into an
emptyDir and every image runs that binary.
"""

from __future__ import annotations

from typing import Any

from experiments.base import ClusterFacts, RenderContext, Step, Workload

PREPULL_STEP = "prepull"
TOOLS_MOUNT = "/study-tools"
IDLE_SECONDS = "86400"  # the recorder deletes the DaemonSet long before; a day bounds a leak


def daemonset(name: str, ctx: RenderContext, labels: dict[str, str],
              init_containers: list[dict[str, Any]], idle_image: str,
              **pod: Any) -> dict[str, Any]:
    """A DaemonSet of `init_containers` then an idle container: one Ready pod per node == done."""
    from core.layout import LABEL_ROLE, LABEL_STEP

    selector = {k: labels[k] for k in (LABEL_STEP, LABEL_ROLE)}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": ctx.namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "initContainers": init_containers,
                    "containers": [{
                        "name": "idle",
                        "image": idle_image,
                        "command": ["sleep", IDLE_SECONDS],
                        "resources": {"requests": {"cpu": "1m", "memory": "8Mi"}},
                    }],
                    **pod,
                },
            },
        },
    }


def daemonset_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"


def prepull_steps(images: list[str], cluster: ClusterFacts,
                  needs: tuple[str, ...] = ()) -> list[Step]:
    """The pre-pull step for `images` (none when there is nothing to pull), a preparation step
    that waits for the preparation steps it `needs`."""
    from dataclasses import replace

    from experiments.kinds._common import timed_step

    unique = list(dict.fromkeys(images))
    if not unique:
        return []
    step = timed_step(PREPULL_STEP, prepull_seconds(len(unique)), {"images": unique}, work=0.0)
    # Its images live in the nodes' caches: a resume on new nodes pre-pulls again.
    return [replace(step, preparation=True, needs=needs, node_local=True)]


def prepull_seconds(images: int) -> float:
    """The pre-pull step: the seed's first pulls of small helper images (< 500 MB compressed;
    `experiments.duration_model`), one after another in each node's pod, then the recorder and the
    upload. Large app images (the seed topology image's /chonks payloads) take longer than this
    model says: it knows no image sizes offline.

    All of it is overhead: nothing in it is measured."""
    from experiments import duration_model

    return (duration_model.helper_pull("start") + images * duration_model.helper_pull("per_image")
            + duration_model.harness("recorder") + duration_model.harness("upload"))


def with_prepull(kind: Any, params: Any, cluster: ClusterFacts, steps: list[Step]) -> list[Step]:
    """The study's steps with the pre-pull step before anything measured (one per study), for
    kinds that name their helper images: first, or right after the preparation steps whose
    copies it pulls (an app image pre-pulled from the stack's registry exists only once the
    mirror has copied it)."""
    from experiments.upload import uploader_image

    helper_images = getattr(kind, "helper_images", None)
    if helper_images is None:
        return steps
    images = [*helper_images(params, cluster), uploader_image(cluster.cloud)]
    makers = [s for s in steps if s.preparation
              and set(images) & {dst for _, dst in s.params.get("copies", ())}]
    at = steps.index(makers[-1]) + 1 if makers else 0
    return [*steps[:at],
            *prepull_steps(images, cluster, tuple(s.name for s in makers)),
            *steps[at:]]


def prepull_containers(images: list[str]) -> list[dict[str, Any]]:
    """Init containers: copy a static busybox, then run `busybox true` from every image."""
    from core.versions import BUSYBOX_STATIC

    mount = [{"name": "tools", "mountPath": TOOLS_MOUNT}]
    small = {"requests": {"cpu": "10m", "memory": "16Mi"}}
    tools = {
        "name": "tools",
        "image": BUSYBOX_STATIC.ref,
        "command": ["cp", "/bin/busybox", f"{TOOLS_MOUNT}/busybox"],
        "volumeMounts": mount,
        "resources": small,
    }
    return [tools] + [
        {
            "name": f"pull-{i}",
            "image": ref,
            "imagePullPolicy": "IfNotPresent",
            "command": [f"{TOOLS_MOUNT}/busybox", "true"],
            "volumeMounts": mount,
            "resources": small,
        }
        for i, ref in enumerate(images)
    ]


def render_prepull(step: Step, ctx: RenderContext, opts: Any) -> Workload:
    """The pre-pull DaemonSet, awaited by Pulumi; the recorder records it and then deletes it."""
    from core.k8s import create
    from core.versions import BUSYBOX_STATIC
    from experiments.component import step_labels
    from experiments.kinds._common import pod_selector

    labels = step_labels(ctx, step.name, "prepull")
    obj = daemonset(step.name, ctx, labels, prepull_containers(step.params["images"]),
                    BUSYBOX_STATIC.ref, volumes=[{"name": "tools", "emptyDir": {}}])
    res = create(obj, opts)  # opts carry the step's create and update timeouts
    path = daemonset_path(ctx.namespace, step.name)
    return Workload([res], [], [path], pod_selector(labels),
                    {"nodes": ctx.cluster.node_count, "pods_per_node": 1, "cleanup": [path]})
