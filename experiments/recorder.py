"""The step recorder: runs in the cluster after each step's workload is created.

Why it exists: `pulumi up` may run from a laptop that disconnects, so everything the analysis needs
is written inside the cluster, on the results volume, by this script (standard library only; it
runs in a pinned python image next to the event recorder, which holds the ReadWriteOnce claim):

1. wait for the step's Jobs to finish (Complete or Failed) or for the step deadline, deleting the
   workload at the deadline so the next step starts on a quiet cluster. It watches each object
   (a Kubernetes watch from the resourceVersion it read), so the end is noticed when the API
   server commits it, and falls back to 1 s polls when a watch cannot be opened;
2. write `/results/steps/<step>/log.txt` (every pod's log), `pods.json` (pod -> node, phase);
3. run `checks.py` (pulls, pull speed, cache clears, pods per node, overlay) against the recorded
   events, pods and the logs of each pull pod's `clear` init container;
4. delete what EXPECT["cleanup"] names (the pull Job, the pre-pull DaemonSet) with foreground
   propagation and wait until they and their pods are gone (a `cleanup` check);
5. write `status.json`: {step, kind, status, started_at, finished_at, checks, ...};
6. for the step's upload Job (`experiments.upload`): `checks.json` (the verdicts alone),
   `events.jsonl` (the events recorded so far, up to the last complete line) and, last,
   `MANIFEST.json` ({"files": {name: {"sha256", "bytes"}}}) of the four files.

It exits 0 whatever the verdict (a failed step is data; the next step should still run), with one
exception: a cache clear that failed: its FAIL line, its init container's own exit (1-128: the
script, nsenter, or the runtime failing to start it, `StartError` with 128), or a clear that
cannot start at all (`ErrImagePull`, `ImagePullBackOff`, `CreateContainerError`,
`CreateContainerConfigError`, `InvalidImageName`: it never terminates, so the recorder stops
waiting once it has been so for CLEAR_STUCK_SECONDS). That failure is the node's, not the
step's (no crictl or ctr, a layer held by another image, no clear image), so every later step
would fail the same way and pay for it: the recorder records the step in full, writes `stop`
into its status.json and the reason into its termination message, and exits STOP_EXIT. Its Job
then fails (after its retries, which find the stop recorded and exit at once), and
pulumi-kubernetes fails the `up` on the Job's BackoffLimitExceeded with the pod's termination
message as the error (provider/pkg/await/checker/job/check.go, checker/pod/check.go), so the
next step is never created; `study run` then collects and destroys as after any failed `up`.
Why not `podFailurePolicy` (FailJob on exit 3, no retries): that Job fails with reason
`PodFailurePolicy`, and the Job checker reports only `BackoffLimitExceeded` and
`DeadlineExceeded` as errors and otherwise waits for `Complete` (check.go
`collectJobConditionErrors`, read at v4.32.0-27-g9497796), so `up` would hang until its timeout.
It exits non-zero otherwise only when it could not record at all.

Retries are idempotent (the recorder Job has backoffLimit 2): status.json is written atomically
at each phase (`waiting` until a deadline fixed at the first start; `waited`: the verdict;
`recorded`: logs, pods and checks, before the cleanup deletes anything; `done`), and an attempt
that finds an earlier one's status, with none of the step's objects newer than that attempt,
resumes from its phase instead of waiting for objects that will never come back (which
recorded `deadline` and erased a stop). The cleanup retries the API
server's transient answers (5xx, 429, a dropped connection) until its own limit.

Configuration comes from environment variables set by `experiments.component`: STEP, KIND,
NAMESPACE, WAIT_FOR, OWNERS, POD_SELECTOR, DEADLINE_SECONDS, EXPECT (JSON).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402  (mounted next to this file)

SA = "/var/run/secrets/kubernetes.io/serviceaccount"
API = "https://kubernetes.default.svc"
RESULTS = os.environ.get("RESULTS_DIR", "/results")
TERMINATION_LOG = "/dev/termination-log"  # the kubelet's default terminationMessagePath
# How often the recorder looks at what it deletes, and at the step's Jobs when a watch cannot be
# opened. Every poll is one GET per object, so 1 s costs the API server nothing; every second
# after a step's end is paid by the whole cluster (a 2 s poll waited 1 s on average, twice: the
# wait and the cleanup). The seed's own loop waited with `kubectl wait`, a watch.
POLL_SECONDS = 1
# A watch's own limit (`timeoutSeconds`): the API server ends it then (or earlier), and the
# recorder reads the object again and watches on from its new resourceVersion.
WATCH_SECONDS = 300
# The event recorder writes each kubelet event within about a second of the API server: a pull
# step reads its events as soon as every pod's `Pulled` is there, and never waits longer.
FLUSH_SECONDS = 15
FLUSH_POLL_SECONDS = 0.5
CLEANUP_SECONDS = 600  # pods stop within their grace period (1 s for per-node pods, 30 s others)
LOG_READERS = 8  # pod logs read at once: 64 pods x 2 containers, one GET each
STOP_EXIT = 3  # a cache clear failed: stop the run (see the module docstring)
# Waiting reasons of a clear container that cannot start (kubernetes/kubernetes
# pkg/kubelet/images/types.go ErrImagePull, ImagePullBackOff, InvalidImageName;
# pkg/kubelet/kuberuntime/kuberuntime_container.go CreateContainerError,
# CreateContainerConfigError). A container containerd failed to start is reported terminated,
# exit code 128, reason StartError (containerd internal/cri/server/container_start.go). With
# restartPolicy Never such a pod stays Pending and its Job runs on to its deadline.
STUCK_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerError",
                 "CreateContainerConfigError")
# How long a clear may wait in one of them before the step counts as failed: the kubelet retries
# an image pull with a back-off of 10 s doubling to 300 s (pkg/kubelet/kubelet.go backOffPeriod,
# MaxContainerBackOff), so 120 s lets it retry three times (a registry blip passes), while a pull
# step's deadline gives its pods 300 s of slack: every later step would wait out its deadline too.
CLEAR_STUCK_SECONDS = 120
CLEAR_CHECK_SECONDS = 10  # how often the clear pods are looked at while a pull step runs


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Api:
    """The Kubernetes API as the pod's service account sees it (`base` and `token` for tests)."""

    def __init__(self, base: str = API, token: str | None = None) -> None:
        self.base = base
        self.token = token if token is not None else open(f"{SA}/token").read().strip()
        self.ctx = (ssl.create_default_context(cafile=f"{SA}/ca.crt")
                    if base.startswith("https://") else None)

    def _open(self, path: str, method: str, timeout: float, propagation: str):
        req = urllib.request.Request(self.base + path, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if method == "DELETE":
            req.add_header("Content-Type", "application/json")
            req.data = json.dumps({"propagationPolicy": propagation}).encode()
        return urllib.request.urlopen(req, context=self.ctx, timeout=timeout)

    def request(self, path: str, method: str = "GET", raw: bool = False,
                propagation: str = "Background"):
        with self._open(path, method, 60, propagation) as resp:
            body = resp.read()
        return body.decode(errors="replace") if raw else json.loads(body)

    def watch(self, path: str, timeout: float) -> Iterator[dict]:
        """The watch events ({type, object}) of a `?watch=1` request, one JSON object a line,
        until the server ends the stream."""
        with self._open(path, "GET", timeout, "Background") as resp:
            for line in resp:
                if line.strip():
                    yield json.loads(line)


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


def transient(exc: BaseException) -> bool:
    """An answer worth asking again: the API server busy or restarting (5xx, 429) or the
    connection dropped (reset, closed without a response, timed out)."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or exc.code >= 500
    return isinstance(exc, (urllib.error.URLError, ConnectionError, TimeoutError,
                            http.client.HTTPException))


def retried(call: Callable[[], Any], end: float) -> Any:
    """`call()`, asked again every POLL_SECONDS while its failure is transient, until `end`."""
    while True:
        try:
            return call()
        except Exception as exc:
            if not transient(exc) or time.time() >= end:
                raise
        time.sleep(POLL_SECONDS)


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


def watch_query(path: str, resource_version: str, seconds: int) -> str:
    """The watch of the one object at `path` (its collection, a name field selector), from
    `resource_version` on."""
    collection, name = path.rsplit("/", 1)
    query = urllib.parse.urlencode({
        "watch": "1", "fieldSelector": f"metadata.name={name}",
        "resourceVersion": resource_version, "timeoutSeconds": str(seconds),
        "allowWatchBookmarks": "false"})
    return f"{collection}?{query}"


def until_done(api: Api, path: str, deadline: float,
               abort: Callable[[], bool] | None = None) -> dict | None:
    """The object at `path` once it is done, or as last seen at the deadline or when `abort()`
    says so (None: absent); `abort` is asked every CLEAR_CHECK_SECONDS at most.

    Read, then watch from the resourceVersion read: an update committed after the read is in
    the watch, one committed before it is in the read, so the end is never missed and is seen
    as soon as the API server sends it. A watch that ends (its timeout, an `ERROR` event such
    as 410 Gone, a dropped connection) or cannot be opened leads to a new read, after
    POLL_SECONDS when it failed at once.
    """
    while True:
        obj = get(api, path)
        if (obj is not None and state(obj)[0] != "running") or time.time() >= deadline:
            return obj
        if abort is not None and abort():
            return obj
        rv = (obj or {}).get("metadata", {}).get("resourceVersion")
        if not rv:  # absent (deleted or never created): look again until the deadline
            time.sleep(POLL_SECONDS)
            continue
        window = WATCH_SECONDS if abort is None else CLEAR_CHECK_SECONDS
        seconds = max(1, min(window, int(deadline - time.time())))
        ev, seen = watch_for(api, path, rv, seconds, deadline, _ended)
        if ev is not None:
            return ev.get("object") or {}
        if not seen:
            time.sleep(POLL_SECONDS)


def _ended(ev: dict) -> bool:
    """A watch event that shows the object done (Complete or Failed)."""
    return (ev.get("type") in ("ADDED", "MODIFIED")
            and state(ev.get("object") or {})[0] != "running")


def watch_for(api: Api, path: str, rv: str, seconds: int, end: float,
              hit: Callable[[dict], bool]) -> tuple[dict | None, int]:
    """Watch the object at `path` from resourceVersion `rv`: the first event `hit` accepts (else
    None: an `ERROR` event such as 410 Gone, the object's DELETED, `end`, the watch's own timeout
    or a dropped connection), and how many events came (0: the watch failed or sent nothing, so
    the caller waits POLL_SECONDS before it reads again)."""
    seen = 0
    try:
        for ev in api.watch(watch_query(path, rv, seconds), seconds + 30):
            seen += 1
            if hit(ev):
                return ev, seen
            if ev.get("type") in ("ERROR", "DELETED") or time.time() >= end:
                break
    except (OSError, ValueError, http.client.HTTPException):
        seen = 0  # the API server or the network: read again, then watch again
    return None, seen


def until_gone(api: Api, path: str, end: float) -> bool:
    """Whether the object at `path` is gone by `end`: read, then watch from the version read
    for its DELETED (as `until_done` watches for its end)."""
    while True:
        obj = retried(partial(get, api, path), end)
        if obj is None:
            return True
        rv = obj.get("metadata", {}).get("resourceVersion")
        if time.time() >= end:
            return False
        seen = 0
        if rv:
            seconds = max(1, min(WATCH_SECONDS, int(end - time.time())))
            ev, seen = watch_for(api, path, rv, seconds, end,
                                 lambda e: e.get("type") == "DELETED")
            if ev is not None:
                return True
        if not seen:
            time.sleep(POLL_SECONDS)


def wait(api: Api, paths: list[str], deadline: float, stuck: StuckClear | None = None
         ) -> tuple[str, list[dict]]:
    """'succeeded' | 'failed' | 'deadline' | 'stuck' (a clear that cannot start), and the
    objects as last seen.

    One object after another: the step ends when the last of them does, and waiting for one
    while another ends costs nothing, since a done object is returned at its first read."""
    objs = [until_done(api, p, deadline, stuck) for p in paths]
    found = [o for o in objs if o is not None]
    if stuck is not None and stuck.pod is not None:
        return "stuck", found
    states = [state(o)[0] for o in found]
    if len(found) == len(paths) and all(s != "running" for s in states):
        return ("failed" if "failed" in states else "succeeded"), found
    return "deadline", found


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
            # container name -> restart count (init containers included): a restarted init
            # container's failed attempt leaves only the last attempt's log.
            "restarts": {
                c.get("name", ""): int(c.get("restartCount") or 0)
                for key in ("initContainerStatuses", "containerStatuses")
                for c in p.get("status", {}).get(key) or []
            },
            # init container name -> {state: waiting | terminated, reason, message}: a clear
            # that never started (ErrImagePull...) or failed to start (StartError) says why.
            "init_states": {
                c.get("name", ""): {"state": k, "reason": v.get("reason") or "",
                                    "message": v.get("message") or ""}
                for c in p.get("status", {}).get("initContainerStatuses") or []
                for k, v in (c.get("state") or {}).items()
                if k in ("waiting", "terminated") and v is not None
            },
            # container name -> exit code, for the containers that have terminated.
            "exit_codes": {
                c.get("name", ""): int(c["state"]["terminated"].get("exitCode") or 0)
                for key in ("initContainerStatuses", "containerStatuses")
                for c in p.get("status", {}).get(key) or []
                if (c.get("state") or {}).get("terminated") is not None
            },
        }
        for p in items
    ]


def pod_logs(api: Api, ns: str, reads: list[tuple[str, str | None]]) -> list[str]:
    """The logs of (pod, container) pairs, read LOG_READERS at a time, in the order asked."""
    if not reads:
        return []
    with ThreadPoolExecutor(max_workers=min(LOG_READERS, len(reads))) as pool:
        return list(pool.map(lambda r: pod_log(api, ns, r[0], r[1]), reads))


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
    end = time.time() + timeout
    for path in paths:
        try:
            retried(partial(api.request, path, method="DELETE", propagation="Foreground"), end)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # 404: already gone, nothing to wait for
                problems.append(f"delete {path}: HTTP {exc.code}")
    for path in paths:  # each watched until it is gone; foreground: its pods went first
        until_gone(api, path, end)
    left = list(paths)
    pods: list[dict] = []
    while True:  # then what is left: its pods, and anything the watches could not see go
        left = [p for p in left if retried(partial(get, api, p), end) is not None]
        pods = [p for sel in selectors for p in retried(partial(pods_of, api, ns, sel), end)]
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


def clear_records(api: Api, ns: str, spec: dict[str, str], pods: list[dict]
                  ) -> tuple[list[dict], str]:
    """[{node, pod, ok, failed, fail, restarts}] of each pod's own clear container (its log and
    its exit code), and the logs. `pods`: the pods of spec["selector"], as `pods_of` gives them.

    `failed`: the clear could not prove the cache cold: its FAIL line, an exit code of its own
    (1-127: the script, nsenter or a missing shell; 128: the runtime could not start it), or a
    clear that cannot start (`clear_failure`); `fail`: that line, else the reason. A clear
    killed by a signal (exit 128 + n: the Job failing on another pod, its deadline) and one that
    never ran (never scheduled) are neither ok nor failed."""
    name = spec["container"]
    texts = pod_logs(api, ns, [(p["name"], name) for p in pods])
    records, parts = [], []
    for p, text in zip(pods, texts, strict=True):
        line = next((ln.strip() for ln in text.splitlines()
                     if spec.get("fail") and ln.startswith(spec["fail"])), None)
        fail = line or clear_failure(p, name)
        records.append({"node": p["node"], "pod": p["name"], "ok": spec["ok"] in text,
                        "failed": fail is not None, "fail": fail,
                        "restarts": p["restarts"].get(name, 0)})
        parts.append(f"===== cache-clear pod {p['name']} node {p['node']}\n{text}")
    return records, "\n".join(parts)


def clear_failure(pod: dict, name: str) -> str | None:
    """Why the container `name` of `pod` (as `pods_of` gives it) failed as a clear, from its
    status alone: it cannot start (a STUCK_REASONS wait), the runtime failed to start it
    (terminated, `StartError`, exit code 128), or it exited 1-127. None otherwise."""
    st = pod.get("init_states", {}).get(name) or {}
    code = pod.get("exit_codes", {}).get(name)
    why = st.get("reason", "") + (f": {st['message']}" if st.get("message") else "")
    if st.get("state") == "waiting" and st.get("reason") in STUCK_REASONS:
        return f"cannot start: {why}"
    if code == 128 or (st.get("state") == "terminated" and st.get("reason") == "StartError"):
        return f"exit code {code}, {why}" if why else f"exit code {code}"
    if code is not None and 0 < code < 128:
        return f"exit code {code}"
    return None


class StuckClear:
    """`abort` for `wait` on a pull step: true once a pod's clear has waited in a STUCK_REASONS
    reason for CLEAR_STUCK_SECONDS (`pod` then names it). Each look is one pod LIST; one that
    fails is no evidence, and the next look tries again."""

    def __init__(self, api: Api, ns: str, spec: dict[str, str]) -> None:
        self.api, self.ns, self.spec = api, ns, spec
        self.pod: str | None = None
        self.since: dict[str, float] = {}

    def __call__(self) -> bool:
        if self.pod is not None:
            return True
        try:
            pods = pods_of(self.api, self.ns, self.spec["selector"])
        except Exception:  # noqa: BLE001 - a missed look costs one more look
            return False
        t = time.time()
        waiting = {}
        for p in pods:
            st = p["init_states"].get(self.spec["container"]) or {}
            if st.get("state") == "waiting" and st.get("reason") in STUCK_REASONS:
                waiting[p["name"]] = self.since.get(p["name"], t)
        self.since = waiting
        self.pod = next((n for n, t0 in sorted(waiting.items())
                         if t - t0 >= CLEAR_STUCK_SECONDS), None)
        return self.pod is not None


def stop_reason(step: str, clears: list[dict]) -> str | None:
    """Why the run must stop after this step: a cache clear that failed, named by its pod."""
    failed = sorted((r for r in clears if r.get("failed")),
                    key=lambda r: not str(r.get("fail")).startswith("cache-clear:"))
    if not failed:
        return None
    r = failed[0]  # one with the clear's own FAIL line, when there is one
    more = f" (and {len(failed) - 1} more pod(s))" if len(failed) > 1 else ""
    return (f"study stopped at step {step}: the cache clear failed in pod {r['pod']} on node "
            f"{r['node'] or '?'}{more}: {r['fail']}; every later step would fail the same way. "
            f"Fix the node, then resume (steps/{step}/log.txt has every clear's log)")


def announce_stop(reason: str) -> int:
    """The stop, where `pulumi up` and `kubectl` show it: stderr and the termination message."""
    print(reason, file=sys.stderr)  # noqa: T201 - the Job's own log
    try:
        with open(TERMINATION_LOG, "w") as f:
            f.write(reason[:4000])  # the kubelet keeps 4096 bytes of it
    except OSError:
        pass  # not in a pod: stderr says it
    return STOP_EXIT


# What status.json says the recorder has done: `waiting` for the step (until `wait_until`, epoch
# seconds), `waited` (its `verdict`), `recorded` (logs, pods, checks, any stop), `done`.
PHASES = ("waiting", "waited", "recorded", "done")


def write_json(path: str, data: Any) -> None:
    """`data` as JSON at `path`, atomically (a temporary file, then os.replace): a recorder
    killed mid-write leaves the previous version, never a truncated file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def created_after(obj: dict, since: str | None) -> bool:
    """Whether `obj` is not being deleted and was created after `since` (an earlier attempt's
    start): a resumed run's new object, not the one that attempt waited for. Unknown times
    count as new."""
    meta = obj.get("metadata", {})
    if meta.get("deletionTimestamp"):
        return False
    created = meta.get("creationTimestamp")
    if not created or not since:
        return True
    return datetime.fromisoformat(created) > datetime.fromisoformat(since)


