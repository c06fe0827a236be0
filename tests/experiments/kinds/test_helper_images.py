"""`helper_images` names every image a kind's step pods run, including what operators inject.

Read upstream: flux-operator's MiniCluster pods run each `containers[].image` plus the flux view
init container `spec.flux.container.image` (controllers/flux/containers.go `getFluxContainer`),
whose default is a CRD default that differs by version (api/v1alpha2/minicluster_types.go:
rocky:tag-9 at 1f686fe and 0.2.1, ubuntu:tag-noble at 0d75cef), so the kinds set it explicitly.
The metrics-operator's OSU pods run `OSUContainer` unless the metric names an `image`
(pkg/metrics/network/osu-benchmark.go and pkg/metrics/metrics.go at 8f15755).
"""

from __future__ import annotations

import pytest

from experiments.base import ClusterFacts, RenderContext
from experiments.kinds import apps, topology


def facts(**kw) -> ClusterFacts:
    base = dict(cloud="gke", node_count=6, machine_type="c2d-standard-32", vcpus_per_node=8,
                image_registry="ghcr.io")
    return ClusterFacts(**{**base, **kw})


def pod_images(kind, params, cluster) -> set[str]:
    """Images of every MiniCluster the kind renders: app containers and the flux view."""
    ctx = RenderContext("s", "study-harness", cluster, {"study-harness.io/stack": "s"})
    out: set[str] = set()
    for step in kind.steps(params, cluster):
        if step.name in ("mirror-images", "prepull"):
            continue
        spec = kind.render(step, params, ctx, None).resources[0]["spec"]
        out |= {c["image"] for c in spec["containers"]} | {spec["flux"]["container"]["image"]}
    return out


@pytest.fixture(autouse=True)
def _plain_objects(monkeypatch):
    import core.k8s
    import experiments.component  # noqa: F401  (binds the real `create` before the patch)

    monkeypatch.setattr(core.k8s, "create", lambda obj, opts, name=None: obj)


def test_topology_lists_what_its_pods_run():
    from core.versions import TOPOLOGY_APP

    kind = topology.Topology()
    params = topology.TopologyParams(max_k=2, sizes_gb=[1.0])
    images = kind.helper_images(params, facts())
    assert images == [TOPOLOGY_APP.ref, topology.FLUX_VIEW]
    assert pod_images(kind, params, facts()) == set(images)


def test_topology_app_image_override():
    kind = topology.Topology()
    params = topology.TopologyParams(max_k=1, image="ghcr.io/acme/tools:1.0")
    assert kind.helper_images(params, facts())[0] == "ghcr.io/acme/tools:1.0"
    assert pod_images(kind, params, facts()) == {"ghcr.io/acme/tools:1.0", topology.FLUX_VIEW}


def test_flux_view_matches_the_app_images_os():
    """The view brings Flux built against its own OS; the operator only copies it into the app
    container (flux-operator @1f686fea pkg/flux/templates/components.sh, `wait-view`), so the
    view and the default app image are the same Ubuntu release."""
    from core.versions import TOPOLOGY_APP

    assert topology.FLUX_VIEW.endswith("flux-view-ubuntu:tag-noble")
    assert TOPOLOGY_APP.tag.split("-")[0] == topology.FLUX_VIEW.rsplit("tag-", 1)[1]


def test_apps_prepull_only_the_flux_view_by_default():
    """The app images are the streaming study's subject: their first pulls stay in the steps."""
    kind = apps.Apps()
    params = kind.Params(apps=["lammps"], node_counts=[4])
    assert kind.helper_images(params, facts()) == [apps.catalogue()["flux_view"]]


def test_apps_list_the_images_as_steps_reference_them():
    """On an Artifact Registry stack the steps run the mirrored copies: those are pre-pulled."""
    ar = "us-central1-docker.pkg.dev/p/apps"
    cluster = facts(node_count=8, image_registry=ar)
    kind = apps.Apps()
    params = kind.Params(apps=["lammps", "minife"], node_counts=[4, 8], prepull_app_images=True)
    images = kind.helper_images(params, cluster)
    assert images == [f"{ar}/ensemble-lammps:spack-skylake", f"{ar}/ensemble-minife:spack-skylake",
                      apps.catalogue()["flux_view"]]
    assert pod_images(kind, params, cluster) == set(images)
