"""A collected harness pulling run of two steps, built the way a real run writes one now.

Why built, not written by hand: the step statuses are what `experiments/recorder.py` itself
writes (its `main()` runs in-process for each step, against a fake API server whose Job
completes at a set time and whose foreground deletion takes `GONE_SECONDS`, on a simulated
clock), the step rows are `study.lifecycle.collect.step_rows` of those statuses, and the events
are the seed's real exporter lines of run1 at 4 nodes (the two smallest images: `container-pull`
Job, its pods) renamed to the harness's objects, plus what the harness adds, each in the shape
of a seed line of the same reason:

* each pull pod's `clear` init container (`experiments.kinds.pulling.pull_pod`): `Pulled`
  (`Container image "<debian>" already present on machine`, it is pre-pulled), `Created` and
  `Started` on `spec.initContainers{clear}` 1 s after the pod's `Scheduled`; the pod's pull
  container (`spec.containers{pull}`) is pulled only after the clear exited, so its seed events
  are moved `CLEAR_SECONDS` later than the pod's `Scheduled` (the seed had no clear: its
  Pulling came within a second of Scheduled);
* the workload Jobs' `Completed` and the upload Jobs' `SuccessfulCreate` and `Completed`;
  there is no cache-clear DaemonSet any more.

The designed timeline (UTC, 2024-11-10), seed times kept for step 1's Job and pods and moved by
`SHIFT_SECONDS` for step 2's; the chain is `experiments.component`'s: step 2's workload starts
when step 1's recorder has finished, step 1's upload runs beside it, step 2's recorder starts
after that upload:

| step | workload Job | pods Scheduled | pull container Pulling | recorder | upload Job |
| --- | --- | --- | --- | --- | --- |
| pull-small-r1 | 06:14:25 - 06:14:39 | 06:14:25 (x4) | 06:14:29 (x4) | 06:14:26 - | 06:14:47 - 06:14:56 |
| pull-medium-r1 | 06:14:47 - 06:15:10 | 06:14:47 (x4) | 06:14:51, 06:14:52 (x3) | 06:14:57 - | 06:15:13 - 06:15:22 |

(step 2's seed pods were Scheduled at 06:14:43 and began Pulling at 06:14:43 (one) and
06:14:44 (three); + SHIFT_SECONDS, + CLEAR_SECONDS.) Each workload Job completes 2 s after its
last pod's `Started` (06:14:37 and 06:15:08). The recorder sees its Job complete at its first
1 s poll at or after the completion (`experiments.recorder.POLL_SECONDS`; the fake serves no
resourceVersion, so it polls rather than watches), deletes the Job in the foreground and sees it
gone GONE_SECONDS later: it finishes at 06:14:41 and 06:15:12. Step 1's upload Job is created
with step 2's workload Job, both of them waiting for step 1's recorder only, and step 2's
recorder starts once that upload has completed (06:14:56 -> 06:14:57).

Each upload Job's pod (`UPLOAD_PODS`) runs on the results node (`RESULTS_NODE`, beside the event
recorder: `experiments.upload.upload_job`'s affinity), the node that holds one of step 2's four
pull pods (the seed's `container-pull-1-mx9vf`, Pulling 06:14:52, Pulled 06:15:07); the other
three ran on `-9lnh`. Its events are the scheduler's `Scheduled` ("Successfully assigned
study-harness/<pod> to <node>") as the upload Job's `SuccessfulCreate`, then the kubelet's
`Pulled` (the uploader image is pre-pulled: "already present"), `Created` and `Started` of its
`upload` container 1 s later, each in the shape of the seed pod's own line of that reason. So
step 1's upload (06:14:47-06:14:56) overlaps exactly one studied pull, that one, from its
Pulling at 06:14:52 to the upload's end: 4 s; step 2's upload (06:15:13-06:15:22) starts after
every pull has ended.

Both steps are recorded
`invalid`: the seed's Job put its 4 pods on 2 of the 4 nodes, which the checks report as
they would for a real run; the times are what the timeline reads.
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.analysis.seed_data import CHONK, RUN1_4, event_lines

NAMESPACE = "study-harness"
STEPS = ("pull-small-r1", "pull-medium-r1")
IMAGES = (CHONK.format(1176249324), CHONK.format(2770722493))
SHIFT_SECONDS = 4  # step 2's seed events, moved to leave room for the harness between steps
CLEAR_SECONDS = 4  # each pull container's seed events, moved after its pod's clear
GONE_SECONDS = 2  # a foreground deletion of a pull Job: its pods go, then it
SEED_CONTAINER = "container-pull"  # the seed's pull Job and its one container
PULL_CONTAINER = "pull"  # the harness's pull pod's container (experiments.kinds.pulling)
T = "2024-11-10T06:{}Z"
PLAN = {  # step -> workload start and end, recorder start, upload start and end
    STEPS[0]: ("14:25", "14:39", "14:26", "14:47", "14:56"),
    STEPS[1]: ("14:47", "15:10", "14:57", "15:13", "15:22"),
}
# The node holding the results volume, where every upload runs; step 2 pulled once on it.
RESULTS_NODE = "gke-test-cluster-default-pool-9de60b8d-084f"
UPLOAD_PODS = {step: f"upload-{step}-{suffix}"  # the Job controller's 5-character suffixes
               for step, suffix in zip(STEPS, ("k7x2q", "m3p9z"), strict=True)}


def _at(hhmm_ss: str) -> datetime:
    return datetime.fromisoformat(T.format(hhmm_ss).replace("Z", "+00:00"))


class SimClock:
    def __init__(self, start: datetime):
        self.t = start.timestamp()

    def time(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def iso(self) -> str:
        return datetime.fromtimestamp(self.t, UTC).isoformat(timespec="seconds")


class FakeApi:
    """The API server as the recorder sees it (`experiments.recorder.Api`'s `request`): its
    step's Job completes at `done`; a foreground DELETE of the Job takes GONE_SECONDS, its pods
    first (404 for the Job and no pods after); each pod's `clear` container logs the clear's OK
    line, its pull container what the seed's `true` printed (nothing) but a newline."""

    def __init__(self, clock: SimClock, job_path: str, start: datetime, done: datetime,
                 pods: list[dict], clear_log: str):
        self.clock, self.job_path, self.start, self.done, self.pods = (
            clock, job_path, start, done, pods)
        self.clear_log = clear_log
        self.gone_at: float | None = None

    def _gone(self) -> bool:
        return self.gone_at is not None and self.clock.time() >= self.gone_at

    def request(self, path, method="GET", raw=False, propagation="Background"):
        if path == self.job_path and method == "DELETE":
            assert propagation == "Foreground"
            self.gone_at = self.clock.time() + GONE_SECONDS
            return {"kind": "Status", "status": "Success"}
        if path == self.job_path:
            if self._gone():
                raise urllib.error.HTTPError(path, 404, "Not Found", {}, None)  # type: ignore[arg-type]
            status: dict = {"startTime": _iso(self.start)}
            if self.clock.time() >= self.done.timestamp():
                status.update(completionTime=_iso(self.done),
                              conditions=[{"type": "Complete", "status": "True"}])
            return {"status": status}
        if "/pods?labelSelector=" in path:
            return {"items": [] if self._gone() else self.pods}
        if "/log" in path:
            return self.clear_log if path.endswith("?container=clear") else "\n"
        raise AssertionError(path)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _later(text: str, seconds: int) -> str:
    return _iso(datetime.fromisoformat(text.replace("Z", "+00:00")) + timedelta(seconds=seconds))


def _shift(event: dict, seconds: int) -> dict:
    if not seconds:
        return event
    for key in ("firstTimestamp", "lastTimestamp"):
        if event.get(key):
            event[key] = _later(event[key], seconds)
    meta = event["metadata"]
    meta["creationTimestamp"] = _later(meta["creationTimestamp"], seconds)
    return event


def _renamed(event: dict, step: str) -> dict:
    """A seed event of the `container-pull` Job or its pods as the harness's step writes it:
    the Job is the step, the pod's container is `pull`, the namespace the harness's."""
    text = json.dumps(event)
    for seed, ours in ((f"spec.containers{{{SEED_CONTAINER}}}", f"spec.containers{{{PULL_CONTAINER}}}"),
                       (f"container {SEED_CONTAINER}\"", f"container {PULL_CONTAINER}\""),
                       (f"default/{SEED_CONTAINER}", f"{NAMESPACE}/{step}"),
                       (SEED_CONTAINER, step), ('"default"', f'"{NAMESPACE}"')):
        text = text.replace(seed, ours)
    return json.loads(text)


def clear_events(pulled: dict, scheduled_at: str) -> list[dict]:
    """The kubelet's events of one pull pod's `clear` init container, 1 s after the pod's
    `Scheduled`: its image is pre-pulled (`already present`), then Created and Started. Each
    is the pod's own seed `Pulled` line with the clear's field path, reason and message."""
    from core.versions import DEBIAN

    when = _later(scheduled_at, 1)
    pod = pulled["involvedObject"]["name"]
    out = []
    for reason, message in (("Pulled", f'Container image "{DEBIAN.ref}" already present on '
                                       "machine"),
                            ("Created", "Created container clear"),
                            ("Started", "Started container clear")):
        e = json.loads(json.dumps(pulled))
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"Pod/{pod}/clear/{reason}"))
        e["metadata"].update(name=f"{pod}.{uid[:16]}", uid=uid, creationTimestamp=when)
        e.update(reason=reason, message=message, firstTimestamp=when, lastTimestamp=when)
        e["involvedObject"]["fieldPath"] = "spec.initContainers{clear}"
        out.append(e)
    return out


