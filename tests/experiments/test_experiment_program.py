"""The whole program under the mock engine: what `pulumi up` would create, in what order.

Invariants: every stack plans cleanly against real schemas; steps are chained one at a time;
names are deterministic (resume); pull Jobs place one pod per node after a verified cache clear;
deadlines reach the workload, the recorder and Pulumi's timeout; the plan does not grow with N.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core import layout
from core.stacks import stack_names
from study.mock_engine import run_program
from tests.conftest import NOW, ROOT, config_of, sections, stack_yaml

STACKS = [s for s in stack_names(ROOT) if "study:experiment" in stack_yaml(s)["config"]]


def spec_and_steps(stack: str):
    from infra.estimate import experiment_steps
    from infra.spec import load_spec

    spec = load_spec(config_of(stack_yaml(stack)))
    return spec, experiment_steps(spec)


# When the mock engine "creates" the stacks of this module: the expiry stamp's base.
CREATED = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def recorded():
    """run(stack) -> (resources, creates): every create() call with its options."""
    import core.k8s as k8s_mod
    import experiments.component as component

    cache: dict[str, tuple] = {}

    def run(stack: str):
        if stack in cache:
            return cache[stack]
        calls: list[dict] = []
        real = k8s_mod.create

        def spy(obj, opts, name=None):
            res = real(obj, opts, name)
            calls.append({
                "obj": obj,
                "name": res._name,
                "depends_on": [d._name for d in (opts.depends_on or [])],
                "timeout": opts.custom_timeouts.create if opts.custom_timeouts else None,
            })
            return res

        mp = pytest.MonkeyPatch()
        mp.setattr(k8s_mod, "create", spy)
        mp.setattr(component, "create", spy)
        try:
            out = run_program(stack, config_of(stack_yaml(stack)), ROOT / "__main__.py",
                              now=CREATED)
        finally:
            mp.undo()
        assert out.error is None, out.error
        cache[stack] = (out.resources, calls, out.exports)
        return cache[stack]

    return run


def test_stacks_with_experiments():
    """Every GKE seed stack got its study, plus the two app stacks."""
    for s in ["gke-64-ghcr", "gke-64-artifact-registry", "gke-64-localssd", "gke-64-streaming",
              "gke-6-topology", "gke-30-topology", "gke-64-osu", "gke-4-nightly",
              "gke-64-apps", "gke-64-apps-streaming"]:
        assert s in STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_plan_has_no_violations(stack, locked_images):
    from study.plan import make_plan

    plan = make_plan(stack, now=NOW)
    assert plan.violations == []
    est = plan.report.estimate
    assert plan.exports["steps"] == [s.name for s in est.steps]
    # Every object the experiment creates is labelled for collection and cleanup.
    for m in plan.manifests:
        labels = (m.get("metadata") or {}).get("labels") or {}
        if layout.LABEL_STEP in labels:
            assert labels[layout.LABEL_STACK] == stack


@pytest.mark.parametrize("stack", STACKS)
def test_deadlines_fit_the_budget(stack):
    from infra.estimate import experiment_deadline_seconds

    spec, steps = spec_and_steps(stack)
    assert sum(s.deadline_seconds for s in steps) <= experiment_deadline_seconds(spec) + 1
    assert all(s.deadline_seconds >= s.estimated_seconds for s in steps)


def _kinds(resources) -> Counter:
    return Counter(r.type.rsplit(":", 1)[-1] for r in resources)


def _role(r) -> str | None:
    return ((r.inputs.get("metadata") or {}).get("labels") or {}).get(layout.LABEL_ROLE)


def test_matrix_sizes(recorded):
    res, _, _ = recorded("gke-6-topology")
    assert _kinds(res)["MiniCluster"] == 4 * 5  # designs x iterations; sizes run inside
    res, _, _ = recorded("gke-64-osu")
    _, steps = spec_and_steps("gke-64-osu")
    assert _kinds(res)["MetricSet"] == len(steps) - 1 == 5  # one per node count
    res, _, _ = recorded("gke-64-ghcr")
    uploads = [r for r in res if r.type.endswith(":Job") and _role(r) == "upload"]
    assert len(uploads) == 18 + 1  # every step's results go to the bucket, the pre-pull's too
    res = [r for r in res if r not in uploads]
    assert _kinds(res)["Job"] == 18 * 2 + 1  # pull + recorder per step, the pre-pull's recorder
    assert _kinds(res)["DaemonSet"] == 1  # the pre-pull; each pull pod clears its own node
    res, _, _ = recorded("gke-64-apps-streaming")
    assert _kinds(res)["MiniCluster"] == 4 * 7


def test_operators_installed_and_ready_first(recorded):
    res, calls, exports = recorded("gke-64-osu")
    types = [r.type for r in res]
    for token in ("study:infra:JobSet", "study:infra:MetricsOperator", "study:infra:EventRecorder"):
        assert token in types
    assert types.count("kubernetes:yaml/v2:ConfigGroup") == 2
    assert set(exports["operators"]) == {"jobset", "metrics-operator", "event-recorder"}
    exp = next(r for r in res if r.type == "study:experiments:Experiment")
    assert exp is not None


def _chain(calls):
    """(step -> its first workload create, step -> its recorder create)."""
    rec = {c["obj"]["metadata"]["name"][4:]: c for c in calls
           if c["obj"]["metadata"].get("labels", {}).get(layout.LABEL_ROLE) == "recorder"}
    return rec


@pytest.mark.parametrize("stack", ["gke-4-nightly", "gke-6-topology", "gke-64-osu",
                                   "gke-64-artifact-registry"])
def test_steps_run_one_at_a_time(recorded, stack):
    """Each measured step's first object waits for the previous step's recorder; every measured
    step's recorder waits for the one before it; no step is skipped. (Preparation steps run,
    and are recorded, beside one another instead: tests/experiments/test_chain.py.)"""
    _, calls, exports = recorded(stack)
    steps = exports["steps"]
    preparation = {s["name"] for s in exports["experiment"]["steps"] if s["preparation"]}
    rec = _chain(calls)
    assert list(rec) == steps
    for prev, step in zip(steps, steps[1:], strict=False):
        mine = [c for c in calls if c["obj"]["metadata"].get("labels", {}).get(layout.LABEL_STEP)
                == step and c["obj"]["metadata"]["labels"][layout.LABEL_ROLE] != "recorder"]
        assert mine, step
        assert f"job-{layout.LABEL_PREFIX}" not in mine[0]["depends_on"]
        if step not in preparation:
            assert rec[prev]["name"] in mine[0]["depends_on"], (step, mine[0]["depends_on"])
            assert rec[prev]["name"] in rec[step]["depends_on"], (step, rec[step]["depends_on"])
        assert set(c["name"] for c in mine) <= set(rec[step]["depends_on"])


def test_resume_names_are_deterministic(recorded):
    """A second run declares exactly the same resources with the same inputs (the expiry stamp
    is the one kept in state from the first creation: infra.expiry)."""
    import experiments.component  # noqa: F401

    first, _, _ = recorded("gke-4-nightly")
    again = run_program("gke-4-nightly", config_of(stack_yaml("gke-4-nightly")),
                        ROOT / "__main__.py", now=CREATED)
    # Compared by (type, name): the SDK registers resources from a thread pool, so two whose
    # dependencies resolve together (the guard's grants and the cluster's network) may reach
    # the engine in either order; what a resume depends on is the set of names and inputs.
    def declared(resources):
        return sorted(((r.type, r.name, r.inputs) for r in resources), key=lambda t: t[:2])

    assert declared(again.resources) == declared(first)
    names = [r.inputs.get("metadata", {}).get("name") for r in first
             if r.type == "kubernetes:batch/v1:Job" and _role(r) != "upload"]
    uploads = [r.inputs["metadata"]["name"] for r in first
               if r.type == "kubernetes:batch/v1:Job" and _role(r) == "upload"]
    assert uploads == ["upload-prepull", "upload-pull-l9-s1176249324-r1",
                       "upload-pull-l9-s1176249324-r2"]
    assert names == ["rec-prepull", "pull-l9-s1176249324-r1", "rec-pull-l9-s1176249324-r1",
                     "pull-l9-s1176249324-r2", "rec-pull-l9-s1176249324-r2"]


def _jobs(calls, role):
    return [c for c in calls if c["obj"]["kind"] == "Job"
            and c["obj"]["metadata"]["labels"].get(layout.LABEL_ROLE) == role]


class TestPullSteps:
    """One pod per node, enforced by the scheduler, after a verified containerd cache clear."""

    def test_one_pod_per_node(self, recorded):
        _, calls, _ = recorded("gke-64-localssd")
        for role in ("workload",):
            for c in _jobs(calls, role):
                spec = c["obj"]["spec"]
                tmpl = spec["template"]
                assert spec["completions"] == spec["parallelism"] == 64
                assert spec["backoffLimit"] == 0
                term = tmpl["spec"]["affinity"]["podAntiAffinity"][
                    "requiredDuringSchedulingIgnoredDuringExecution"][0]
                assert term["topologyKey"] == "kubernetes.io/hostname"
                assert term["labelSelector"]["matchLabels"].items() <= tmpl["metadata"][
                    "labels"].items()
                spread = tmpl["spec"]["topologySpreadConstraints"][0]
                assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "DoNotSchedule")

    def test_cache_cleared_on_containerd_and_verified(self, recorded):
        """Every pull pod clears its own node first, in its init container (the script itself:
        test_clear_script.py); the kubelet starts the `pull` container, and pulls its image,
        only after the clear exited 0 (kubernetes/kubernetes pkg/kubelet/kuberuntime
        kuberuntime_manager.go SyncPod, kuberuntime_container.go startContainer)."""
        from core.reference import normalize
        from experiments.kinds.pulling import clear_script

        _, calls, _ = recorded("gke-64-localssd")
        assert not [c for c in calls if c["obj"]["kind"] == "DaemonSet"
                    and c["obj"]["metadata"]["labels"][layout.LABEL_ROLE] == "cache-clear"]
        pulls = _jobs(calls, "workload")
        assert len(pulls) == 18
        # Every clear removes every studied image: they share a base layer (built FROM busybox).
        studied = list(dict.fromkeys(
            p["obj"]["spec"]["template"]["spec"]["containers"][0]["image"] for p in pulls))
        assert len(studied) == 6
        for pull in pulls:
            pod = pull["obj"]["spec"]["template"]["spec"]
            (c,) = pod["initContainers"]
            assert c["name"] == "clear"
            assert c["command"] == ["nsenter", "-t", "1", "-m", "--", "sh", "-c",
                                    clear_script([normalize(i) for i in studied])]
            assert pod["hostPID"] and c["securityContext"]["privileged"]
            assert c["env"] == [{"name": "NODE_NAME",
                                 "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
            assert [x["name"] for x in pod["containers"]] == ["pull"]
            # A failed clear fails its pod and, with no retries, the Job: no pull on that node.
            assert pod["restartPolicy"] == "Never" and pull["obj"]["spec"]["backoffLimit"] == 0
            # The recorder, not Pulumi, waits for the pull (a failed clear is recorded first).
            assert pull["obj"]["metadata"]["annotations"]["pulumi.com/skipAwait"] == "true"
            assert pod["containers"][0]["imagePullPolicy"] == "IfNotPresent"

    def test_recorder_checks_pulls(self, recorded):
        import json

        _, calls, _ = recorded("gke-64-localssd")
        recs = [r for r in _jobs(calls, "recorder")
                if r["obj"]["metadata"]["name"] != "rec-prepull"]
        assert len(recs) == 18
        for rec in recs:
            env = {e["name"]: e["value"] for e in
                   rec["obj"]["spec"]["template"]["spec"]["containers"][0]["env"]}
            expect = json.loads(env["EXPECT"])
            assert expect["nodes"] == 64 and len(expect["pull_images"]) == 1
            assert env["POD_SELECTOR"].endswith(f"{layout.LABEL_ROLE}=workload")
            # The clear records are the pull pods' own (their `clear` init container's log).
            assert expect["clears"]["selector"] == env["POD_SELECTOR"]
            assert expect["clears"]["container"] == "clear"
            assert [p.split("/")[-2] for p in expect["cleanup"]] == ["jobs"]


def test_deadlines_reach_workload_recorder_and_pulumi(recorded):
    import json

    from experiments.component import PULUMI_MARGIN_SECONDS, RECORDER_MARGIN_SECONDS

    for stack in ("gke-4-nightly", "gke-6-topology", "gke-64-osu"):
        _, calls, exports = recorded(stack)
        deadline = {s["name"]: s["deadline_seconds"] for s in exports["experiment"]["steps"]}
        for rec in _jobs(calls, "recorder"):
            step = rec["obj"]["metadata"]["labels"][layout.LABEL_STEP]
            env = {e["name"]: e["value"] for e in
                   rec["obj"]["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert int(env["DEADLINE_SECONDS"]) == int(deadline[step] + RECORDER_MARGIN_SECONDS)
            assert rec["timeout"] == (
                f"{int(deadline[step] + RECORDER_MARGIN_SECONDS + PULUMI_MARGIN_SECONDS)}s")
            # The pre-pull DaemonSet is awaited by Pulumi; its recorder waits for nothing.
            assert bool(json.loads(env["WAIT_FOR"])) == (step != "prepull")
        for c in calls:
            labels = c["obj"]["metadata"].get("labels", {})
            if labels.get(layout.LABEL_ROLE) != "workload":
                continue
            spec = c["obj"]["spec"]
            got = spec.get("activeDeadlineSeconds", spec.get("deadlineSeconds"))
            assert got == int(deadline[labels[layout.LABEL_STEP]])


def test_recorders_sit_next_to_the_results_volume(recorded):
    _, calls, _ = recorded("gke-6-topology")
    for rec in _jobs(calls, "recorder"):
        pod = rec["obj"]["spec"]["template"]["spec"]
        term = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
        assert term["labelSelector"]["matchLabels"] == {layout.LABEL_ROLE: layout.ROLE_RESULTS}
        assert {"persistentVolumeClaim": {"claimName": layout.RESULTS_PVC}, "name": "results"} in (
            pod["volumes"])


def test_topology_steps_carry_their_design(recorded):
    import base64

    _, calls, _ = recorded("gke-6-topology")
    mcs = [c["obj"] for c in calls if c["obj"]["kind"] == "MiniCluster"]
    first = mcs[0]
    assert first["spec"]["flux"]["topology"] == "binomial" and first["spec"]["size"] == 6
    pre = first["spec"]["containers"][0]["commands"]["pre"]
    script = base64.b64decode(pre.split()[1]).decode()
    assert "LEAVES=1,3,5;" in script  # shlex-quoted words
    assert "SIZES='1000000000:payload-1g.bin 2000000000:payload-2g.bin';" in script
    assert "direct-download-all-nodes" in script and "STUDY-TIMING" in script
    assert "PAYLOAD=random" in script


def test_artifact_registry_stack_creates_its_repository(recorded):
    res, calls, _ = recorded("gke-64-artifact-registry")
    repo = [r for r in res if r.type == "gcp:artifactregistry/repository:Repository"]
    assert len(repo) == 1
    assert repo[0].inputs["repositoryId"] == "chonks" and repo[0].inputs["format"] == "DOCKER"
    mirror = next(c for c in calls if c["obj"]["metadata"]["name"] == "mirror-images")
    inits = mirror["obj"]["spec"]["template"]["spec"]["initContainers"]
    assert len(inits) == 6 and all(i["command"][:2] == ["gcrane", "cp"] for i in inits)
    ghcr, _, _ = recorded("gke-64-ghcr")
    assert not [r for r in ghcr if r.type.startswith("gcp:artifactregistry")]


def test_plan_does_not_grow_with_node_count(project):
    from study.plan import make_plan

    counts = {}
    for n in (4, 1000):  # 1000: GKE's most nodes per node pool in one zone
        sec = sections("gke-64-localssd")
        sec["cluster"]["node_count"] = n
        sec["quota"] = {"cpus": 100000, "in_use_addresses": 5000, "local_ssd_gb": 10**6}
        sec["budget"] = {"usd": 10**5, "max_hours": 10}
        plan = make_plan(project(f"scale-{n}", sec), now=NOW)
        assert plan.violations == []
        counts[n] = (len(plan.resources), len(plan.manifests))
    assert counts[4] == counts[1000]


class TestParamErrors:
    """One line each: the key, the value, what is allowed."""

    def problems(self, project, experiment, operators=("event-recorder",)):
        from core.errors import SpecError
        from study.plan import make_plan

        sec = sections("gke-4-nightly")
        sec["experiment"] = experiment
        sec["operators"] = list(operators)
        try:  # params are validated with the rest of the spec, when the stack is loaded
            return make_plan(project("bad", sec), now=NOW).violations
        except SpecError as exc:
            return list(exc.problems)

    def test_unknown_param(self, project):
        v = self.problems(project, {"kind": "pulling", "params": {"layers": [9], "sizes": [1],
                                                                  "iteration": 2}})
        assert v == ["study:experiment.params.iteration: unknown key; did you mean 'iterations'?"]

    def test_unknown_param_without_a_close_match(self, project):
        v = self.problems(project, {"kind": "pulling", "params": {"images": ["busybox:1.36.1"],
                                                                  "zzz": 1}})
        assert v == ["study:experiment.params.zzz: unknown key; allowed: repository, layers, "
                     "sizes, images, iterations, command, assumed_size_bytes, prime"]

    def test_hostile_repository_is_refused_before_any_cloud_call(self, project):
        """The quote would have ended the '...' of the root clear script on every node."""
        bad = "ghcr.io/x/chonks'; touch /pwned; echo '"
        v = self.problems(project, {"kind": "pulling", "params": {
            "repository": bad, "layers": [9], "sizes": [1]}})
        assert v == [f"study:experiment.params.repository: {bad!r} is not allowed; does not "
                     "match the reference grammar; must be a repository [registry[:port]/]path"]

    def test_bad_value(self, project):
        v = self.problems(project, {"kind": "osu", "params": {"benchmarks": ["osu_latencyy"]}},
                          operators=("jobset", "metrics-operator", "event-recorder"))
        assert len(v) == 1
        assert v[0].startswith("study:experiment.params.benchmarks: ['osu_latencyy'] is not allowed;")
        assert "osu_latency," in v[0]

    def test_cross_field(self, project):
        v = self.problems(project, {"kind": "pulling", "params": {"sizes": [1]}})
        assert v == ["study:experiment.params: {'sizes': [1]} is not allowed; layers and sizes go "
                     "together (the chonk tag is <L>-layers-size-<bytes>-bytes)"]

    def test_missing_operator(self, project):
        v = self.problems(project, {"kind": "topology", "params": {"designs": ["kary:2"]}})
        assert len(v) == 1 and v[0].startswith("study:operators: ['event-recorder'] is missing "
                                               "'flux-operator'")

    def test_unknown_kind(self, project):
        v = self.problems(project, {"kind": "pulls", "params": {}})
        assert v and "unknown experiment kind 'pulls'" in v[0]


def test_every_stack_file_is_still_valid_yaml_with_comments():
    """Stack files are hand-kept: their experiment section and their comments (why a value) stay."""
    for s in STACKS:
        text = (Path(ROOT) / "stacks" / f"Pulumi.{s}.yaml").read_text()
        assert "study:experiment:" in text, s
        assert any(line.lstrip().startswith("#") for line in text.splitlines()), s


@pytest.mark.parametrize("stack", ["gke-4-nightly", "gke-6-topology", "gke-64-osu", "gke-64-apps",
                                   "gke-64-streaming"])
def test_only_recorders_are_awaited(recorded, stack):
    """Measured workloads skip Pulumi's await (a failed step is data); recorders are awaited
    (the chain), and so are the preparation workloads (what needs them needs them finished)."""
    _, calls, _ = recorded(stack)
    roles = Counter()
    for c in calls:
        labels = c["obj"]["metadata"].get("labels", {})
        role = labels.get(layout.LABEL_ROLE)
        ann = c["obj"]["metadata"].get("annotations", {})
        if role == "workload":
            assert ann.get("pulumi.com/skipAwait") == "true", c["name"]
        if role in ("recorder", "prepull", "mirror", "prime"):
            assert "pulumi.com/skipAwait" not in ann
        roles[role] += 1
    assert roles["prepull"] == 1
    assert roles["recorder"] == roles["workload"] + roles["mirror"] + roles["prime"] + 1


def test_recorder_ships_the_checks_the_laptop_uses(recorded):
    """The in-cluster verdict and `study collect`'s re-check run the very same code."""
    import experiments.checks
    import experiments.recorder

    _, calls, exports = recorded("gke-4-nightly")
    cm = next(c["obj"] for c in calls if c["obj"]["metadata"]["name"] == layout.RECORDER_SCRIPTS)
    assert cm["data"]["checks.py"] == Path(experiments.checks.__file__).read_text()
    assert cm["data"]["recorder.py"] == Path(experiments.recorder.__file__).read_text()
    spec, _ = spec_and_steps("gke-4-nightly")
    from infra.estimate import provision_hours, teardown_hours

    hours = spec.budget.max_hours - provision_hours(spec) - teardown_hours(spec)
    assert exports["experiment_deadline_seconds"] == pytest.approx(hours * 3600)


