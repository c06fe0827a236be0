"""A member's node count reaches the Pulumi program as stack config and changes only the size of
the same node pool (node group): `pulumi up` updates it in place, it never replaces it.

Upstream behaviour this relies on, at the providers requirements.lock pins (pulumi-gcp 10.2.0,
pulumi-aws 7.51.1, which bridge them):
- hashicorp/terraform-provider-google, google/services/container/resource_container_node_pool.go:
  `node_count` is Optional and Computed, not ForceNew; `resourceContainerNodePoolUpdate` ->
  `nodePoolUpdate` calls the node pool's setSize when `d.HasChange("node_count")`;
- hashicorp/terraform-provider-aws, internal/service/eks/node_group.go: `scaling_config` is not
  ForceNew; `resourceNodeGroupUpdate` calls UpdateNodegroupConfig with the new scalingConfig
  when `d.HasChange("scaling_config")`.
So a change of those inputs alone, under the same resource name and without replaceOnChanges
on them, is an update. The mock engine shows what the program registers for each member.
"""

from __future__ import annotations

import json

import pytest

from core.overrides import OVERRIDES_ENV, to_environment
from core.stacks import project_dir, read_stack_config
from study.mock_engine import run_program
from tests.conftest import NOW

POOL = {"gke-64-ghcr": ("gcp:container/nodePool:NodePool", "nodeCount"),
        "eks-16-pulling": ("aws:eks/nodeGroup:NodeGroup", "scalingConfig")}
CLUSTER = {"gke-64-ghcr": "gcp:container/cluster:Cluster",
           "eks-16-pulling": "aws:eks/cluster:Cluster"}


def render(stack: str, monkeypatch, nodes: int | None):
    """The program as a campaign member's `pulumi up` runs it: overrides in its environment."""
    if nodes is None:
        monkeypatch.delenv(OVERRIDES_ENV, raising=False)
    else:
        monkeypatch.setenv(OVERRIDES_ENV, to_environment(
            {"study:cluster": {"node_count": nodes}})[OVERRIDES_ENV])
    run = run_program(stack, read_stack_config(stack), project_dir() / "__main__.py", now=NOW)
    assert run.error is None, run.error
    return run.resources


def one(resources, type_: str):
    found = [r for r in resources if r.type == type_]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


@pytest.mark.parametrize("stack", sorted(POOL))
def test_a_new_node_count_changes_only_the_pools_size(stack, monkeypatch):
    small, big = render(stack, monkeypatch, 4), render(stack, monkeypatch, 8)
    type_, key = POOL[stack]
    a, b = one(small, type_), one(big, type_)
    assert a.name == b.name  # the same resource (URN): an update, not a delete and create
    changed = {k for k in set(a.inputs) | set(b.inputs) if a.inputs.get(k) != b.inputs.get(k)}
    assert changed == {key}
    if key == "nodeCount":
        assert (a.inputs["nodeCount"], b.inputs["nodeCount"]) == (4, 8)
    else:
        assert (a.inputs[key]["desiredSize"], b.inputs[key]["desiredSize"]) == (4, 8)
    assert key not in (b.options.get("replaceOnChanges") or [])
    assert key not in (b.options.get("ignoreChanges") or [])
    assert not b.options.get("deleteBeforeReplace")
    # the cluster around the pool is the same cluster
    assert one(small, CLUSTER[stack]).inputs == one(big, CLUSTER[stack]).inputs


def test_the_program_reads_the_members_node_count_from_its_environment(monkeypatch):
    base = read_stack_config("gke-64-ghcr")
    assert json.loads(base["study:cluster"])["node_count"] == 64
    pool = one(render("gke-64-ghcr", monkeypatch, 16), "gcp:container/nodePool:NodePool")
    assert pool.inputs["nodeCount"] == 16
    plain = one(render("gke-64-ghcr", monkeypatch, None), "gcp:container/nodePool:NodePool")
    assert plain.inputs["nodeCount"] == 64