def seed_events() -> tuple[list[dict], list[dict], dict]:
    """(the seed's node events, its pull Job's and pods' events renamed to the harness's
    steps with each pod's clear before its pull, one `SuccessfulCreate` line as the template of
    the harness Jobs' events)."""
    events = [json.loads(line) for line in event_lines(RUN1_4 / "events-size-4-1731219229.json")
              if line.startswith(b"{\"metadata\"")]
    nodes = [e for e in events if e["reason"] == "RegisteredNode"]
    pulls = [e for e in events if e["involvedObject"]["name"].startswith(SEED_CONTAINER)]
    step_of_pod = {}
    for e in pulls:
        m = re.search(r'image "[^"]*size-(\d+)-bytes"', e["message"])
        if e["reason"] == "Pulling" and m:
            step_of_pod[e["involvedObject"]["name"]] = STEPS[IMAGES.index(CHONK.format(m[1]))]
    template = next(e for e in pulls if e["reason"] == "SuccessfulCreate")
    out, scheduled, first_pulled = [], {}, {}
    for e in pulls:
        pod = (e["involvedObject"]["name"] if e["involvedObject"]["kind"] == "Pod"
               else e["message"].removeprefix("Created pod: "))
        step = step_of_pod[pod]
        shift = SHIFT_SECONDS if step == STEPS[1] else 0
        in_container = bool(e["involvedObject"].get("fieldPath"))
        renamed = _shift(_renamed(e, step), shift + (CLEAR_SECONDS if in_container else 0))
        out.append(renamed)
        name = renamed["involvedObject"]["name"]
        if renamed["reason"] == "Scheduled":
            scheduled[name] = renamed["firstTimestamp"]
        if renamed["reason"] == "Pulled":
            first_pulled.setdefault(name, renamed)
    for name, pulled in first_pulled.items():
        out.extend(clear_events(pulled, scheduled[name]))
    out.sort(key=lambda e: e["firstTimestamp"])  # the exporter writes in the order it sees
    return nodes, out, json.loads(json.dumps(template))


