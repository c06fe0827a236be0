"""The step chain's dependency graph under the Pulumi SDK's mock engine: which resource waits for
which, so preparation runs beside the operators and each upload beside the next step's start.

"Waits for" is a resource's dependencies and its parent's, transitively: a child's registration
needs its parent's URN, which the engine returns only once the parent's own dependencies are done.
"""

from __future__ import annotations

import json

import pytest

from core import layout
from infra.operators.install import TYPE_TOKENS
from study.mock_engine import run_program
from tests.conftest import ROOT, config_of, stack_yaml

# Preparation steps of each stack, in run order, and the ones each needs.
PREPARATION = {
    "seed-pulling-run4-16": {"prepull": [], "mirror-images": [], "prime-images": ["mirror-images"]},
    "gke-64-artifact-registry": {"prepull": [], "mirror-images": []},
    "gke-6-topology": {"prepull": []},
    "gke-64-osu": {"prepull": []},
}


class Graph:
    """The recorded resources of one program run, with what each waits for."""

    def __init__(self, stack: str):
        out = run_program(stack, config_of(stack_yaml(stack)), ROOT / "__main__.py")
        assert out.error is None, out.error
        self.exports = out.exports
        self.resources = [r for r in out.resources if "urn" in r.options]
        self.by_urn = {r.options["urn"]: r for r in self.resources}
        self._closure: dict[str, frozenset[str]] = {}

    def waits_for(self, r) -> frozenset[str]:
        """URNs `r` waits for: its dependencies and its parent, and theirs."""
        urn = r.options["urn"]
        if urn not in self._closure:
            seen: set[str] = set()
            todo = [*r.options["dependencies"], r.options.get("parent") or ""]
            while todo:
                u = todo.pop()
                if u in seen or u not in self.by_urn:
                    continue
                seen.add(u)
                o = self.by_urn[u].options
                todo += [*o["dependencies"], o.get("parent") or ""]
            self._closure[urn] = frozenset(seen)
        return self._closure[urn]

    def k8s(self, kind: str, name: str):
        [r] = [r for r in self.resources if r.type.endswith(f":{kind}")
               and (r.inputs.get("metadata") or {}).get("name") == name]
        return r

    def of_step(self, step: str, role: str | None = None) -> list:
        """The step's own objects (its recorder's too when `role` is "recorder")."""
        out = []
        for r in self.resources:
            labels = ((r.inputs.get("metadata") or {}).get("labels") or {})
            if labels.get(layout.LABEL_STEP) != step:
                continue
            is_rec = labels.get(layout.LABEL_ROLE) == "recorder"
            if (role == "recorder") == is_rec:
                out.append(r)
        return out

    def operators(self) -> set[str]:
        """Every resource of an operator's installation (the components and their children)."""
        def of_operator(urn: str) -> bool:
            chain = urn.split("::")[2].split("$")
            return any(tok in chain for tok in TYPE_TOKENS.values())
        return {u for u in self.by_urn if of_operator(u)}

    def event_recorder(self):
        [r] = [r for r in self.resources if r.type == "kubernetes:apps/v1:Deployment"
               and "study:infra:EventRecorder" in r.options["urn"]]
        return r

    def only(self, type_: str, name_contains: str = ""):
        [r] = [r for r in self.resources if r.type == type_ and name_contains in r.name]
        return r


@pytest.fixture(scope="module")
def graphs():
    cache: dict[str, Graph] = {}

    def get(stack: str) -> Graph:
        if stack not in cache:
            cache[stack] = Graph(stack)
        return cache[stack]

    return get


def _preparation(g: Graph) -> list[str]:
    return [s["name"] for s in g.exports["experiment"]["steps"] if s["preparation"]]


@pytest.mark.parametrize("stack", sorted(PREPARATION))
def test_preparation_steps_are_marked_on_the_step(graphs, stack):
    """The component reads `Step.preparation`, set by the kinds (pre-pull, mirror, prime)."""
    g = graphs(stack)
    assert _preparation(g) == list(PREPARATION[stack])
    steps = g.exports["steps"]
    # Before anything measured.
    assert steps[:len(PREPARATION[stack])] == list(PREPARATION[stack])