def earlier_attempt(api: Api, out: str, paths: list[str]) -> dict[str, Any] | None:
    """The status an earlier attempt of this recorder left, when this attempt resumes from it:
    none of the step's objects is newer than that attempt (each is absent, being deleted, or
    created before it started). A resumed run that created the step again has newer objects,
    and records it anew."""
    try:
        with open(os.path.join(out, "status.json")) as f:
            status = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict) or status.get("phase") not in PHASES:
        return None
    since = status.get("recorder_started_at")
    for p in paths:
        obj = get(api, p)
        if obj is not None and created_after(obj, since):
            return None
    return status


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
    status_path = os.path.join(out, "status.json")
    api = Api()
    status = earlier_attempt(api, out, paths)
    if status is None:
        status = {"step": step, "kind": os.environ.get("KIND", ""), "status": "running",
                  "phase": "waiting", "recorder_started_at": now(),
                  "wait_until": time.time() + float(os.environ["DEADLINE_SECONDS"])}
        write_json(status_path, status)
    elif status["phase"] == "done" and os.path.exists(os.path.join(out, "MANIFEST.json")):
        # A retry of this Job after a stop: the step is recorded in full, the run stops.
        return announce_stop(status["stop"]) if status.get("stop") else 0
    else:
        status.setdefault("resumed_at", []).append(now())
    if status["phase"] == "waiting":
        wait_and_record_verdict(api, status, status_path, paths, owners, expect)
    if status["phase"] == "waited":
        record(api, status, status_path, ns, selector, expect, owners)
    if status["phase"] == "recorded":
        if expect.get("cleanup"):
            selectors = list(dict.fromkeys(
                [selector] + ([expect["clears"]["selector"]] if "clears" in expect else [])))
            status["checks"].append(delete_and_wait(api, ns, expect["cleanup"], selectors))
        invalid = [r for r in status["checks"] if not r["valid"]]
        if status["verdict"] == "succeeded" and invalid:
            status["verdict"] = "invalid"
        status["status"] = status.pop("verdict")
        status["recorder_finished_at"] = now()
        status["phase"] = "done"
        write_json(status_path, status)
    results = status["checks"]
    write_json(os.path.join(out, "checks.json"), results)
    snapshot_events(os.path.join(RESULTS, "events", "events.jsonl"),
                    os.path.join(out, "events.jsonl"))
    write_manifest(out)
    for r in results:  # loud: the recorder's own log shows up in `pulumi up` on failure
        if not r["valid"]:
            print(f"STEP {step} INCOMPLETE: {'; '.join(r['problems'])}",  # noqa: T201
                  file=sys.stderr)
    print(json.dumps({"step": step, "status": status["status"]}))  # noqa: T201 - the Job's log
    stop = status.get("stop")
    return announce_stop(stop) if stop else 0