def harness_object_events(template: dict) -> list[dict]:
    """The workload Jobs' and upload Jobs' own events of `PLAN`."""
    def event(name: str, reason: str, when: str, message: str) -> dict:
        e = json.loads(json.dumps(template))
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"Job/{name}/{reason}"))
        e["metadata"].update(name=f"{name}.{uid[:16]}", namespace=NAMESPACE, uid=uid,
                             creationTimestamp=_iso(_at(when)))
        e.update(reason=reason, message=message, firstTimestamp=_iso(_at(when)),
                 lastTimestamp=_iso(_at(when)), reportingComponent="job-controller")
        e["source"] = {"component": "job-controller"}
        e["involvedObject"].update(kind="Job", name=name, namespace=NAMESPACE, uid=uid,
                                   apiVersion="batch/v1")
        return e

    out = []
    for step, (_, done, _, up_start, up_done) in PLAN.items():
        out.append(event(step, "Completed", done, "Job completed"))
        out.append(event(f"upload-{step}", "SuccessfulCreate", up_start,
                         f"Created pod: {UPLOAD_PODS[step]}"))
        out.append(event(f"upload-{step}", "Completed", up_done, "Job completed"))
    return out


def upload_pod_events(seed_pod: dict[str, dict]) -> list[dict]:
    """Each upload Job's pod on RESULTS_NODE (see the module docstring): `seed_pod` holds one
    seed pull pod's own `Scheduled`, `Pulled`, `Created` and `Started` lines, by reason, which
    each event copies with the upload pod's name, labels, owner, container and times."""
    from experiments.upload import uploader_image

    image = uploader_image("gke")
    out = []
    for step, (_, _, _, up_start, _) in PLAN.items():
        pod, job = UPLOAD_PODS[step], f"upload-{step}"
        scheduled = _iso(_at(up_start))
        started = _later(scheduled, 1)
        for reason, when, message in (
                ("Scheduled", scheduled, f"Successfully assigned {NAMESPACE}/{pod} to "
                                         f"{RESULTS_NODE}"),
                ("Pulled", started, f'Container image "{image}" already present on machine'),
                ("Created", started, "Created container upload"),
                ("Started", started, "Started container upload")):
            e = json.loads(json.dumps(seed_pod[reason]))
            uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"Pod/{pod}/{reason}"))
            e["metadata"].update(name=f"{pod}.{uid[:16]}", namespace=NAMESPACE, uid=uid,
                                 creationTimestamp=when)
            e.update(message=message, firstTimestamp=when, lastTimestamp=when)
            obj = e["involvedObject"]
            obj.update(name=pod, namespace=NAMESPACE,
                       uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"Pod/{pod}")))
            obj["labels"] = {"batch.kubernetes.io/job-name": job, "job-name": job,
                             "study-harness.io/role": "upload", "study-harness.io/uploads": step}
            obj["ownerReferences"][0]["name"] = job
            if reason == "Scheduled":
                obj.pop("fieldPath", None)
            else:
                obj["fieldPath"] = "spec.containers{upload}"
                e["source"] = {"component": "kubelet", "host": RESULTS_NODE}
                e["reportingInstance"] = RESULTS_NODE
            out.append(e)
    return out


