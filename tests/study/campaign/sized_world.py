"""The lifecycle's in-memory world with a node pool that has a size: what a campaign resizes.

`SizedBackend` is `tests.doubles.lifecycle.FakeBackend` plus what a real `pulumi up` of a member
does with the member's config overrides (`core.overrides`, in the program's environment): a
changed `node_count` updates the node pool in place (one `update` of the same resource, never a
delete and create, as the GKE node pool and the EKS node group do), taking the provisioning
model's resize time; an update without the experiment and the event recorder (the campaign's
clear between members) deletes the finished steps' recorders and the recorder with its volume.
Quota usage follows the pool's size, as a region's does.
"""

from __future__ import annotations

import json

from core.overrides import OVERRIDES_ENV
from tests.doubles.lifecycle import (
    GKE_RESOURCES,
    FakeBackend,
    FakeClusterReader,
    FakeStep,
    ResourceEvent,
    World,
    make_world,
)

RECORDER = ("kubernetes:apps/v1:Deployment", "event-recorder", None, 30.0)
RESOURCES = [*GKE_RESOURCES, RECORDER]
VCPUS = 4  # n1-standard-4, the nightly stack's machine


class SizedBackend(FakeBackend):
    def __init__(self, *args, **kw):
        super().__init__(*args, resources=RESOURCES, **kw)
        self.nodes = 0
        self.pool_ops: list[tuple[str, int]] = []  # (create|update|delete, node count)
        self.member_envs: list[dict[str, str]] = []

    def _usage(self) -> None:
        self.cloud.quota_usage = {"cpus": self.nodes * VCPUS, "instances": self.nodes,
                                  "in_use_addresses": self.nodes}

    def up(self, stack, on_event, should_stop, env=None):
        env = dict(env or {})
        ov = json.loads(env.get(OVERRIDES_ENV, "{}"))
        want = int(ov.get("study:cluster", {}).get("node_count", 4))
        pool = self._name(stack, "pool")
        names = self.state.setdefault(stack, [])
        if pool in names and want != self.nodes:
            self._start_update("up", stack)
            self.faults.hit("up.resource")  # the pool's update: where a resize fails
            from infra.provisioning import resize_seconds

            self.clock.sleep(resize_seconds("gke", self.nodes, want))
            self.nodes = want
            self._usage()
            self.pool_ops.append(("update", want))
            on_event(ResourceEvent(f"urn:{pool}", "gcp:container/nodePool:NodePool", pool,
                                   "update", True, self.clock.now()))
            if ov.get("study:experiment", "absent") is None:
                return self._clear(stack, names, on_event)
            self.calls.pop()  # one update: the rest of it below
        elif ov.get("study:experiment", "absent") is None:
            self._start_update("up", stack)
            self.faults.hit("up.start")
            return self._clear(stack, names, on_event)
        self.member_envs.append(env)
        had_pool = pool in names
        out = super().up(stack, on_event, should_stop, env)
        if not had_pool:
            self.nodes = want
            self._usage()
            self.pool_ops.append(("create", want))
        return out

    def _clear(self, stack, names, on_event):
        for name in [n for n in names if n.startswith(f"{stack}-rec-")
                     or n == self._name(stack, "event-recorder")]:
            self.clock.sleep(2)
            names.remove(name)
            on_event(ResourceEvent(f"urn:{name}", "", name, "delete", True, self.clock.now()))
        self.experiment.started_at = None  # the next member's steps start afresh
        self.experiment.stopped_at = None
        self.faults.hit("up.end")
        return self.outputs(stack)

    def destroy(self, stack, on_event):
        had = self._name(stack, "pool") in self.state.get(stack, [])
        super().destroy(stack, on_event)
        if had and self._name(stack, "pool") not in self.state.get(stack, []):
            self.pool_ops.append(("delete", self.nodes))
            self.nodes = 0
            self._usage()


class SizedReader(FakeClusterReader):
    def nodes(self) -> dict:
        self.faults.hit("reader.nodes")
        self.clock.sleep(1)
        self._reachable()
        n = self.backend.nodes  # type: ignore[attr-defined]
        return {"apiVersion": "v1", "kind": "List", "items": [
            {"metadata": {"name": f"node-{i}", "labels": {"stack": self.stack}},
             "status": {"nodeInfo": {"kubeletVersion": "v1.35.1-gke.1"}}} for i in range(n)]}


class SizedWorld(World):
    def reader_factory(self, outputs):
        if "kubeconfig" not in outputs:
            from study.lifecycle.interfaces import PermanentError

            msg = "no kubeconfig output: the cluster was never created"
            raise PermanentError(msg)
        return SizedReader(self.clock, self.backend, self.stack, self.faults)


def make_sized_world(stack: str, labels: dict[str, str], steps: list[FakeStep], start: float
                     ) -> SizedWorld:
    w = make_world(stack, labels, steps=steps, start=start)
    backend = SizedBackend(w.clock, w.cloud, w.faults, w.experiment, labels)
    w.inventory.cloud = w.cloud
    return SizedWorld(w.clock, w.cloud, w.faults, w.experiment, backend, w.inventory, w.signals,
                      w.writer, stack)
