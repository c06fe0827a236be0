"""A Kubernetes API server stand-in on loopback for the step recorder's tests.

Why a real HTTP server: the recorder talks to the API with urllib (GETs, foreground DELETEs, log
reads, and watches that stream one JSON event a line), and only a server exercises that code as
the cluster does. What it serves, as the API server does (kubernetes/kubernetes
staging/src/k8s.io/apiserver, apimachinery pkg/watch, v1.35):

- GET of an object path: the object, with a `metadata.resourceVersion` that grows with every
  change; 404 (a Status object) when there is none;
- GET `<collection>?watch=1&fieldSelector=metadata.name=N&resourceVersion=RV&timeoutSeconds=T`:
  a chunked stream of `{"type": ADDED|MODIFIED|DELETED, "object": ...}` lines for that object,
  every change after RV, then the ones that happen while the watch is open, until T seconds
  (or `max_watch_seconds`, the server's own limit: a watch may end at any time);
  `{"type": "ERROR", ...}` with a 410 Status when RV is older than the oldest change kept;
- GET `/api/v1/namespaces/NS/pods?labelSelector=k=v,...`: the pods whose labels match;
- GET `.../pods/NAME/log[?container=C]`: that container's log, without `container` the pod's
  only regular container; 400 for a container that never started (its init container failed);
- DELETE with `{"propagationPolicy": ...}`: recorded; a foreground delete first marks the object
  (`deletionTimestamp`, the `foregroundDeletion` finalizer: a MODIFIED event), and the object and
  the pods it owns go `lag` reads later, or `delete_after` seconds later when that is set (the
  garbage collector at its own pace, seen by watchers as DELETED);
- `flaky[(method, path)]`: the answers the next plain requests to that path get before it is
  served again, as a busy or restarting API server gives them: an HTTP status (503, 429, 500,
  with a Status body) or 0, a connection closed without a response (urllib raises
  RemoteDisconnected, a ConnectionResetError).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class FakeKubeApi:
    """State and behaviour; `serve()` puts it on 127.0.0.1."""

    def __init__(self, objects: dict[str, dict], pods: list[dict], logs: dict[tuple, str],
                 lag: int = 2, max_watch_seconds: float = 0.2, history: int = 100,
                 latency: float = 0.0, delete_after: float | None = None):
        self.lock = threading.Condition()
        self.rv = 100
        self.changes: list[tuple[int, str, str, dict]] = []  # (rv, type, path, object)
        self.history = history
        self.objects: dict[str, dict] = {}
        with self.lock:
            for path, obj in objects.items():
                self._store(path, obj, "ADDED")
        self.pods, self.logs, self.lag = pods, logs, lag
        self.max_watch_seconds = max_watch_seconds
        self.latency = latency  # seconds each plain request takes (an API server's round trip)
        self.delete_after = delete_after
        self.deletes: list[tuple[str, str]] = []
        self.countdown: dict[str, int] = {}
        self.owned: dict[str, dict[str, str]] = {}  # object path -> labels of the pods it owns
        self.requests: list[tuple[str, str]] = []
        self.watches: list[str] = []
        self.watch_status: int | None = None  # answer watches with this error (RBAC: 403)
        self.on_watch = None  # called with the fake as a watch opens, before it streams
        self.flaky: dict[tuple[str, str], list[int]] = {}
        self.server: ThreadingHTTPServer | None = None

    # -- state -------------------------------------------------------------------------------
    def _store(self, path: str, obj: dict, kind: str) -> None:
        self.rv += 1
        obj = json.loads(json.dumps(obj))
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        obj["metadata"].setdefault("name", path.rsplit("/", 1)[1])
        self.objects[path] = obj
        self._record(kind, path, obj)

    def _record(self, kind: str, path: str, obj: dict) -> None:
        self.changes.append((self.rv, kind, path, obj))
        del self.changes[:-self.history]
        self.lock.notify_all()

    def update(self, path: str, obj: dict) -> None:
        """A controller's write (the Job controller marking the Job Complete): watchers see it."""
        with self.lock:
            self._store(path, obj, "MODIFIED")

    def own(self, path: str, labels: dict[str, str]) -> None:
        """The pods with `labels` belong to `path` (deleted with it in the foreground)."""
        self.owned[path] = labels

    def _remove(self, path: str) -> None:
        obj = self.objects.pop(path)
        self.rv += 1
        self._record("DELETED", path, obj)
        labels = self.owned.get(path)
        if labels:
            self.pods = [p for p in self.pods if not _matches(p, labels)]

    def _remove_later(self, path: str) -> None:
        with self.lock:
            if path in self.objects:
                self._remove(path)

    # -- requests ----------------------------------------------------------------------------
    def handle(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        """(HTTP status, body) of a plain request; a watch is `("watch", query)`."""
        url = urlsplit(target)
        path, query = url.path, parse_qs(url.query)
        self.requests.append((method, target))
        with self.lock:
            errors = self.flaky.get((method, path))
            if errors and query.get("watch") != ["1"]:
                code = errors.pop(0)
                return code, _status(code, "ServiceUnavailable" if code else "")
            if method == "DELETE":
                if path not in self.objects:
                    return 404, _status(404, "NotFound")
                policy = json.loads(body or b"{}").get("propagationPolicy", "Background")
                self.deletes.append((path, policy))
                obj = json.loads(json.dumps(self.objects[path]))
                obj["metadata"]["deletionTimestamp"] = "2024-11-10T06:21:00Z"
                if policy == "Foreground":
                    obj["metadata"]["finalizers"] = ["foregroundDeletion"]
                self._store(path, obj, "MODIFIED")
                if self.delete_after is None:
                    self.countdown[path] = self.lag
                else:
                    threading.Timer(self.delete_after, self._remove_later, (path,)).start()
                return 200, self.objects[path]
            if query.get("watch") == ["1"]:
                if self.watch_status is not None:
                    return self.watch_status, _status(self.watch_status, "Forbidden")
                return -1, query
            if path.endswith("/log"):
                pod = path.split("/pods/")[1].split("/")[0]
                container = query.get("container", [None])[0]
                text = self.logs.get((pod, container))
                if text is None:
                    return 400, _status(400, "BadRequest")
                return 200, text
            if path.endswith("/pods"):
                sel = query.get("labelSelector", [""])[0]
                want = dict(kv.split("=", 1) for kv in unquote(sel).split(",") if kv)
                return 200, {"kind": "PodList", "items": [p for p in self.pods
                                                          if _matches(p, want)]}
            if path in self.objects:
                if path in self.countdown:
                    self.countdown[path] -= 1
                    if self.countdown[path] < 0:
                        self._remove(path)
                        return 404, _status(404, "NotFound")
                return 200, self.objects[path]
            return 404, _status(404, "NotFound")

    def stream(self, collection: str, query: dict[str, list[str]]):
        """The watch's events, as the API server sends them (see the module docstring)."""
        self.watches.append(collection)
        if self.on_watch is not None:
            hook, self.on_watch = self.on_watch, None
            hook(self)
        name = query["fieldSelector"][0].removeprefix("metadata.name=")
        path = f"{collection}/{name}"
        since = int(query["resourceVersion"][0])
        limit = min(float(query.get("timeoutSeconds", ["1"])[0]), self.max_watch_seconds)
        end = time.monotonic() + limit
        with self.lock:
            if self.changes and since < self.changes[0][0] - 1:
                yield {"type": "ERROR", "object": _status(410, "Expired")}
                return
            while True:
                for rv, kind, p, obj in self.changes:
                    if rv > since and p == path:
                        since = rv
                        yield {"type": kind, "object": obj}
                left = end - time.monotonic()
                if left <= 0:
                    return
                self.lock.wait(left)

    def serve(self) -> str:
        """Start on an ephemeral loopback port; the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def date_time_string(self, timestamp=None):  # the tests' clock is not the server's
                return "Mon, 10 Nov 2024 06:20:00 GMT"

            def log_message(self, *args):
                pass

            def _reply(self, method: str) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                code, body = fake.handle(method, self.path, self.rfile.read(size))
                if code == 0:  # dropped: no response at all
                    self.close_connection = True
                    return
                if fake.latency and code != -1:
                    time.sleep(fake.latency)
                if code == -1:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    try:
                        for ev in fake.stream(urlsplit(self.path).path, body):
                            line = json.dumps(ev).encode() + b"\n"
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the client had what it watched for and closed the stream
                    return
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's names
                self._reply("GET")

            def do_DELETE(self):  # noqa: N802
                self._reply("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _matches(pod: dict, labels: dict[str, str]) -> bool:
    have = pod.get("metadata", {}).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


def _status(code: int, reason: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
            "code": code}