def record_step(results: Path, step: str, image: str, pods: list[dict],
                monkeypatch: pytest.MonkeyPatch) -> dict:
    """`experiments.recorder.main()` for one step, on a simulated clock, with the EXPECT the
    pulling kind renders (`Pulling.render`: pulls, the pods' own clears, pods per node, the
    Job's clean-up); its status.json."""
    from experiments import recorder as rec
    from experiments.kinds.pulling import CLEAR_CONTAINER, CLEAR_FAIL, CLEAR_OK

    start, done, rec_start, _, _ = PLAN[step]
    clock = SimClock(_at(rec_start))
    job_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{step}"
    removed = "0 client=crictl snapshots_removed=0" if step == STEPS[0] else (
        "1 client=crictl snapshots_removed=9")  # step 1's 9-layer image, on its nodes
    api = FakeApi(clock, job_path, _at(start), _at(done), pods,
                  f"{CLEAR_OK} node=NODE images_removed={removed}\n")
    selector = f"study-harness.io/step={step}"
    with monkeypatch.context() as m:
        m.setattr(rec, "RESULTS", str(results))
        m.setattr(rec, "time", SimpleNamespace(time=clock.time, sleep=clock.sleep))
        m.setattr(rec, "now", clock.iso)
        m.setattr(rec, "Api", lambda: api)
        env = {"STEP": step, "KIND": "pulling", "NAMESPACE": NAMESPACE,
               "WAIT_FOR": json.dumps([job_path]), "OWNERS": json.dumps([job_path]),
               "POD_SELECTOR": selector, "DEADLINE_SECONDS": "600",
               "EXPECT": json.dumps({
                   "pull_images": [image], "nodes": 4, "pods_per_node": 1,
                   "pull_speed": None,
                   "clears": {"selector": selector, "container": CLEAR_CONTAINER,
                              "ok": CLEAR_OK, "fail": CLEAR_FAIL},
                   "cleanup": [job_path]})}
        for k, v in env.items():
            m.setenv(k, v)
        assert rec.main() == 0
    return json.loads((results / "steps" / step / "status.json").read_text())


