"""Every operator version and every image the harness itself runs, pinned in one place.

Why one module: a study is only reproducible if the controllers and helper images under it do not
move. Upstream dist manifests use `:latest`; `infra.operators.manifests` replaces those references
with the pins below, and `study plan` errors on any image that is neither digest-pinned in the
image lock (`infra/image_lock.json`) nor a released tag of an official registry
(`core.image_lock.image_pin_problems`).

How each pin was checked against its upstream release process (read with git at the tag):
- flux-operator: `.github/workflows/release.yaml` (workflow_dispatch) pushes
  `ghcr.io/flux-framework/flux-operator:v<tag>`; `build-deploy.yaml` pushes main builds only as
  `:latest`. The last release is 0.2.1 (2024-08-15), whose MiniCluster has no `flux.topology`;
  that field arrived in main 1f686fea ("add support for custom topology", 2024-11-04) and no
  release has followed. So the pin is the `:latest` build of 1f686fea by digest. The seed studies
  ran exactly this image on 2024-11-10: the kubelet's `Successfully pulled image` event for
  `ghcr.io/flux-framework/flux-operator:latest@sha256:0f61b69f...` is in
  ../shared/data/operator-experiments/pulling/.../without-streaming/4/events-size-4-*.json; and
  no commit landed on main between 2024-11-04 and 2025-03-03, so that `:latest` was 1f686fea.
- metrics-operator: the same release workflow pushes `...metrics-operator:v<tag>`; release
  0.1.13-1 (8835f15, 2023-11-26) is the parent of main 8f15755, which only adds the `custom` app
  metric; `network-osu-benchmark` and the MetricSet's `serviceName` and metric `image` are the
  same, so the released build is pinned.
- JobSet: kubernetes-sigs/jobset releases push `registry.k8s.io/jobset/jobset:<tag>` (Makefile
  `IMAGE_REGISTRY`, the rendered manifest names it).
- event exporter: resmoio/kubernetes-event-exporter `.github/workflows/release.yml` at v1.7
  (2024-02-23) pushes `ghcr.io/resmoio/kubernetes-event-exporter:<release tag>` when a release is
  published (docker/metadata-action defaults); v1.7 is the last tag, and later master builds go
  to the company's private registries only.
- gcrane: google/go-containerregistry `cloudbuild.yaml` at v0.20.2 (2024-08-06) builds
  `gcr.io/go-containerregistry/gcrane` tagged with the release tag (ko); releases after it also
  push to ghcr.io/google/go-containerregistry (`release-container.yml`, added 2024-08-15).
- helper images: Docker official images, pulled from ECR Public's mirror of them
  (`public.ecr.aws/docker/library/...`, every tag of the official images) rather than Docker Hub,
  whose anonymous pulls are limited per address and every EKS node pulls through one NAT address.
  mirror.gcr.io was not chosen: it caches only frequently pulled images (Artifact Registry docs,
  "Pull cached Docker Hub images"), so a given tag may be missing. ECR Public's one documented
  anonymous limit is 500 GB of data a month (Amazon ECR Public service quotas), far above what the
  helper images of a study transfer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    digest: str | None = None  # "sha256:..." when known; then the reference is immutable

    @property
    def ref(self) -> str:
        base = f"{self.repository}:{self.tag}"
        return f"{base}@{self.digest}" if self.digest else base


@dataclass(frozen=True)
class Operator:
    name: str  # the stack's `study:operators` entry
    version: str  # upstream tag or commit the manifest was taken from
    manifest: str  # path under infra/operators/manifests
    controller: Image | None  # replaces the manifest's controller image


# flux-operator main @1f686fea (2024-11-04): the first commit with `flux.topology`, as run by the
# seed studies (see the module docstring for why no release fits).
FLUX_OPERATOR = Operator(
    name="flux-operator",
    version="1f686feaa89caa8ce5a6cb8feb17673993b3e08f",
    manifest="flux-operator/flux-operator-1f686fe.yaml",
    controller=Image(
        "ghcr.io/flux-framework/flux-operator",
        "latest",
        "sha256:0f61b69f36cc28d4c6c38daef6b1b96eaf9f76ca37528950380f7372f25ef973",
    ),
)
# metrics-operator release 0.1.13-1 (8835f15); its kube-rbac-proxy sidecar is removed.
METRICS_OPERATOR = Operator(
    name="metrics-operator",
    version="0.1.13-1",
    manifest="metrics-operator/metrics-operator-0.1.13-1.yaml",
    controller=Image("ghcr.io/converged-computing/metrics-operator", "v0.1.13-1"),
)
# JobSet v0.12.0 (>= v0.8: no kube-rbac-proxy); the rendered manifest already names this image.
JOBSET = Operator(
    name="jobset",
    version="v0.12.0",
    manifest="jobset/jobset-v0.12.0.yaml",
    controller=Image("registry.k8s.io/jobset/jobset", "v0.12.0"),
)
# The event recorder has no upstream manifest: infra/operators/event_recorder.py renders it.
EVENT_RECORDER = Operator(
    name="event-recorder",
    version="v1.7",
    manifest="",
    controller=Image("ghcr.io/resmoio/kubernetes-event-exporter", "v1.7"),
)

OPERATORS: dict[str, Operator] = {
    op.name: op for op in (FLUX_OPERATOR, METRICS_OPERATOR, JOBSET, EVENT_RECORDER)
}

# Helper images the experiment steps run (never the studied images).
LIBRARY = "public.ecr.aws/docker/library"  # Docker official images without Docker Hub's limits
PYTHON = Image(f"{LIBRARY}/python", "3.12.7-slim-bookworm")  # step recorder, archive server
DEBIAN = Image(f"{LIBRARY}/debian", "12.7-slim")  # nsenter for the containerd cache clear
BUSYBOX = Image(f"{LIBRARY}/busybox", "1.36.1")  # results volume preparation
# Static build (docker-library/busybox musl variant sets CONFIG_STATIC=y; the default glibc
# variant is dynamic): the pre-pull step copies it into images that have no `true` or `sh`.
BUSYBOX_STATIC = Image(f"{LIBRARY}/busybox", "1.36.1-musl")
GCRANE = Image("gcr.io/go-containerregistry/gcrane", "v0.20.2")  # registry mirror (GCP keychain)
# The topology app image: bash, coreutils, curl; Ubuntu noble like the topology's flux view.
# buildpack-deps publishes only suite tags (no releases): the image lock pins it by digest.
TOPOLOGY_APP = Image(f"{LIBRARY}/buildpack-deps", "noble-curl")

# The clouds' own CLIs, which upload each step's results to the results bucket: Google's
# published Cloud SDK image (gcr.io/google.com/cloudsdktool, release tags `<version>-slim`) and
# AWS's on ECR Public (public.ecr.aws/aws-cli/aws-cli, release tags `2.x.y`).
GCLOUD = Image("gcr.io/google.com/cloudsdktool/google-cloud-cli", "502.0.0-slim")
AWS_CLI = Image("public.ecr.aws/aws-cli/aws-cli", "2.22.0")

HELPER_IMAGES = {"python": PYTHON, "debian": DEBIAN, "busybox": BUSYBOX, "gcrane": GCRANE}