def test_resume_after_destroy_renders_only_unfinished_steps(monkeypatch):
    """`study run --resume` on a new cluster: steps already collected are not run again."""
    from core.layout import RESUME_ENV

    cfg = config_of(stack_yaml("gke-4-nightly"))
    full = run_program("gke-4-nightly", cfg, ROOT / "__main__.py")
    steps = full.exports["steps"]
    assert len(steps) == 3 and steps[0] == "prepull"
    monkeypatch.setenv(RESUME_ENV, steps[1])
    resumed = run_program("gke-4-nightly", cfg, ROOT / "__main__.py")
    assert resumed.error is None
    assert resumed.exports["steps"] == steps
    assert resumed.exports["skipped_steps"] == [steps[1]]

    def job_names(run):
        return {r.inputs["metadata"]["name"] for r in run.resources
                if r.type == "kubernetes:batch/v1:Job"}

    assert job_names(resumed) == {n for n in job_names(full) if not n.endswith(steps[1])}
    assert not any(n.endswith(steps[1]) for n in job_names(resumed))


def _prepull_objects(run) -> set[str]:
    return {r.inputs["metadata"]["name"] for r in run.resources
            if r.type in ("kubernetes:apps/v1:DaemonSet", "kubernetes:batch/v1:Job")
            and r.inputs["metadata"]["name"] in ("prepull", "rec-prepull", "upload-prepull")}