def pod_object(name: str, node: str, started: str) -> dict:
    """A finished pull pod as the API server lists it: its clear exited 0, then its pull."""
    done = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}, "restartCount": 0}
    return {"metadata": {"name": name}, "spec": {"nodeName": node},
            "status": {"phase": "Succeeded", "startTime": started,
                       "initContainerStatuses": [{"name": "clear", **done}],
                       "containerStatuses": [{"name": PULL_CONTAINER, **done}]}}


def make_pulling_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """results/<stack>/<run-id>/ of a two-step pulling run, as `study collect` writes it from
    the results bucket (each step's log, status and checks; the merged events; nodes)."""
    from study.lifecycle.collect import step_rows

    nodes, pulls, template = seed_events()
    seed_pod = {e["reason"]: e for e in pulls
                if e["involvedObject"]["name"].startswith(f"{STEPS[0]}-0-")
                and e["involvedObject"].get("fieldPath", "") in ("", "spec.containers{pull}")
                and e["reason"] in ("Scheduled", "Pulled", "Created", "Started")}
    stream = sorted(nodes + pulls + harness_object_events(template) + upload_pod_events(seed_pod),
                    key=lambda e: e["firstTimestamp"])
    results = root / "volume"  # the in-cluster results volume the recorders write
    (results / "events").mkdir(parents=True)
    (results / "events" / "events.jsonl").write_text(
        "".join(json.dumps(e, sort_keys=True) + "\n" for e in stream))
    statuses = {}
    for step, image in zip(STEPS, IMAGES, strict=True):
        pods = sorted({(e["involvedObject"]["name"], e["source"].get("host", ""))
                       for e in pulls if e["reason"] == "Pulled"
                       and e["involvedObject"]["name"].startswith(step)})
        statuses[step] = record_step(results, step, image, [
            pod_object(p, n, _iso(_at(PLAN[step][0]))) for p, n in pods], monkeypatch)
    run = root / "results" / "gke-pull" / "20241110T060800Z"
    for step in STEPS:
        (run / "steps" / step).mkdir(parents=True)
        for name in ("log.txt", "status.json", "checks.json"):
            shutil.copy(results / "steps" / step / name, run / "steps" / step / name)
    (run / "steps.json").write_text(json.dumps(step_rows(statuses, [], None), indent=2))
    shutil.copy(results / "events" / "events.jsonl", run / "events.jsonl")
    items = [{"kind": "Node", "metadata": {"name": e["involvedObject"]["name"],
                                           "labels": e["involvedObject"]["labels"]}}
             for e in nodes]
    (run / "nodes.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                "items": items}))
    (run / "provenance.json").write_text(json.dumps({
        "stack": "gke-pull", "run_id": run.name,
        "stack_config": {"study:cluster": {"cloud": "gke", "node_count": 4,
                                           "machine_type": "n1-standard-16"}},
        "experiment": {"kind": "pulling", "params": {"images": list(IMAGES)}},
        "started_at": "2024-11-10T06:08:00Z",
    }))
    return run
