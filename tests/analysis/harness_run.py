"""A collected harness pulling run of two steps, built the way a real run writes one.

Why built, not written by hand: the step statuses are what `experiments/recorder.py` itself
writes (its `main()` runs in-process for each step, against a fake API server whose Job
completes at a set time and a simulated clock), the step rows are `study.lifecycle.collect.
step_rows` of those statuses, and the events are the seed's real exporter lines of run1 at 4
nodes (the two smallest images: `container-pull` Job, its pods) renamed to the harness's
objects, plus the harness's own objects' events (the cache-clear DaemonSet, the upload Job)
in the shape of the seed's real `SuccessfulCreate` line. Nothing in the run is the analysis's
output.

The designed timeline (UTC, 2024-11-10), seed times kept for step 1 and shifted by
`SHIFT_SECONDS` for step 2:

| step | clear created | workload | recorder | upload Job |
| --- | --- | --- | --- | --- |
| pull-small-r1 | 06:14:17 | 06:14:25 - 06:14:35 | from 06:14:26 | 06:14:39 - 06:14:48 |
| pull-medium-r1 | 06:14:55 | 06:15:03 - 06:15:22 | from 06:15:05 | 06:15:26 - 06:15:35 |

The recorder polls its Job every 2 s (`experiments.recorder.POLL_SECONDS`), so it sees each Job
complete at its first poll at or after the completion: 06:14:36 and 06:15:23.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.analysis.seed_data import CHONK, RUN1_4, event_lines

NAMESPACE = "study-harness"
STEPS = ("pull-small-r1", "pull-medium-r1")
IMAGES = (CHONK.format(1176249324), CHONK.format(2770722493))
SHIFT_SECONDS = 20  # step 2's seed events, moved to leave room for the harness between steps
T = "2024-11-10T06:{}Z"
PLAN = {  # step -> clear created, workload start and end, recorder start, upload start and end
    STEPS[0]: ("14:17", "14:25", "14:35", "14:26", "14:39", "14:48"),
    STEPS[1]: ("14:55", "15:03", "15:22", "15:05", "15:26", "15:35"),
}


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
    """The API server as the recorder sees it: its step's Job completes at `done`."""

    def __init__(self, clock: SimClock, job_path: str, start: datetime, done: datetime,
                 pods: list[dict]):
        self.clock, self.job_path, self.start, self.done, self.pods = (
            clock, job_path, start, done, pods)

    def request(self, path, method="GET", raw=False, propagation="Background"):
        if path == self.job_path:
            status: dict = {"startTime": _iso(self.start)}
            if self.clock.time() >= self.done.timestamp():
                status.update(completionTime=_iso(self.done),
                              conditions=[{"type": "Complete", "status": "True"}])
            return {"status": status}
        if "/pods?labelSelector=" in path:
            return {"items": self.pods}
        if path.endswith("/log"):
            return "pulled\n"
        raise AssertionError(path)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shift(event: dict, seconds: int) -> dict:
    for key in ("firstTimestamp", "lastTimestamp"):
        if event.get(key):
            event[key] = _iso(datetime.fromisoformat(event[key].replace("Z", "+00:00"))
                              + timedelta(seconds=seconds))
    meta = event["metadata"]
    meta["creationTimestamp"] = _iso(datetime.fromisoformat(
        meta["creationTimestamp"].replace("Z", "+00:00")) + timedelta(seconds=seconds))
    return event


