"""The step recorder: runs in the cluster after each step's workload is created.

Why it exists: `pulumi up` may run from a laptop that disconnects, so everything the analysis needs
is written inside the cluster, on the results volume, by this script (standard library only; it
runs in a pinned python image next to the event recorder, which holds the ReadWriteOnce claim):

1. wait for the step's Jobs to finish (Complete or Failed) or for the step deadline, deleting the
   workload at the deadline so the next step starts on a quiet cluster;
2. write `/results/steps/<step>/log.txt` (every pod's log), `pods.json` (pod -> node, phase);
3. run `checks.py` (pulls, pull speed, cache clears, pods per node, overlay) against the recorded
   events, pods and the cache-clear pods' logs;
4. delete what EXPECT["cleanup"] names (the pull Job, per-node DaemonSets) with foreground
   propagation and wait until they and their pods are gone (a `cleanup` check);
5. write `status.json`: {step, kind, status, started_at, finished_at, checks, ...};
6. for the step's upload Job (`experiments.upload`): `checks.json` (the verdicts alone),
   `events.jsonl` (the events recorded so far, up to the last complete line) and, last,
   `MANIFEST.json` ({"files": {name: {"sha256", "bytes"}}}) of the four files.

It exits 0 whatever the verdict (a failed step is data; the next step should still run); it exits
non-zero only when it could not record at all. Configuration comes from environment variables set
by `experiments.component`: STEP, KIND, NAMESPACE, WAIT_FOR, OWNERS, POD_SELECTOR, DEADLINE_SECONDS,
EXPECT (JSON).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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
# How often the recorder looks at the step's Jobs and at what it deletes. Every poll is one GET
# per object, so 2 s costs the API server nothing, while a 10 s poll made each step wait 5 s on
# average after its Job finished, twice (the wait and the cleanup): the seed's own loop waited
# with `kubectl wait`, which returns at once.
POLL_SECONDS = 2
# The event recorder writes each kubelet event within about a second of the API server: a pull
# step reads its events as soon as every pod's `Pulled` is there, and never waits longer.
FLUSH_SECONDS = 15
FLUSH_POLL_SECONDS = 1
CLEANUP_SECONDS = 600  # pods stop within their grace period (1 s for per-node pods, 30 s others)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Api:
    def __init__(self) -> None:
        self.token = open(f"{SA}/token").read().strip()
        self.ctx = ssl.create_default_context(cafile=f"{SA}/ca.crt")

    def request(self, path: str, method: str = "GET", raw: bool = False,
                propagation: str = "Background"):
        req = urllib.request.Request(API + path, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if method == "DELETE":
            req.add_header("Content-Type", "application/json")
            req.data = json.dumps({"propagationPolicy": propagation}).encode()
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


def read_recorded_events() -> list[dict]:
    with open(os.path.join(RESULTS, "events", "events.jsonl"), "rb") as f:
        return checks.read_events(f)


def flushed_events(images: list[str], pods: set[str]) -> list[dict]:
    """The recorded events once every pod's pull of `images` is among them (cold or warm), or
    after FLUSH_SECONDS: the checks then report what is missing."""
    end = time.time() + FLUSH_SECONDS
    while True:
        events = read_recorded_events()
        cold, warm = checks.image_pulls(events, images, pods)
        seen = {(r["pod"], r["image"]) for r in cold + warm}
        if len(seen) >= len(pods) * len(images) or time.time() >= end:
            return events
        time.sleep(FLUSH_POLL_SECONDS)


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
            # container name -> restart count (init containers included): a DaemonSet pod's
            # failed init container is restarted, and only its last attempt's log remains.
            "restarts": {
                c.get("name", ""): int(c.get("restartCount") or 0)
                for key in ("initContainerStatuses", "containerStatuses")
                for c in p.get("status", {}).get(key) or []
            },
        }
        for p in items
    ]


def pod_log(api: Api, ns: str, pod: str, container: str | None = None) -> str:
    """A pod's log (of one container when named); a pod without one is recorded as such."""
    query = f"?container={container}" if container else ""
    try:
        return api.request(f"/api/v1/namespaces/{ns}/pods/{pod}/log{query}", raw=True)
    except Exception as exc:  # noqa: BLE001 - no log is data too: the checks say what it means
        return f"(no log: {exc})"


def delete_and_wait(api: Api, ns: str, paths: list[str], selectors: list[str],
                    timeout: float = CLEANUP_SECONDS) -> dict[str, Any]:
    """Delete `paths` with foreground propagation and wait until they and the pods of
    `selectors` are gone (a `clears`-style verdict).

    Foreground: the API server keeps the owner until the garbage collector has deleted every
    dependent with blockOwnerDeletion (the Job's and DaemonSet's pods), and a pod object goes
    only when its kubelet has stopped its containers; the next step's cache clear then finds
    no running container of the image, and removes the exited ones.
    """
    problems: list[str] = []
    for path in paths:
        try:
            api.request(path, method="DELETE", propagation="Foreground")
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                problems.append(f"delete {path}: HTTP {exc.code}")
    end = time.time() + timeout
    left = list(paths)
    pods: list[dict] = []
    while True:
        left = [p for p in left if get(api, p) is not None]
        pods = [p for sel in selectors for p in pods_of(api, ns, sel)]
        if (not left and not pods) or time.time() >= end:
            break
        time.sleep(POLL_SECONDS)
    if left:
        problems.append(f"still present after {timeout:.0f} s: {', '.join(left)}")
    if pods:
        problems.append(f"{len(pods)} pod(s) still present after {timeout:.0f} s, "
                        f"e.g. {pods[0]['name']} on {pods[0]['node']}")
    return {"check": "cleanup", "deleted": paths, "valid": not problems, "problems": problems,
            "completeness": 1.0 if not problems else 0.0}


