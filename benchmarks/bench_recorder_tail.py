"""The step recorder's tail: from its step's Job ending to the recorder being done, against the
recorder as it was (2 s polls, logs read one at a time) measured in the same run.

    .venv/bin/python benchmarks/bench_recorder_tail.py [--pods 64] [--latency-ms 10] [--repeat 3]

Both run `experiments/recorder.py` in-process against the loopback fake API server of the
recorder's tests (tests/experiments/fake_kube_api.py): a pull Job that the fake's "controller"
marks Complete 1.5 s after the recorder starts, `--pods` pull pods with a `clear` init
container (two log reads each), every plain request delayed by `--latency-ms` (an API
server's round trip), and a foreground delete whose Job and pods are gone 0.3 s later.
The yardstick is the same code with the watch refused (HTTP 403, as without the RBAC verb),
POLL_SECONDS = 2 and one log reader: what the recorder did before. Reported per variant, the
best of `--repeat` (other jobs on a shared machine only ever add time): the lag from the Job's
Complete to the recorder seeing it, the log reads, the clean-up, and the whole tail; then the
ratio of the tails. Target: the tail at most half the yardstick's. Not a test: the seconds
depend on the machine and the latency; the ratio is what to compare.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.experiments.fake_kube_api import FakeKubeApi  # noqa: E402

NS = "study-harness"
STEP = "pull-bench-r1"
JOB = f"/apis/batch/v1/namespaces/{NS}/jobs/{STEP}"
LABELS = {"study-harness.io/step": STEP, "study-harness.io/role": "workload"}
SELECTOR = ",".join(f"{k}={v}" for k, v in LABELS.items())
END_AFTER_SECONDS = 1.5
DELETE_SECONDS = 0.3  # the garbage collector and the kubelets removing the finished pods


def pods(n: int) -> tuple[list[dict], dict]:
    items, logs = [], {}
    for i in range(n):
        name = f"{STEP}-{i:03d}"
        items.append({"metadata": {"name": name, "labels": dict(LABELS)},
                      "spec": {"nodeName": f"node-{i:03d}"},
                      "status": {"phase": "Succeeded", "startTime": "2026-12-01T00:00:00Z",
                                 "initContainerStatuses": [
                                     {"name": "clear", "restartCount": 0,
                                      "state": {"terminated": {"exitCode": 0}}}]}})
        logs[(name, "clear")] = f"cache-clear: OK node=node-{i:03d} images_removed=6\n"
        logs[(name, None)] = "pulled\n"
    return items, logs


def one(rec, n: int, latency: float, old: bool) -> dict[str, float]:
    items, logs = pods(n)
    api = FakeKubeApi({JOB: {"status": {"startTime": "2026-12-01T00:00:00Z", "active": n}}},
                      items, logs, max_watch_seconds=30.0, latency=latency,
                      delete_after=DELETE_SECONDS)
    api.own(JOB, LABELS)
    if old:
        api.watch_status = 403
    base = api.serve()
    marks: dict[str, float] = {}
    real_api, real_wait, real_logs, real_cleanup = rec.Api, rec.wait, rec.pod_logs, \
        rec.delete_and_wait
    saved = (rec.POLL_SECONDS, rec.LOG_READERS)

    def complete():
        api.update(JOB, {"status": {"startTime": "2026-12-01T00:00:00Z",
                                    "completionTime": "2026-12-01T00:00:30Z",
                                    "conditions": [{"type": "Complete", "status": "True"}]}})
        marks["complete"] = time.perf_counter()

    def timed(name, fn):
        def run(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                marks[name] = marks.get(name, 0.0) + time.perf_counter() - start
                marks[name + "_end"] = time.perf_counter()
        return run

    try:
        rec.Api = lambda: real_api(base, token="bench")
        rec.wait = timed("wait", real_wait)
        rec.pod_logs = timed("logs", real_logs)
        rec.delete_and_wait = timed("cleanup", real_cleanup)
        if old:
            rec.POLL_SECONDS, rec.LOG_READERS = 2, 1
        threading.Timer(END_AFTER_SECONDS, complete).start()
        with contextlib.redirect_stdout(io.StringIO()):  # the recorder's own status line
            assert rec.main() == 0
        done = time.perf_counter()
    finally:
        rec.Api, rec.wait, rec.pod_logs, rec.delete_and_wait = (
            real_api, real_wait, real_logs, real_cleanup)
        rec.POLL_SECONDS, rec.LOG_READERS = saved
        api.close()
    return {"notice": marks["wait_end"] - marks["complete"], "logs": marks["logs"],
            "cleanup": marks["cleanup"], "tail": done - marks["complete"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--pods", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({
            "RESULTS_DIR": tmp, "STEP": STEP, "KIND": "pulling", "NAMESPACE": NS,
            "WAIT_FOR": json.dumps([JOB]), "OWNERS": json.dumps([JOB]),
            "POD_SELECTOR": SELECTOR, "DEADLINE_SECONDS": "600",
            "EXPECT": json.dumps({"nodes": args.pods, "pods_per_node": 1, "cleanup": [JOB],
                                  "clears": {"selector": SELECTOR, "container": "clear",
                                             "ok": "cache-clear: OK",
                                             "fail": "cache-clear: FAIL"}})})
        Path(tmp, "events").mkdir()
        Path(tmp, "events", "events.jsonl").write_text("")
        from experiments import recorder as rec

        rec.TERMINATION_LOG = os.path.join(tmp, "termination-log")
        best: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):
            for label, old in (("yardstick (2 s polls, 1 reader)", True),
                               ("recorder (watch, 1 s polls, 8 readers)", False)):
                got = one(rec, args.pods, args.latency_ms / 1000, old)
                if label not in best or got["tail"] < best[label]["tail"]:
                    best[label] = got
    out = sys.stdout
    out.write(f"{args.pods} pods, {args.latency_ms:g} ms per request, best of {args.repeat}\n")
    out.write("variant | notice s | log reads s | cleanup s | tail s\n")
    for label, m in best.items():
        out.write(f"{label} | {m['notice']:.2f} | {m['logs']:.2f} | {m['cleanup']:.2f} | "
                  f"{m['tail']:.2f}\n")
    old, new = best.values()
    out.write(f"tail ratio {new['tail'] / old['tail']:.2f} (target <= 0.5)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
