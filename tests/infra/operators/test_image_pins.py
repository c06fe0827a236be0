"""Controller and helper pins that exist, the image-pinned rule, and rendering by digest.

Upstream, read with git at the versions pinned (fetched repositories):
- flux-framework/flux-operator `.github/workflows/release.yaml` (workflow_dispatch: pushes
  `ghcr.io/flux-framework/flux-operator:v<tag>`) and `build-deploy.yaml` (push to main: `make
  docker-push` with `IMG ?= ...:latest` only); tags end at 0.2.1 (2024-08-15); `flux.topology`
  arrives in 1f686fea ("add support for custom topology", 2024-11-04); api/v1alpha2/minicluster_types.go @1f686fea defaults
  the flux view to `ghcr.io/converged-computing/flux-view-rocky:tag-9` and a container image to
  `ghcr.io/rse-ops/accounting:app-latest`.
- converged-computing/metrics-operator `.github/workflows/release.yaml` @0.1.13-1 (pushes
  `...metrics-operator:v<tag>`); pkg/metrics/network/osu-benchmark.go @0.1.13-1 (`OSUContainer =
  ghcr.io/converged-computing/metric-osu-benchmark:latest`).
- the seed's events (../shared/data/operator-experiments/pulling/experiments/pulling/metadata/
  without-streaming/4/events-size-4-1731262749.json): the kubelet pulled
  `ghcr.io/flux-framework/flux-operator:latest@sha256:0f61b69f...` on 2024-11-10.
"""

from __future__ import annotations

import copy

import pytest

from core import image_lock, versions
from core.image_lock import DEFAULTS, ImageLock, LockEntry, image_pin_problems, pin_object
from infra.operators import manifests

DIGEST = "sha256:" + "ab" * 32
SEED_FLUX_OPERATOR = "sha256:0f61b69f36cc28d4c6c38daef6b1b96eaf9f76ca37528950380f7372f25ef973"


