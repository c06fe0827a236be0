"""The guard: runs in the cluster every few minutes and scales the study's nodes to zero when the
run is over or out of budget, whoever (or nothing) is watching.

Why it exists: the budget used to be enforced only by the process running `study run`. A stack
brought up with plain `pulumi up`, a `study run` whose laptop slept and a cluster nobody
remembers kept every node billing. This CronJob needs nothing outside the cluster but the cloud's
own APIs: it reads the node pool's size and the cluster's creation time, which steps have their
results in the results bucket (a step's `MANIFEST.json` exists and every file it lists matches
its sha256 and size), decides with `guard_decision.decide` and, when the answer is to stop,
scales the pool / node group to zero and writes what it did and why to
`<RESULTS_URL>guard/<UTC timestamp>-<action>.json`.

It calls the clouds' own CLIs (`gcloud`, `aws`) with argument lists, never a shell: they
authenticate through the pod's workload identity (GKE Workload Identity, EKS Pod Identity), so
no key is ever in the cluster. Standard library only otherwise; `guard_decision.py` is mounted
next to this file. It does not delete anything: `pulumi destroy` / `study destroy` removes the
rest, and `pulumi up` scales the nodes back (infra/guard.py says how).

Configuration (environment, set by `infra.guard`): RESULTS_URL, RUN_ID, GUARD_CLOUD (gke|eks),
GUARD_PROJECT (gke), GUARD_LOCATION (zone or region), GUARD_CLUSTER, GUARD_POOL,
GUARD_DEADLINE_HOURS, GUARD_GRACE_SECONDS, GUARD_STEPS (JSON list of step names).
Exit status: 0 when it decided (and did what it decided), 1 when it could not.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

if __package__:  # imported by the harness and the tests
    from experiments import guard_decision as rules
else:  # in the cluster: `python /guard/guard.py`, guard_decision.py mounted next to it
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import guard_decision as rules  # type: ignore[no-redef]

CLI_TIMEOUT_SECONDS = 120
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")  # clusters, pools, zones, regions
PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")  # GCP project ids
URL = re.compile(r"^(gs|s3)://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])/((?:[A-Za-z0-9._-]+/)+)$")
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")  # harness run ids: 20261201T181400Z
MISSING = ("matched no objects", "(404)", "NoSuchKey", "Not Found")


class GuardError(Exception):
    """The guard could not find out or could not act; it exits 1 and the CronJob tries again."""


class ResultsStore(Protocol):
    """The run's results URL as the guard needs it (real: `CliStore`; tests: a fake)."""

    def has_step_results(self, step: str) -> bool: ...

    def step_finished_at(self, step: str) -> float | None:
        """When the step finished (its status.json) if its results are complete, else None."""
        ...

    def write_record(self, name: str, data: dict) -> None: ...

    def record_names(self) -> list[str]: ...


class NodeScaler(Protocol):
    """This study's node pool / node group, and nothing else."""

    def pool(self) -> tuple[int, float]:
        """(target node count, cluster creation in epoch seconds)."""
        ...

    def scale_to_zero(self) -> None: ...


# -- configuration ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    results_url: str
    run_id: str
    cloud: str
    project: str
    location: str
    cluster: str
    pool: str
    deadline_hours: float
    grace_seconds: float
    steps: tuple[str, ...]


def _need(env: Mapping[str, str], key: str, pattern: re.Pattern[str], allowed: str) -> str:
    value = env.get(key, "")
    if not pattern.match(value):
        msg = f"{key}={value!r} is not allowed; expected {allowed}"
        raise GuardError(msg)
    return value


def _number(env: Mapping[str, str], key: str) -> float:
    value = env.get(key, "")
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number >= 0 or number == float("inf"):
        msg = f"{key}={value!r} is not allowed; expected a non-negative number"
        raise GuardError(msg)
    return number