@pytest.mark.parametrize("stack", sorted(PREPARATION))
def test_preparation_workloads_run_beside_the_operators(graphs, stack):
    """A preparation step's workload waits for the namespace and the nodes held at size (and an
    Artifact Registry stack's repository), never for an operator; a measured step's workload and
    every recorder wait for the event recorder, which holds the results volume.

    Why creating them beside the operators is safe: pulumi-kubernetes awaits each object in its
    own Create call (pulumi/pulumi-kubernetes provider/pkg/await/await.go, read at the snapshot
    after v4.32.0; the lock pins 4.34.2): a DaemonSet until kstatus calls it Current, a Job until
    its `Complete` condition (provider/pkg/await/job.go, checker/job/check.go `jobComplete`; a
    `Failed` condition with reason BackoffLimitExceeded or DeadlineExceeded ends the await with
    an error), each watched through the namespace's shared informer factory
    (`c.Factories.ForNamespace`), so an object awaited while the operators' Deployments are
    still being awaited is awaited on its own, and nothing waits for it but what depends on it.
    `pulumi.com/skipAwait` skips that await (await.go `metadata.SkipAwaitLogic`): the
    preparation workloads do not carry it, so what needs one needs it finished.
    """
    g = graphs(stack)
    ops = g.operators()
    assert ops, "the stack installs operators"
    namespace = g.k8s("Namespace", layout.NAMESPACE).options["urn"]
    nodes = g.only("pulumi-python:dynamic:Resource", "node-size").options["urn"]
    repo = [r.options["urn"] for r in g.resources
            if r.type == "gcp:artifactregistry/repository:Repository"]
    recorder = g.event_recorder().options["urn"]
    for step in g.exports["steps"]:
        work = g.of_step(step)
        assert work, step
        for r in work:
            waits = g.waits_for(r)
            assert {namespace, nodes, *repo} <= waits, (step, r.name)
            if step in PREPARATION[stack]:
                assert not (waits & ops), (step, r.name, sorted(waits & ops))
                assert "pulumi.com/skipAwait" not in (r.inputs["metadata"].get("annotations")
                                                      or {})
            else:
                assert recorder in waits, (step, r.name)
        [rec] = g.of_step(step, "recorder")
        rec_waits = g.waits_for(rec)
        assert recorder in rec_waits
        assert {r.options["urn"] for r in work} <= rec_waits


def test_priming_waits_for_the_mirror_copies(graphs):
    """Prime pulls the stack's own copies: its Job waits for the mirror's Job (awaited until
    Complete), while the pre-pull, which pulls no copy, waits for neither."""
    g = graphs("seed-pulling-run4-16")
    mirror = g.k8s("Job", "mirror-images").options["urn"]
    prime = g.k8s("Job", "prime-images")
    assert mirror in g.waits_for(prime)
    prepull = g.k8s("DaemonSet", "prepull")
    assert mirror not in g.waits_for(prepull)
    assert prime.options["urn"] not in g.waits_for(g.k8s("Job", "mirror-images"))


@pytest.mark.parametrize("stack", ["seed-pulling-run4-16", "gke-6-topology", "gke-64-osu"])
def test_uploads_run_beside_the_next_step(graphs, stack):
    """Step i+1's workload waits for step i's recorder, not its upload; step i+1's recorder
    (and so step i+2) waits for step i's upload; the preparation steps' recorders run side by
    side (none waits for another's recorder or upload), and the first measured step waits for
    all of them and its recorder for all their uploads; the last upload waits for the last
    recorder and is a Job Pulumi awaits, so `up` returns once it is done. Names come from step
    names alone."""
    g = graphs(stack)
    steps = g.exports["steps"]
    prep = list(PREPARATION[stack])
    measured = [s for s in steps if s not in prep]
    assert steps == prep + measured
    uploads = {s: g.k8s("Job", f"upload-{s}") for s in steps}
    recs = {s: g.k8s("Job", f"rec-{s}") for s in steps}
    for step in prep:
        others = {x.options["urn"] for p in prep if p != step for x in (recs[p], uploads[p])}
        assert not others & g.waits_for(recs[step]), step
    first = measured[0]
    for p in prep:
        assert uploads[p].options["urn"] in recs[first].options["dependencies"], p
        for r in g.of_step(first):
            assert recs[p].options["urn"] in g.waits_for(r), (first, r.name)
            assert uploads[p].options["urn"] not in g.waits_for(r), (first, r.name)
    for prev, step in zip(measured, measured[1:], strict=False):
        up = uploads[prev].options["urn"]
        assert up in recs[step].options["dependencies"], step
        for r in g.of_step(step):
            assert recs[prev].options["urn"] in g.waits_for(r), (step, r.name)
            assert up not in g.waits_for(r), (step, r.name)
    last = steps[-1]
    assert recs[last].options["urn"] in uploads[last].options["dependencies"]
    assert "pulumi.com/skipAwait" not in (uploads[last].inputs["metadata"].get("annotations")
                                          or {})
    # Nothing else in the experiment waits for the last upload: it is the end of the chain.
    assert not [r.name for r in g.resources
                if uploads[last].options["urn"] in r.options["dependencies"]]