def seed_events() -> tuple[list[dict], list[dict], dict]:
    """(the seed's node events, its pull Job's and pods' events renamed to the harness's
    steps, one `SuccessfulCreate` line as the template of the harness objects' events)."""
    events = [json.loads(line) for line in event_lines(RUN1_4 / "events-size-4-1731219229.json")
              if line.startswith(b"{\"metadata\"")]
    nodes = [e for e in events if e["reason"] == "RegisteredNode"]
    pulls = [e for e in events if e["involvedObject"]["name"].startswith("container-pull")]
    step_of_pod = {}
    for e in pulls:
        m = re.search(r'image "[^"]*size-(\d+)-bytes"', e["message"])
        if e["reason"] == "Pulling" and m:
            step_of_pod[e["involvedObject"]["name"]] = STEPS[IMAGES.index(CHONK.format(m[1]))]
    template = next(e for e in pulls if e["reason"] == "SuccessfulCreate")
    out = []
    for e in pulls:
        pod = (e["involvedObject"]["name"] if e["involvedObject"]["kind"] == "Pod"
               else e["message"].removeprefix("Created pod: "))
        step = step_of_pod[pod]
        text = json.dumps(e).replace("default/container-pull", f"{NAMESPACE}/{step}")
        text = text.replace("container-pull", step).replace('"default"', f'"{NAMESPACE}"')
        renamed = json.loads(text)
        out.append(_shift(renamed, SHIFT_SECONDS) if step == STEPS[1] else renamed)
    return nodes, out, json.loads(json.dumps(template))


def harness_object_events(template: dict) -> list[dict]:
    """The cache-clear DaemonSets', upload Jobs' and workload Jobs' own events of `PLAN`."""
    def event(kind: str, name: str, reason: str, when: str, message: str) -> dict:
        e = json.loads(json.dumps(template))
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{name}/{reason}"))
        e["metadata"].update(name=f"{name}.{uid[:16]}", namespace=NAMESPACE, uid=uid,
                             creationTimestamp=_iso(_at(when)))
        e.update(reason=reason, message=message, firstTimestamp=_iso(_at(when)),
                 lastTimestamp=_iso(_at(when)),
                 reportingComponent="daemonset-controller" if kind == "DaemonSet"
                 else "job-controller")
        e["source"] = {"component": e["reportingComponent"]}
        e["involvedObject"].update(kind=kind, name=name, namespace=NAMESPACE, uid=uid,
                                   apiVersion="apps/v1" if kind == "DaemonSet" else "batch/v1")
        return e

    out = []
    for step, (clear, _, done, _, up_start, up_done) in PLAN.items():
        out.append(event("DaemonSet", f"clr-{step}", "SuccessfulCreate", clear,
                         f"Created pod: clr-{step}-x1"))
        out.append(event("Job", step, "Completed", done, "Job completed"))
        out.append(event("Job", f"upload-{step}", "SuccessfulCreate", up_start,
                         f"Created pod: upload-{step}-x1"))
        out.append(event("Job", f"upload-{step}", "Completed", up_done, "Job completed"))
    return out


def record_step(results: Path, step: str, image: str, pods: list[dict],
                monkeypatch: pytest.MonkeyPatch) -> dict:
    """`experiments.recorder.main()` for one step, on a simulated clock; its status.json."""
    from experiments import recorder as rec

    _, start, done, rec_start, _, _ = PLAN[step]
    clock = SimClock(_at(rec_start))
    job_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{step}"
    api = FakeApi(clock, job_path, _at(start), _at(done), pods)
    with monkeypatch.context() as m:
        m.setattr(rec, "RESULTS", str(results))
        m.setattr(rec, "time", SimpleNamespace(time=clock.time, sleep=clock.sleep))
        m.setattr(rec, "now", clock.iso)
        m.setattr(rec, "Api", lambda: api)
        env = {"STEP": step, "KIND": "pulling", "NAMESPACE": NAMESPACE,
               "WAIT_FOR": json.dumps([job_path]), "OWNERS": json.dumps([job_path]),
               "POD_SELECTOR": f"study-harness.io/step={step}", "DEADLINE_SECONDS": "600",
               "EXPECT": json.dumps({"pull_images": [image], "nodes": 4})}
        for k, v in env.items():
            m.setenv(k, v)
        assert rec.main() == 0
    return json.loads((results / "steps" / step / "status.json").read_text())


def make_pulling_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """results/<stack>/<run-id>/ of a two-step pulling run, as `study collect` writes it from
    the results bucket (each step's log, status and checks; the merged events; nodes)."""
    from study.lifecycle.collect import step_rows

    nodes, pulls, template = seed_events()
    stream = nodes + pulls + harness_object_events(template)
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
            {"metadata": {"name": p}, "spec": {"nodeName": n},
             "status": {"phase": "Succeeded", "startTime": _iso(_at(PLAN[step][1]))}}
            for p, n in pods], monkeypatch)
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