def load_config(env: Mapping[str, str]) -> Config:
    """Every value that reaches a CLI argument is checked here first, one line per problem."""
    cloud = env.get("GUARD_CLOUD", "")
    if cloud not in ("gke", "eks"):
        msg = f"GUARD_CLOUD={cloud!r} is not allowed; expected gke or eks"
        raise GuardError(msg)
    url = _need(env, "RESULTS_URL", URL, "gs://BUCKET/STACK/RUN_ID/ or s3://BUCKET/STACK/RUN_ID/")
    if url.startswith("gs://") != (cloud == "gke"):
        msg = f"RESULTS_URL={url!r} is not allowed; a {cloud} guard writes to its own cloud"
        raise GuardError(msg)
    try:
        steps = json.loads(env.get("GUARD_STEPS", "[]"))
    except json.JSONDecodeError:
        steps = None
    if not isinstance(steps, list) or not all(isinstance(s, str) and NAME.match(s) for s in steps):
        msg = (f"GUARD_STEPS={env.get('GUARD_STEPS')!r} is not allowed; "
               "expected a JSON list of step names")
        raise GuardError(msg)
    return Config(
        results_url=url,
        run_id=_need(env, "RUN_ID", RUN_ID, "a run id (letters, digits, '.', '_', '-')"),
        cloud=cloud,
        project=_need(env, "GUARD_PROJECT", PROJECT, "a GCP project id") if cloud == "gke" else "",
        location=_need(env, "GUARD_LOCATION", NAME, "a zone or region"),
        cluster=_need(env, "GUARD_CLUSTER", NAME, "a cluster name"),
        pool=_need(env, "GUARD_POOL", NAME, "a node pool / node group name"),
        deadline_hours=_number(env, "GUARD_DEADLINE_HOURS"),
        grace_seconds=_number(env, "GUARD_GRACE_SECONDS"),
        steps=tuple(steps),
    )


# -- the clouds' CLIs ---------------------------------------------------------------------------
Runner = Callable[[list[str], bytes | None], bytes]