def clear_records(api: Api, ns: str, spec: dict[str, str]) -> tuple[list[dict], str]:
    """[{node, pod, ok}] of the cache-clear pods (their `clear` container's log), and the logs."""
    records, parts = [], []
    for p in pods_of(api, ns, spec["selector"]):
        text = pod_log(api, ns, p["name"], spec["container"])
        records.append({"node": p["node"], "pod": p["name"], "ok": spec["ok"] in text,
                        "restarts": p["restarts"].get(spec["container"], 0)})
        parts.append(f"===== cache-clear pod {p['name']} node {p['node']}\n{text}")
    return records, "\n".join(parts)


MANIFESTED = ("log.txt", "status.json", "checks.json", "events.jsonl")


def snapshot_events(src: str, dest: str) -> None:
    """Copy the event recorder's file up to its last complete line (it may be mid-write)."""
    with open(dest + ".tmp", "wb") as out:
        if os.path.exists(src):
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out)
    with open(dest + ".tmp", "rb+") as out:
        data = out.read()
        out.truncate(data.rfind(b"\n") + 1 if b"\n" in data else 0)
    os.replace(dest + ".tmp", dest)


def write_manifest(out: str, names: tuple[str, ...] = MANIFESTED) -> dict[str, Any]:
    """MANIFEST.json of `names` in `out`, written last and atomically: its presence says the
    step's files are complete (the upload copies it last, `study collect` checks against it)."""
    files = {}
    for name in names:
        digest = hashlib.sha256()
        size = 0
        with open(os.path.join(out, name), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
        files[name] = {"sha256": digest.hexdigest(), "bytes": size}
    manifest = {"files": files, "written_at": now()}
    tmp = os.path.join(out, "MANIFEST.json.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(out, "MANIFEST.json"))
    return manifest


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
    log_parts = [f"===== pod {p['name']} node {p['node']}\n{pod_log(api, ns, p['name'])}"
                 for p in pods]
    log = "\n".join(log_parts)
    clears: list[dict] = []
    if "clears" in expect:
        clears, clear_log = clear_records(api, ns, expect["clears"])
        log_parts.append(clear_log)
    with open(os.path.join(out, "log.txt"), "w") as f:
        f.write("\n".join(log_parts))
    results = []
    if "pull_images" in expect:
        names = {p["name"] for p in pods}
        events = flushed_events(expect["pull_images"], names)
        results.append(checks.check_pulls(events, expect["pull_images"], expect["nodes"], names))
        if expect.get("pull_speed"):
            results.append(checks.check_pull_speed(events, expect["pull_speed"], names))
        if "clears" in expect:
            cold, _ = checks.image_pulls(events, expect["pull_images"], names)
            pulled = {r["node"] for r in cold} | {p["node"] for p in pods if p["node"]}
            results.append(checks.check_clears(clears, pulled, expect["nodes"]))
    if "pods_per_node" in expect:
        results.append(checks.check_pods_per_node(pods, expect["nodes"], expect["pods_per_node"]))
    if "overlay_parents" in expect:
        results.append(checks.check_overlay(checks.overlay_section(log),
                                            expect["overlay_parents"]))
    if expect.get("cleanup"):
        selectors = [selector] + ([expect["clears"]["selector"]] if "clears" in expect else [])
        results.append(delete_and_wait(api, ns, expect["cleanup"], selectors))
    status["checks"] = results
    status["timings"] = checks.timing_lines(log)
    invalid = [r for r in results if not r["valid"]]
    if verdict == "succeeded" and invalid:
        verdict = "invalid"
    status["status"] = verdict
    status["recorder_finished_at"] = now()
    with open(os.path.join(out, "status.json"), "w") as f:
        json.dump(status, f, indent=1)
    with open(os.path.join(out, "checks.json"), "w") as f:
        json.dump(results, f, indent=1)
    snapshot_events(os.path.join(RESULTS, "events", "events.jsonl"),
                    os.path.join(out, "events.jsonl"))
    write_manifest(out)
    for r in invalid:  # loud: the recorder's own log shows up in `pulumi up` on failure
        print(f"STEP {step} INCOMPLETE: {'; '.join(r['problems'])}", file=sys.stderr)  # noqa: T201
    print(json.dumps({"step": step, "status": verdict}))  # noqa: T201 - the Job's own log
    return 0


if __name__ == "__main__":
    sys.exit(main())