def test_prepull_takes_the_uploaders_image(graphs):
    """The upload beside a measured step never pulls its CLI image cold on the results node:
    the pre-pull puts it on every node first."""
    from experiments.upload import uploader_image

    for stack, cloud in (("gke-6-topology", "gke"), ("seed-pulling-run4-16", "gke")):
        g = graphs(stack)
        ds = g.k8s("DaemonSet", "prepull")
        images = [c["image"] for c in ds.inputs["spec"]["template"]["spec"]["initContainers"]]
        upload = g.k8s("Job", "upload-prepull")
        [container] = upload.inputs["spec"]["template"]["spec"]["containers"]
        assert container["image"] in images
        assert uploader_image(cloud).split(":")[0] in container["image"]


def test_event_recorder_keeps_what_preparation_did_before_it_started():
    """Preparation pods start before the event recorder does, so their events must survive
    until it lists them.

    resmoio/kubernetes-event-exporter v1.7 pkg/kube/watcher.go: the exporter runs a client-go
    Event informer, whose initial List hands every Event the API server holds to `OnAdd`, and
    `isEventDiscarded` drops those whose lastTimestamp (or eventTime) is older than
    `maxEventAgeSeconds` (pkg/exporter/config.go `validateMaxEventAgeSeconds`: 5 s when unset).
    The API server keeps Events for `--event-ttl`, 1 h by default (kubernetes/kubernetes
    cmd/kube-apiserver/app/options/options.go `NewServerRunOptions`: `EventTTL: 1 * time.Hour`,
    "Amount of time to retain events. Default is 1h."). So a preparation event is recorded when
    it is younger than both when the recorder starts: the operators' phase at most, since the
    event recorder is the last operator installed and preparation starts when that phase does.
    """
    from infra.operators.event_recorder import exporter_config
    from infra.provisioning import table

    max_age = json.loads(exporter_config())["maxEventAgeSeconds"]
    event_ttl = 3600
    longest = max(table()[cloud]["operators"]["base_s"] for cloud in ("gke", "eks"))
    assert longest < max_age <= event_ttl


def test_a_resumed_run_whose_mirror_finished_primes_at_once(monkeypatch):
    """Resume renders only the unfinished steps: prime, whose mirror a collected run already
    finished, waits for no mirror (there is none in this update) and still for no operator."""
    from core.layout import RESUME_ENV

    monkeypatch.setenv(RESUME_ENV, "mirror-images")
    g = Graph("seed-pulling-run4-16")
    assert "mirror-images" in g.exports["skipped_steps"]
    assert not [r for r in g.resources if (r.inputs.get("metadata") or {}).get("name")
                in ("mirror-images", "rec-mirror-images", "upload-mirror-images")]
    prime = g.k8s("Job", "prime-images")
    assert not (g.waits_for(prime) & g.operators())
    assert g.k8s("Namespace", layout.NAMESPACE).options["urn"] in g.waits_for(prime)
    # The first measured step's recorder waits for both preparation uploads left.
    first = next(s for s in g.exports["steps"] if s not in PREPARATION["seed-pulling-run4-16"])
    deps = g.k8s("Job", f"rec-{first}").options["dependencies"]
    for step in ("prepull", "prime-images"):
        assert g.k8s("Job", f"upload-{step}").options["urn"] in deps, step


def test_a_prepull_of_the_mirrors_copies_needs_the_mirror():
    """An apps study that pre-pulls its app images from the stack's Artifact Registry pulls the
    mirror's copies: its pre-pull comes right after the mirror and needs it; without those
    images it needs nothing and comes first."""
    from experiments.base import ClusterFacts
    from experiments.pernode import PREPULL_STEP, with_prepull
    from experiments.registry import get_kind

    kind = get_kind("apps")
    cluster = ClusterFacts("gke", 4, "c2d-standard-56", 28,
                           "us-central1-docker.pkg.dev/study-harness-sandbox/apps")
    for prepull_apps, order, needs in ((True, ["mirror-images", PREPULL_STEP], ("mirror-images",)),
                                       (False, [PREPULL_STEP, "mirror-images"], ())):
        params = kind.Params.model_validate({"apps": ["lammps"], "node_counts": [4],
                                             "prepull_app_images": prepull_apps})
        steps = with_prepull(kind, params, cluster, kind.steps(params, cluster))
        assert [s.name for s in steps[:2]] == order
        prepull = next(s for s in steps if s.name == PREPULL_STEP)
        assert prepull.preparation and prepull.needs == needs
        mirror = next(s for s in steps if s.name == "mirror-images")
        copies = {dst for _, dst in mirror.params["copies"]}
        assert bool(copies & set(prepull.params["images"])) == prepull_apps