def run_cli(args: list[str], stdin: bytes | None = None) -> bytes:
    """Run one CLI call (no shell); GuardError with its stderr's last line when it fails."""
    try:
        done = subprocess.run(args, input=stdin, capture_output=True,
                              timeout=CLI_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        msg = f"{args[0]} {args[1]}: {exc}"
        raise GuardError(msg) from None
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines() or ["(no output)"]
        msg = f"{' '.join(args[:3])} failed ({done.returncode}): {' '.join(err)[:400]}"
        raise GuardError(msg)
    return done.stdout


def epoch(value: object, what: str) -> float:
    """A CLI's timestamp: ISO 8601 (gcloud, AWS CLI v2) or epoch seconds (AWS CLI v1, whose
    default `cli_timestamp_format` prints the API's own number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        msg = f"{what}: cannot read the time {value!r}"
        raise GuardError(msg) from None


def _missing(exc: GuardError) -> bool:
    return any(m in str(exc) for m in MISSING)


class BucketStore:
    """`ResultsStore` over any object store that can read, write and list keys under the run's
    URL; subclasses say how (here the CLIs, `study.lifecycle.guard_store` the client
    libraries). A step's results count only when its MANIFEST.json lists files that all exist
    with the listed size and sha256, the manifest being uploaded last."""

    def read_object(self, key: str) -> bytes | None:
        """The object at `<run URL><key>`, or None when there is none."""
        raise NotImplementedError

    def write_object(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under `<run URL><prefix>`, relative to the run URL."""
        raise NotImplementedError

    def has_step_results(self, step: str) -> bool:
        # List first, read only what is listed: S3 answers a read of a missing key with 403,
        # not 404, unless the reader may list the whole bucket (Amazon S3 API reference,
        # GetObject / HeadObject "Permissions"), and the guard may list its stack's prefix only.
        listed = set(self.list_keys(f"steps/{step}/"))
        if f"steps/{step}/MANIFEST.json" not in listed:
            return False
        raw = self.read_object(f"steps/{step}/MANIFEST.json")
        if raw is None:
            return False
        try:
            files = json.loads(raw)["files"]
            wanted = [(name, int(want["bytes"]), str(want["sha256"]))
                      for name, want in files.items()]
        except (ValueError, KeyError, TypeError, AttributeError):
            return False
        for name, size, sha in wanted:
            if f"steps/{step}/{name}" not in listed:
                return False
            data = self.read_object(f"steps/{step}/{name}")
            if data is None or len(data) != size or hashlib.sha256(data).hexdigest() != sha:
                return False
        return True

    def step_finished_at(self, step: str) -> float | None:
        if not self.has_step_results(step):
            return None
        raw = self.read_object(f"steps/{step}/status.json")
        try:
            return datetime.fromisoformat(json.loads(raw or b"{}")["finished_at"]).timestamp()
        except (ValueError, KeyError, TypeError):
            return None  # no readable end: only the deadline applies to this step

    def write_record(self, name: str, data: dict) -> None:
        self.write_object(f"guard/{name}", json.dumps(data, indent=2, sort_keys=True).encode())

    def record_names(self) -> list[str]:
        return [k.removeprefix("guard/") for k in self.list_keys("guard/")]


class CliStore(BucketStore):
    """The results URL through `gcloud storage` (gs://) or `aws s3` (s3://)."""

    def __init__(self, url: str, run: Runner = run_cli):
        self.url, self.run = url, run
        self.gcs = url.startswith("gs://")

    def read_object(self, key: str) -> bytes | None:
        target = self.url + key
        args = (["gcloud", "storage", "cat", target] if self.gcs
                else ["aws", "s3", "cp", target, "-"])
        try:
            return self.run(args, None)
        except GuardError as exc:
            if _missing(exc):
                return None
            raise

    def write_object(self, key: str, data: bytes) -> None:
        target = self.url + key
        args = (["gcloud", "storage", "cp", "-", target] if self.gcs
                else ["aws", "s3", "cp", "-", target])
        self.run(args, data)

    def list_keys(self, prefix: str) -> list[str]:
        """Keys under `prefix`, relative to the run URL."""
        if self.gcs:
            try:
                out = self.run(["gcloud", "storage", "ls", self.url + prefix], None)
            except GuardError as exc:
                if _missing(exc):
                    return []
                raise
            return [line.removeprefix(self.url) for line in out.decode().split()]
        bucket, _, root = self.url.removeprefix("s3://").partition("/")
        out = self.run(["aws", "s3api", "list-objects-v2", "--bucket", bucket,
                        "--prefix", root + prefix, "--output", "json"], None)
        listed = json.loads(out or b"{}") or {}
        return [o["Key"].removeprefix(root) for o in listed.get("Contents", [])]


class GcloudScaler:
    """A GKE node pool through `gcloud`: the managed instance groups' target size, and resize."""

    def __init__(self, cfg: Config, run: Runner = run_cli):
        self.cfg, self.run = cfg, run
        self.where = ["--zone", cfg.location, "--project", cfg.project, "--format=json"]

    def pool(self) -> tuple[int, float]:
        c = self.cfg
        cluster = json.loads(self.run(["gcloud", "container", "clusters", "describe",
                                       c.cluster, *self.where], None))
        pool = json.loads(self.run(["gcloud", "container", "node-pools", "describe", c.pool,
                                    "--cluster", c.cluster, *self.where], None))
        target = 0
        for url in pool.get("instanceGroupUrls", []):
            # .../projects/P/zones/Z/instanceGroupManagers/NAME
            parts = url.rstrip("/").split("/")
            name, zone = parts[-1], parts[-3]
            mig = json.loads(self.run(
                ["gcloud", "compute", "instance-groups", "managed", "describe", name,
                 "--zone", zone, "--project", c.project, "--format=json"], None))
            target += int(mig["targetSize"])
        return target, epoch(cluster.get("createTime"), "gcloud container clusters describe")

    def scale_to_zero(self) -> None:
        c = self.cfg
        # --async: the guard's own node is among those going away.
        self.run(["gcloud", "container", "clusters", "resize", c.cluster, "--node-pool", c.pool,
                  "--num-nodes", "0", "--zone", c.location, "--project", c.project,
                  "--quiet", "--async"], None)


class AwsScaler:
    """An EKS managed node group through `aws eks`: desired size, and a zero scaling config."""

    def __init__(self, cfg: Config, run: Runner = run_cli):
        self.cfg, self.run = cfg, run
        self.region = ["--region", cfg.location, "--output", "json"]

    def _group(self) -> dict:
        c = self.cfg
        return json.loads(self.run(["aws", "eks", "describe-nodegroup", "--cluster-name",
                                    c.cluster, "--nodegroup-name", c.pool, *self.region],
                                   None))["nodegroup"]

    def pool(self) -> tuple[int, float]:
        cluster = json.loads(self.run(["aws", "eks", "describe-cluster", "--name",
                                       self.cfg.cluster, *self.region], None))["cluster"]
        desired = int(self._group()["scalingConfig"]["desiredSize"])
        return desired, epoch(cluster.get("createdAt"), "aws eks describe-cluster")

    def scale_to_zero(self) -> None:
        # EKS requires maxSize >= 1: keep the group's max, bring min and desired to zero.
        top = max(1, int(self._group()["scalingConfig"]["maxSize"]))
        c = self.cfg
        self.run(["aws", "eks", "update-nodegroup-config", "--cluster-name", c.cluster,
                  "--nodegroup-name", c.pool, "--scaling-config",
                  f"minSize=0,maxSize={top},desiredSize=0", *self.region], None)


# -- one pass -----------------------------------------------------------------------------------
def run_once(now: float, cfg: Config, scaler: NodeScaler, store: ResultsStore) -> rules.Decision:
    """Observe, decide, act, record. The scale-down comes before its record, so a record of a
    scale-down always means the pool was asked to go to zero (a failed call is recorded as
    `scale-failed`, which the history ignores, and raised)."""
    target, created = scaler.pool()
    scaled_down_at, resumed_at = rules.history(store.record_names())
    stack = rules.StackState(target, created, scaled_down_at, resumed_at)
    steps = {s: store.step_finished_at(s) for s in cfg.steps}
    due = rules.deadline(stack, cfg.deadline_hours)
    decision = rules.decide(now, due, cfg.grace_seconds, steps, stack)
    record = {
        "action": decision.action,
        "reason": decision.reason,
        "at": rules.iso(now),
        "run_id": cfg.run_id,
        "cluster": cfg.cluster,
        "pool": cfg.pool,
        "target_nodes": target,
        "deadline": rules.iso(due),
        "grace_seconds": cfg.grace_seconds,
        "steps_in_bucket": sorted(s for s, at in steps.items() if at is not None),
        "steps_missing": sorted(s for s, at in steps.items() if at is None),
    }
    if decision.action == "scale-to-zero":
        try:
            scaler.scale_to_zero()
        except GuardError as exc:
            failed = {**record, "error": str(exc)}
            store.write_record(rules.record_name(now, "scale-failed"), failed)
            raise
    if decision.action in rules.RECORD_ACTIONS:
        store.write_record(rules.record_name(now, decision.action), record)
    return decision


def main() -> int:
    try:
        cfg = load_config(os.environ)
        scaler: NodeScaler = GcloudScaler(cfg) if cfg.cloud == "gke" else AwsScaler(cfg)
        decision = run_once(time.time(), cfg, scaler, CliStore(cfg.results_url))
    except GuardError as exc:
        sys.stderr.write(f"guard: {exc}\n")
        return 1
    except (ValueError, KeyError, TypeError) as exc:  # a CLI answered in an unexpected shape
        sys.stderr.write(f"guard: could not read a cloud CLI's answer: {exc!r}\n")
        return 1
    sys.stdout.write(f"guard: {decision.action}: {decision.reason}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