def wait_and_record_verdict(api: Api, status: dict[str, Any], status_path: str,
                            paths: list[str], owners: list[str], expect: dict) -> None:
    """Wait for the step (phase `waiting` -> `waited`), then stop what is left of it at the
    deadline. A clear that cannot start ends the wait too: its step has failed."""
    deadline = float(status["wait_until"])  # a retry waits only as long as the first attempt
    ns = os.environ["NAMESPACE"]
    stuck = StuckClear(api, ns, expect["clears"]) if "clears" in expect else None
    verdict, objs = wait(api, paths, deadline, stuck)
    started, finished = times(objs)
    status.update(started_at=started,
                  finished_at=finished if verdict in ("succeeded", "failed") else now())
    if verdict == "stuck":
        status["stuck"] = (f"the cache clear of pod {stuck.pod if stuck else '?'} could not "
                           f"start for {CLEAR_STUCK_SECONDS} s")
        verdict = "failed"
    status.update(verdict=verdict, phase="waited")
    write_json(status_path, status)
    if verdict == "deadline":  # a stuck clear's pods are recorded first (see `record`)
        for path in owners:
            try:
                api.request(path, method="DELETE")
            except Exception as exc:  # noqa: BLE001 - recorded, the step is over anyway
                status.setdefault("errors", []).append(f"delete {path}: {exc}")