def pod(*images: str, kind: str = "Job") -> dict:
    return {"kind": kind, "metadata": {"name": "x"}, "spec": {"template": {"spec": {
        "containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)]}}}}


def locked(ref: str) -> ImageLock:
    return ImageLock({ref: LockEntry(DIGEST, "2026-12-01T00:00:00Z", ("s",))})


class TestControllerPins:
    """No controller is pinned to a tag upstream never publishes (main-<sha>)."""

    def test_flux_operator_is_the_digest_the_seed_ran(self):
        c = versions.FLUX_OPERATOR.controller
        assert c is not None
        assert (c.repository, c.digest) == ("ghcr.io/flux-framework/flux-operator",
                                            SEED_FLUX_OPERATOR)
        assert versions.FLUX_OPERATOR.version.startswith("1f686fea")

    def test_flux_operator_manifest_has_topology(self):
        crd = next(o for o in manifests.install_objects("flux-operator")
                   if o["kind"] == "CustomResourceDefinition")
        flux = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
            "properties"]["flux"]["properties"]
        assert "topology" in flux

    def test_metrics_operator_is_its_release_image(self):
        c = versions.METRICS_OPERATOR.controller
        assert c is not None and c.ref == "ghcr.io/converged-computing/metrics-operator:v0.1.13-1"

    @pytest.mark.parametrize("name", sorted(versions.OPERATORS))
    def test_every_controller_passes_the_pin_rule(self, name):
        objs = manifests.install_objects(name) or [pod(versions.OPERATORS[name].controller.ref)]
        assert image_pin_problems(objs, ImageLock()) == []

    def test_rendered_controller_is_by_digest(self):
        dep = next(o for o in manifests.install_objects("flux-operator")
                   if o["kind"] == "Deployment")
        images = [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]]
        assert images == [f"ghcr.io/flux-framework/flux-operator:latest@{SEED_FLUX_OPERATOR}"]


class TestHelperImages:
    """Helper images come from ECR Public's copy of the Docker official images, not Docker Hub
    (anonymous pulls limited per address; every EKS node pulls through one NAT address)."""

    def test_no_helper_image_pulls_from_docker_hub(self):
        helpers = [versions.PYTHON, versions.DEBIAN, versions.BUSYBOX, versions.BUSYBOX_STATIC,
                   versions.TOPOLOGY_APP]
        assert all(h.repository.startswith("public.ecr.aws/docker/library/") for h in helpers)

    def test_released_helper_tags_pass_the_rule(self):
        refs = [versions.PYTHON.ref, versions.DEBIAN.ref, versions.BUSYBOX.ref, versions.GCRANE.ref]
        assert image_pin_problems([pod(*refs)], ImageLock()) == []


class TestPinRule:
    """An image passes only if digest-pinned (in the ref or the lock), a released tag of an
    official registry, or a studied chonk image by its content tag."""

    @pytest.mark.parametrize("ref", [
        "registry.k8s.io/jobset/jobset:v0.12.0",
        "ghcr.io/resmoio/kubernetes-event-exporter:v1.7",
        "public.ecr.aws/docker/library/python:3.12.7-slim-bookworm",
        "debian:12.7-slim",  # docker.io/library: official, though the helper rule objects
        f"quay.io/x/y@{DIGEST}",
        # Amazon EKS's add-on registry (user guide, "Amazon container image registries"): EFA
        "602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/aws-efa-k8s-device-plugin:v0.5.8",
    ])
    def test_accepted(self, ref):
        assert image_pin_problems([pod(ref)], ImageLock()) == []

    @pytest.mark.parametrize(("ref", "why"), [
        ("ghcr.io/converged-computing/container-chonks-run1:9-layers-size-66460665-bytes",
         "tag '9-layers-size-66460665-bytes' is not a released version tag"),
        ("us-central1-docker.pkg.dev/p/r/container-chonks-run1:9-layers-size-66460665-bytes",
         "'us-central1-docker.pkg.dev' is not an official registry"),
    ])
    def test_a_studied_chonk_goes_by_its_content_tag_and_nothing_else_does(self, ref, why):
        """Only the pulling study's own images (its recorders' expectations) are exempt: any
        other object naming a container-chonks repository is judged like every image."""
        assert image_pin_problems([pod(ref)], ImageLock(), studied={ref}) == []
        assert image_pin_problems([pod(ref)], ImageLock()) == [
            f"'{ref}' (run by Job/x): {why} and the lock has no digest for it; run "
            "`study images lock STACK` and commit infra/image_lock.json, or use a released tag"
        ]

    @pytest.mark.parametrize(("ref", "why"), [
        ("ghcr.io/flux-framework/flux-operator:main-0d75cef", "tag 'main-0d75cef' is not a released version tag"),
        ("ghcr.io/converged-computing/metric-osu-benchmark:latest", "tag 'latest' is not a released version tag"),
        ("ghcr.io/converged-computing/metric-osu-benchmark", "tag 'latest' is not a released version tag"),
        ("ghcr.io/converged-computing/flux-view-ubuntu:tag-noble", "tag 'tag-noble' is not a released version tag"),
        ("ghcr.io/x/y:1.2.3-dev", "tag '1.2.3-dev' is not a released version tag"),
        ("ghcr.io/x/chonk:9-layers-size-1-bytes", "tag '9-layers-size-1-bytes' is not a released version tag"),
        ("someone/tool:1.2.3", "'docker.io' is not an official registry"),
        ("example.com/tool:1.2.3", "'example.com' is not an official registry"),
        ("123456789012.dkr.ecr.us-west-2.amazonaws.com/eks/plugin:v0.5.8",
         "'123456789012.dkr.ecr.us-west-2.amazonaws.com' is not an official registry"),
    ])
    def test_refused_with_the_reason(self, ref, why):
        assert image_pin_problems([pod(ref)], ImageLock()) == [
            f"'{ref}' (run by Job/x): {why} and the lock has no digest for it; run "
            "`study images lock STACK` and commit infra/image_lock.json, or use a released tag"
        ]

    def test_a_locked_moving_tag_passes(self):
        ref = "ghcr.io/converged-computing/flux-view-ubuntu:tag-noble"
        assert image_pin_problems([pod(ref)], locked(ref)) == []

    def test_one_line_per_image_counting_its_users(self):
        ref = "ghcr.io/x/y:latest"
        objs = [pod(ref), {**pod(ref), "metadata": {"name": "z"}}]
        (line,) = image_pin_problems(objs, ImageLock())
        assert line.startswith(f"'{ref}' (run by Job/x and 1 more): ")

    def test_operator_defaults_count_when_the_object_leaves_them_unset(self):
        mc = {"kind": "MiniCluster", "metadata": {"name": "m"},
              "spec": {"containers": [{"image": "ghcr.io/x/app:1.0.0"}]}}
        ms = {"kind": "MetricSet", "metadata": {"name": "o"},
              "spec": {"metrics": [{"name": "network-osu-benchmark"}]}}
        lines = image_pin_problems([mc, ms], ImageLock())
        assert [ln.split(":", 1)[0] for ln in lines] == [
            f"'{DEFAULTS['flux-view'].split(':')[0]}",
            f"'{DEFAULTS['network-osu-benchmark'].split(':')[0]}",
        ]
        assert all("an operator default: set the image explicitly" in ln for ln in lines)

    def test_a_disabled_flux_view_is_not_an_image(self):
        mc = {"kind": "MiniCluster", "metadata": {"name": "m"}, "spec": {
            "containers": [{"image": "ghcr.io/x/app:1.0.0"}],
            "flux": {"container": {"disable": True}}}}
        assert image_pin_problems([mc], ImageLock()) == []


class TestRenderByDigest:
    """Every image the lock knows is rendered `name:tag@digest`, in every object kind."""

    def test_pin_object_rewrites_pods_miniclusters_and_metricsets(self):
        ref = "ghcr.io/x/y:tag-noble"
        objs = [
            pod(ref, kind="Job"),
            {"kind": "JobSet", "spec": {"replicatedJobs": [{"template": {"spec": {"template": {
                "spec": {"initContainers": [{"name": "i", "image": ref}]}}}}}]}},
            {"kind": "MiniCluster", "spec": {"containers": [{"image": ref}],
                                             "flux": {"container": {"image": ref}}}},
            {"kind": "MetricSet", "spec": {"metrics": [{"name": "n", "image": ref}]}},
        ]
        pinned = [pin_object(copy.deepcopy(o), locked(ref)) for o in objs]
        assert [ref for o in pinned for _, _, ref in image_lock.image_slots(o)] == [
            f"{ref}@{DIGEST}"] * 5

    def test_the_plan_renders_locked_images_by_digest(self, monkeypatch):
        from study.plan import make_plan

        ref = versions.PYTHON.ref
        monkeypatch.setattr(image_lock, "committed", lambda: locked(ref))
        plan = make_plan("gke-4-nightly")
        rendered = image_lock.images_of(plan.manifests)
        assert f"{ref}@{DIGEST}" in rendered
        assert ref not in rendered

    def test_the_committed_lock_parses(self):
        assert isinstance(image_lock.load(), ImageLock)


class TestFluxOperatorAtThePin:
    """flux-operator @1f686fea defaults `network.headlessName` to one shared `flux-service`
    (api/v1alpha2/minicluster_types.go `+kubebuilder:default`, removed upstream in 6d5e432a
    "race condition for service name", 2025-09-29) and creates it only when missing, so every
    rendered MiniCluster names its own."""

    def test_the_pinned_crd_defaults_to_a_shared_service(self):
        crd = next(o for o in manifests.install_objects("flux-operator")
                   if o["kind"] == "CustomResourceDefinition")
        net = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
            "properties"]["network"]["properties"]
        assert net["headlessName"]["default"] == "flux-service"

    def test_every_minicluster_names_its_own_headless_service(self):
        from study.plan import make_plan

        mcs = [o for o in make_plan("gke-6-topology").manifests if o["kind"] == "MiniCluster"]
        names = [o["spec"]["network"]["headlessName"] for o in mcs]
        assert len(mcs) > 1
        assert names == [o["metadata"]["name"] for o in mcs]