def test_resume_on_new_nodes_pre_pulls_again(monkeypatch):
    """The pre-pull's images were in the destroyed nodes' caches: a resume on a new cluster
    renders it again although it is listed as completed, so no upload or helper pulls cold
    beside a measured step. The other completed step stays skipped."""
    from core.layout import RESUME_ENV, RESUME_NEW_NODES_ENV

    cfg = config_of(stack_yaml("gke-4-nightly"))
    steps = run_program("gke-4-nightly", cfg, ROOT / "__main__.py").exports["steps"]
    monkeypatch.setenv(RESUME_ENV, f"prepull,{steps[1]}")
    monkeypatch.setenv(RESUME_NEW_NODES_ENV, "1")
    resumed = run_program("gke-4-nightly", cfg, ROOT / "__main__.py")
    assert resumed.error is None
    assert resumed.exports["skipped_steps"] == [steps[1]]
    assert _prepull_objects(resumed) == {"prepull", "rec-prepull", "upload-prepull"}


def test_resume_on_the_same_nodes_keeps_the_pre_pull_done(monkeypatch):
    """A retried `up`, or a resume on a kept cluster: the nodes still hold the images, and the
    recorder deleted the DaemonSet, so rendering it again would only re-create idle pods."""
    from core.layout import RESUME_ENV

    cfg = config_of(stack_yaml("gke-4-nightly"))
    monkeypatch.setenv(RESUME_ENV, "prepull")
    resumed = run_program("gke-4-nightly", cfg, ROOT / "__main__.py")
    assert resumed.error is None
    assert resumed.exports["skipped_steps"] == ["prepull"]
    assert _prepull_objects(resumed) == set()


