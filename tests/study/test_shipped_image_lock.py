"""The shipped stacks against the committed image lock, as it is in the repository.

`infra/image_lock.json` is filled by `study images lock STACK`, which needs the network and
registry credentials. Until it has run, the stacks whose images have no released tag fail the
plan's image-pinned rule, and on nothing else; the pulling stacks (studied chonk images by content
tag, helper images by released tag) plan cleanly. This test pins that state so that a stack
change that adds another unpinnable image, or a lock commit, shows up here.
"""

from __future__ import annotations

import re

import pytest

from core.stacks import stack_names
from study.plan import make_plan
from tests.conftest import UNLOCKED_SHIPPED_IMAGES

PINNED = re.compile(r"^rule image-pinned: '([^']+)' ")


def unpinned_refs(stack: str) -> tuple[list[str], list[str]]:
    """(images named by image-pinned violations, every other violation) of the stack's plan."""
    refs, other = [], []
    for v in make_plan(stack).violations:
        m = PINNED.match(v)
        (refs if m else other).append(m.group(1) if m else v)
    return refs, other


@pytest.mark.parametrize("stack", ["gke-64-localssd", "eks-16-pulling", "gke-64-streaming"])
def test_pulling_stacks_plan_cleanly_without_a_resolved_lock(stack):
    assert make_plan(stack).violations == []


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("gke-6-topology", {"ghcr.io/converged-computing/flux-view-ubuntu:tag-noble",
                            "public.ecr.aws/docker/library/buildpack-deps:noble-curl"}),
        ("gke-64-osu", {"ghcr.io/converged-computing/metric-osu-benchmark:latest"}),
        ("gke-64-apps", {r for r in UNLOCKED_SHIPPED_IMAGES if "study-harness-sandbox" in r}
         | {"ghcr.io/converged-computing/flux-view-ubuntu:tag-jammy"}),
    ],
)
def test_other_stacks_fail_only_on_their_unlocked_images(stack, expected):
    refs, other = unpinned_refs(stack)
    assert other == []
    assert set(refs) == expected


def test_every_unlocked_image_is_used_by_a_shipped_stack():
    """The list the `locked_images` fixture locks is exactly what the shipped stacks need."""
    from core.image_lock import committed, images_of, why_unpinned
    from policy.cloud_rules import studied_images

    needed: set[str] = set()
    for stack in stack_names():
        objs = make_plan(stack).manifests
        studied = studied_images(objs)
        needed |= {r for r in images_of(objs) if why_unpinned(r, committed(), studied)}
    assert needed == set(UNLOCKED_SHIPPED_IMAGES)