def record(api: Api, status: dict[str, Any], status_path: str, ns: str, selector: str,
           expect: dict, owners: list[str]) -> None:
    """Logs, pods and the checks (phase `waited` -> `recorded`), all before the cleanup deletes
    anything, so a retry after it resumes from them."""
    out = os.path.dirname(status_path)
    pods = pods_of(api, ns, selector)
    with open(os.path.join(out, "pods.json"), "w") as f:
        json.dump(pods, f, indent=1)
    log_parts = [f"===== pod {p['name']} node {p['node']}\n{text}"
                 for p, text in zip(pods, pod_logs(api, ns, [(p["name"], None) for p in pods]),
                                    strict=True)]
    log = "\n".join(log_parts)
    clears: list[dict] = []
    if "clears" in expect:
        spec = expect["clears"]
        clear_pods = pods if spec["selector"] == selector else pods_of(api, ns, spec["selector"])
        clears, clear_log = clear_records(api, ns, spec, clear_pods)
        log_parts.append(clear_log)
    with open(os.path.join(out, "log.txt"), "w") as f:
        f.write("\n".join(log_parts))
    if "stuck" in status and not expect.get("cleanup"):  # no cleanup to stop its pods
        for path in owners:
            try:
                api.request(path, method="DELETE")
            except Exception as exc:  # noqa: BLE001 - recorded, the step is over anyway
                status.setdefault("errors", []).append(f"delete {path}: {exc}")
    results = []
    if "pull_images" in expect:
        names = {p["name"] for p in pods}
        events = flushed_events(expect["pull_images"], names)
        results.append(checks.check_pulls(events, expect["pull_images"], expect["nodes"], names))
        if expect.get("pull_speed"):
            results.append(checks.check_pull_speed(events, expect["pull_speed"], names))
        if "clears" in expect:
            # Every pod that pulled (a cold pull's event names it), and every scheduled pod.
            cold, _ = checks.image_pulls(events, expect["pull_images"], names)
            pulled = {r["pod"]: r["node"] for r in cold}
            pulled.update({p["name"]: p["node"] for p in pods if p["node"]})
            results.append(checks.check_clears(clears, pulled, expect["nodes"]))
    if "pods_per_node" in expect:
        results.append(checks.check_pods_per_node(pods, expect["nodes"], expect["pods_per_node"]))
    if "overlay_parents" in expect:
        results.append(checks.check_overlay(checks.overlay_section(log),
                                            expect["overlay_parents"]))
    status["checks"] = results
    status["timings"] = checks.timing_lines(log)
    stop = stop_reason(status["step"], clears)
    if stop is not None:
        status["stop"] = stop
    status["phase"] = "recorded"
    write_json(status_path, status)


if __name__ == "__main__":
    sys.exit(main())
