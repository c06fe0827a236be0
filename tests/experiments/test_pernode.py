"""Per-node work is a DaemonSet: one pod pinned to every node, done when every pod is Ready.

The DaemonSet controller pins each pod to its node with node affinity on the node name
(kubernetes/kubernetes pkg/controller/daemon/util/daemonset_util.go,
ReplaceDaemonSetPodNodeNameNodeAffinity), which pod anti-affinity and topology spread do not
do for finished pods. pulumi-kubernetes awaits a DaemonSet until kstatus calls it Current,
desiredNumberScheduled == numberReady (provider/pkg/await/daemonset.go, since v4.12.0; read at
the snapshot after v4.32.0; the lock pins 4.34.2), so a failing init container stops `up`.
The static busybox is docker-library/busybox's musl variant (CONFIG_STATIC=y in
latest/musl/Dockerfile.builder; the glibc variant is dynamic).
"""

from __future__ import annotations

from collections import Counter

import pytest

from core import layout
from experiments.pernode import PREPULL_STEP, TOOLS_MOUNT
from study.mock_engine import run_program
from tests.conftest import ROOT, config_of, stack_yaml


def resources(stack: str, **cluster):
    cfg = stack_yaml(stack)
    cfg["config"]["study:cluster"].update(cluster)
    out = run_program(stack, config_of(cfg), ROOT / "__main__.py")
    assert out.error is None, out.error
    return out


def daemonsets(out, role: str) -> list:
    return [r for r in out.resources if r.type == "kubernetes:apps/v1:DaemonSet"
            and r.inputs["metadata"]["labels"][layout.LABEL_ROLE] == role]


def test_object_count_does_not_grow_with_the_node_count():
    small = resources("gke-4-nightly")
    fewer = resources("gke-4-nightly", node_count=2)
    assert Counter(r.type for r in small.resources) == Counter(r.type for r in fewer.resources)
    assert len(daemonsets(small, "prepull")) == 1
    assert daemonsets(small, "cache-clear") == []  # each pull pod clears its own node


def test_prepull_is_the_first_step_and_pulls_only_helper_images():
    out = resources("gke-64-ghcr")
    steps = out.exports["steps"]
    assert steps[0] == PREPULL_STEP
    (ds,) = daemonsets(out, "prepull")
    pod = ds.inputs["spec"]["template"]["spec"]
    inits = pod["initContainers"]
    assert inits[0]["command"] == ["cp", "/bin/busybox", f"{TOOLS_MOUNT}/busybox"]
    assert "busybox" in inits[0]["image"] and "1.36.1-musl" in inits[0]["image"]
    pulled = [c["image"] for c in inits[1:]]
    assert all(c["command"] == [f"{TOOLS_MOUNT}/busybox", "true"] for c in inits[1:])
    assert all(c["imagePullPolicy"] == "IfNotPresent" for c in inits[1:])
    assert not any("container-chonks" in i for i in pulled)  # studied images stay cold
    recorder = next(r for r in out.resources if r.inputs.get("metadata", {}).get("name")
                    == "rec-pull-l9-s1176249324-r1")
    pull = next(r for r in out.resources if r.inputs.get("metadata", {}).get("name")
                == "pull-l9-s1176249324-r1")
    clear = pull.inputs["spec"]["template"]["spec"]["initContainers"][0]
    runs = {recorder.inputs["spec"]["template"]["spec"]["containers"][0]["image"],
            clear["image"]}
    assert runs <= set(pulled)
    assert pod["volumes"] == [{"name": "tools", "emptyDir": {}}]
    assert "annotations" not in ds.inputs["metadata"]  # Pulumi awaits it: all nodes pulled


def test_prepull_is_priced():
    from infra.estimate import experiment_steps
    from infra.spec import load_spec

    spec = load_spec(config_of(stack_yaml("gke-64-ghcr")))
    first = experiment_steps(spec)[0]
    assert first.name == PREPULL_STEP
    # durations.yaml: 2.0 s Scheduled -> Pulling, 0.87 s per helper image (the seed's helper
    # pulls), then the recorder (3.5 s) and the upload (9 s); none of it measured work.
    assert first.estimated_seconds == pytest.approx(
        2.0 + 0.87 * len(first.params["images"]) + 3.5 + 9, abs=0.05)
    assert first.work_seconds == 0.0


def test_the_clear_runs_in_each_pull_pod_on_its_own_node():
    """The clear used to be a DaemonSet pinned to every node and awaited by Pulumi; it is now the
    pull pod's own init container, so it runs on the pull's node whatever the scheduler does
    (experiments.kinds.pulling.pull_pod), and no per-node object is left for it."""
    out = resources("eks-16-pulling")
    assert daemonsets(out, "cache-clear") == []
    pulls = [r for r in out.resources if r.type == "kubernetes:batch/v1:Job"
             and r.inputs["metadata"]["labels"][layout.LABEL_ROLE] == "workload"]
    assert pulls
    for job in pulls:
        pod = job.inputs["spec"]["template"]["spec"]
        assert "nodeName" not in pod  # the scheduler places it; the clear follows the pod
        assert [c["name"] for c in pod["initContainers"]] == ["clear"]
        assert pod["initContainers"][0]["command"][:5] == ["nsenter", "-t", "1", "-m", "--"]
        assert pod["hostPID"] is True
