"""The step recorder: runs in the cluster after each step's workload is created.

Why it exists: `pulumi up` may run from a laptop that disconnects, so everything the analysis needs
is written inside the cluster, on the results volume, by this script (standard library only; it
runs in a pinned python image next to the event recorder, which holds the ReadWriteOnce claim):

1. wait for the step's Jobs to finish (Complete or Failed) or for the step deadline, deleting the
   workload at the deadline so the next step starts on a quiet cluster;
2. write `/results/steps/<step>/log.txt` (every pod's log), `pods.json` (pod -> node, phase);
3. run `checks.py` (pulls, pods per node, overlay) against the recorded events and pods;
4. write `status.json`: {step, kind, status, started_at, finished_at, checks, ...}.

It exits 0 whatever the verdict (a failed step is data; the next step should still run); it exits
non-zero only when it could not record at all. Configuration comes from environment variables set
by `experiments.component`: STEP, KIND, NAMESPACE, WAIT_FOR, OWNERS, POD_SELECTOR, DEADLINE_SECONDS,
EXPECT (JSON).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402  (mounted next to this file)

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
API = "https://kubernetes.default.svc"
RESULTS = os.environ.get("RESULTS_DIR", "/results")
POLL_SECONDS = 10


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Api:
    def __init__(self) -> None:
        self.token = open(f"{SA}/token").read().strip()
        self.ctx = ssl.create_default_context(cafile=f"{SA}/ca.crt")

    def request(self, path: str, method: str = "GET", raw: bool = False):
        req = urllib.request.Request(API + path, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if method == "DELETE":
            req.add_header("Content-Type", "application/json")
            req.data = json.dumps({"propagationPolicy": "Background"}).encode()
        with urllib.request.urlopen(req, context=self.ctx, timeout=60) as resp:
            body = resp.read()
        return body.decode(errors="replace") if raw else json.loads(body)


DONE = {"Complete": "succeeded", "Completed": "succeeded", "Failed": "failed"}


def state(obj: dict) -> tuple[str, str | None]:
    """('succeeded' | 'failed' | 'running', when) from a Job's or JobSet's conditions."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in DONE:
            return DONE[cond["type"]], cond.get("lastTransitionTime")
    return "running", None


def get(api: Api, path: str) -> dict | None:
    try:
        return api.request(path)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def wait(api: Api, paths: list[str], deadline: float) -> tuple[str, list[dict]]:
    """'succeeded' | 'failed' | 'deadline', and the objects as last seen."""
    objs: list[dict] = []
    while True:
        objs = [o for o in (get(api, p) for p in paths) if o is not None]
        states = [state(o)[0] for o in objs]
        if len(objs) == len(paths) and all(s != "running" for s in states):
            return ("failed" if "failed" in states else "succeeded"), objs
        if time.time() >= deadline:
            return "deadline", objs
        time.sleep(POLL_SECONDS)


def times(objs: list[dict]) -> tuple[str | None, str | None]:
    """Earliest start and latest end of the waited-for objects (Job fields, else conditions)."""
    starts, ends = [], []
    for o in objs:
        st = o.get("status", {})
        start = st.get("startTime") or o.get("metadata", {}).get("creationTimestamp")
        end = st.get("completionTime") or state(o)[1]
        if start:
            starts.append(start)
        if end:
            ends.append(end)
    return (min(starts) if starts else None), (max(ends) if ends else None)


def pods_of(api: Api, ns: str, selector: str) -> list[dict]:
    q = urllib.parse.quote(selector)
    items = api.request(f"/api/v1/namespaces/{ns}/pods?labelSelector={q}")["items"]
    return [
        {
            "name": p["metadata"]["name"],
            "node": p["spec"].get("nodeName", ""),
            "phase": p.get("status", {}).get("phase", ""),
            "started_at": p.get("status", {}).get("startTime"),
        }
        for p in items
    ]


def main() -> int:
    step, ns = os.environ["STEP"], os.environ["NAMESPACE"]
    paths = json.loads(os.environ.get("WAIT_FOR", "[]"))
    owners = json.loads(os.environ.get("OWNERS", "[]"))
    expect = json.loads(os.environ.get("EXPECT", "{}"))
    selector = os.environ["POD_SELECTOR"]
    out = os.path.join(RESULTS, "steps", step)
    os.makedirs(out, exist_ok=True)
    status: dict[str, Any] = {"step": step, "kind": os.environ.get("KIND", ""), "status": "running",
              "recorder_started_at": now()}
    with open(os.path.join(out, "status.json"), "w") as f:
        json.dump(status, f)
    api = Api()
    deadline = time.time() + float(os.environ["DEADLINE_SECONDS"])
    verdict, objs = wait(api, paths, deadline)
    if verdict == "deadline":
        for path in owners:
            try:
                api.request(path, method="DELETE")
            except Exception as exc:  # noqa: BLE001 - recorded, the step is over anyway
                status.setdefault("errors", []).append(f"delete {path}: {exc}")
    started, finished = times(objs)
    status.update(started_at=started, finished_at=finished if verdict != "deadline" else now())
    pods = pods_of(api, ns, selector)
    with open(os.path.join(out, "pods.json"), "w") as f:
        json.dump(pods, f, indent=1)
    log_parts = []
    for p in pods:
        try:
            text = api.request(f"/api/v1/namespaces/{ns}/pods/{p['name']}/log", raw=True)
        except Exception as exc:  # noqa: BLE001 - a pod without logs is recorded as such
            text = f"(no log: {exc})"
        log_parts.append(f"===== pod {p['name']} node {p['node']}\n{text}")
    log = "\n".join(log_parts)
    with open(os.path.join(out, "log.txt"), "w") as f:
        f.write(log)
    results = []
    if "pull_images" in expect:
        time.sleep(15)  # let the event recorder flush the last kubelet events
        with open(os.path.join(RESULTS, "events", "events.jsonl"), "rb") as f:
            events = checks.read_events(f)
        names = {p["name"] for p in pods}
        results.append(checks.check_pulls(events, expect["pull_images"], expect["nodes"], names))
    if "pods_per_node" in expect:
        results.append(checks.check_pods_per_node(pods, expect["nodes"], expect["pods_per_node"]))
    if "overlay_parents" in expect:
        results.append(checks.check_overlay(checks.overlay_section(log),
                                            expect["overlay_parents"]))
    status["checks"] = results
    status["timings"] = checks.timing_lines(log)
    invalid = [r for r in results if not r["valid"]]
    if verdict == "succeeded" and invalid:
        verdict = "invalid"
    status["status"] = verdict
    status["recorder_finished_at"] = now()
    with open(os.path.join(out, "status.json"), "w") as f:
        json.dump(status, f, indent=1)
    for r in invalid:  # loud: the recorder's own log shows up in `pulumi up` on failure
        print(f"STEP {step} INCOMPLETE: {'; '.join(r['problems'])}", file=sys.stderr)  # noqa: T201
    print(json.dumps({"step": step, "status": verdict}))  # noqa: T201 - the Job's own log
    return 0


if __name__ == "__main__":
    sys.exit(main())