@pytest.mark.parametrize("stack", ["gke-4-nightly", "gke-6-topology", "gke-64-osu"])
def test_the_recorder_may_watch_what_it_waits_for(recorded, stack):
    """The recorder reads each WAIT_FOR object, then watches it (experiments/recorder.py); without
    `watch` in its Role it falls back to 1 s polls, so every waited-for kind must allow both."""
    import json

    _, calls, _ = recorded(stack)
    role = next(c["obj"] for c in calls if c["obj"]["kind"] == "Role"
                and c["obj"]["metadata"]["name"] == layout.STEP_RECORDER_SA)
    allowed = {(g, r): set(rule["verbs"]) for rule in role["rules"]
               for g in rule["apiGroups"] for r in rule["resources"]}
    waited = set()
    for rec in _jobs(calls, "recorder"):
        env = {e["name"]: e["value"]
               for e in rec["obj"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        for path in json.loads(env["WAIT_FOR"]):
            parts = path.split("/")  # /apis/GROUP/VERSION/namespaces/NS/RESOURCE/NAME
            waited.add((parts[2], parts[-2]))
    assert waited
    for key in waited:
        assert {"get", "watch"} <= allowed[key], key


@pytest.mark.parametrize("stack", ["gke-4-nightly", "gke-6-topology", "gke-64-osu",
                                   "gke-64-apps"])
def test_the_recorder_may_watch_what_it_deletes(recorded, stack):
    """Each object the recorder deletes (a step's OWNERS at its deadline, EXPECT's `cleanup`:
    the pull Job, the pre-pull DaemonSet, a MiniCluster or MetricSet) is watched until it is
    gone (experiments/recorder.py `until_gone`): its Role must allow get, watch and delete, or
    the API server answers the watch 403 and the recorder polls every second."""
    import json

    _, calls, _ = recorded(stack)
    role = next(c["obj"] for c in calls if c["obj"]["kind"] == "Role"
                and c["obj"]["metadata"]["name"] == layout.STEP_RECORDER_SA)
    allowed = {(g, r): set(rule["verbs"]) for rule in role["rules"]
               for g in rule["apiGroups"] for r in rule["resources"]}
    deleted = set()
    for rec in _jobs(calls, "recorder"):
        env = {e["name"]: e["value"]
               for e in rec["obj"]["spec"]["template"]["spec"]["containers"][0]["env"]}
        paths = json.loads(env["OWNERS"]) + json.loads(env["EXPECT"]).get("cleanup", [])
        for path in paths:
            parts = path.split("/")  # /apis/GROUP/VERSION/namespaces/NS/RESOURCE/NAME
            deleted.add((parts[2], parts[-2]))
    assert ("apps", "daemonsets") in deleted  # every stack pre-pulls its helper images
    for key in deleted:
        assert {"get", "watch", "delete"} <= allowed[key], key


def test_the_role_lets_the_recorder_watch_every_kind_it_deletes():
    """The Role itself, for kinds no shipped stack may delete yet (MetricSets): every rule that
    grants `delete` grants `get` and `watch` too."""
    from experiments.base import ClusterFacts, RenderContext
    from experiments.component import shared_objects

    facts = ClusterFacts("gcp", 4, "n1-standard-16", 16, "ghcr.io")
    ctx = RenderContext("s", "study-harness", facts, {"study-harness.io/stack": "s"})
    (role,) = [o for o in shared_objects(ctx) if o["kind"] == "Role"]
    deletable = {(g, r): set(rule["verbs"]) for rule in role["rules"] if "delete" in rule["verbs"]
                 for g in rule["apiGroups"] for r in rule["resources"]}
    assert set(deletable) == {
        ("batch", "jobs"), ("apps", "daemonsets"), ("flux-framework.org", "miniclusters"),
        ("flux-framework.org", "metricsets"), ("jobset.x-k8s.io", "jobsets")}
    assert all({"get", "watch"} <= verbs for verbs in deletable.values()), deletable


def test_a_stop_fails_the_recorder_job_through_its_backoff_limit(recorded):
    """A stop (recorder exit 3) must fail `pulumi up`. pulumi-kubernetes' Job await reports an
    error only for a Failed condition with reason BackoffLimitExceeded or DeadlineExceeded and
    otherwise waits for Complete (pulumi/pulumi-kubernetes provider/pkg/await/checker/job/
    check.go `collectJobConditionErrors`, provider/pkg/await/job.go; read at v4.32.0-27-g9497796,
    the newest stored; the pinned 4.34.2 is not in the store). A `podFailurePolicy` FailJob rule
    fails the Job with reason PodFailurePolicy, which that await would not see until its timeout:
    so none, and the stop ends the Job through its backoffLimit (each retry finds the stop
    recorded and exits 3 at once, experiments/recorder.py)."""
    _, calls, _ = recorded("gke-4-nightly")
    recorders = _jobs(calls, "recorder")
    assert recorders
    for rec in recorders:
        spec = rec["obj"]["spec"]
        assert "podFailurePolicy" not in spec, rec["name"]
        assert spec["backoffLimit"] == 2, rec["name"]
        assert spec["template"]["spec"]["restartPolicy"] == "Never", rec["name"]


def test_a_completed_step_still_uploading_declares_its_upload_alone(monkeypatch):
    """A retried `up` while the pre-pull's upload ran beside the next step: the pre-pull is
    completed (its DaemonSet and recorder are not declared, so nothing pulls again), but its
    upload Job is, under the URN the full program gives it, so Pulumi awaits that Job instead of
    deleting it unawaited."""
    from core.layout import RESUME_ENV, UPLOADS_ENV

    cfg = config_of(stack_yaml("gke-4-nightly"))
    full = run_program("gke-4-nightly", cfg, ROOT / "__main__.py")
    urn = {r.name: r.options["urn"] for r in full.resources}
    monkeypatch.setenv(RESUME_ENV, "prepull")
    monkeypatch.setenv(UPLOADS_ENV, "prepull")
    resumed = run_program("gke-4-nightly", cfg, ROOT / "__main__.py")
    assert resumed.error is None
    assert resumed.exports["skipped_steps"] == ["prepull"]
    assert resumed.exports["pending_uploads"] == ["prepull"]
    assert _prepull_objects(resumed) == {"upload-prepull"}
    upload = next(r for r in resumed.resources if r.name == "job-upload-prepull")
    assert upload.options["urn"] == urn["job-upload-prepull"]
    assert upload.inputs["spec"] == next(r for r in full.resources
                                         if r.name == "job-upload-prepull").inputs["spec"]


def test_an_upload_to_await_of_a_step_that_runs_is_its_own(monkeypatch):
    """A step not completed renders whole, its upload once, whatever UPLOADS_ENV says."""
    from core.layout import UPLOADS_ENV

    cfg = config_of(stack_yaml("gke-4-nightly"))
    monkeypatch.setenv(UPLOADS_ENV, "prepull")
    run = run_program("gke-4-nightly", cfg, ROOT / "__main__.py")
    assert run.error is None
    assert run.exports["pending_uploads"] == []
    assert [r.name for r in run.resources].count("job-upload-prepull") == 1
