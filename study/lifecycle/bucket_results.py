"""A run's results as the bucket holds them: every step's files checked against its manifest.

The contract with the in-cluster upload (`experiments/upload.sh`): under `<stack>/<run-id>/`,
`steps/<step>/{log.txt,status.json,checks.json,events.jsonl}` and, uploaded last,
`steps/<step>/MANIFEST.json` = {"files": {name: {"sha256": hex, "bytes": n}}}. A step is in the
bucket exactly when its manifest exists and every file matches it. Anything else is named: a
missing manifest (the upload did not finish), a missing object, a truncated object (fewer bytes
than the manifest says), a checksum mismatch. A file that does match is kept even when its
neighbours do not, so a bad object never costs the good ones. `guard/*.json` (what the in-cluster
guard did) is copied as it is.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from study.lifecycle.object_store import ObjectStore

MANIFEST = "MANIFEST.json"
FILE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")  # a manifest names files, never paths
STEP_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def run_prefix(stack: str, run_id: str) -> str:
    return f"{stack}/{run_id}/"


@dataclass
class StepInBucket:
    step: str
    files: dict[str, bytes] = field(default_factory=dict)  # verified against the manifest
    problems: list[str] = field(default_factory=list)
    manifested: bool = False

    @property
    def complete(self) -> bool:
        return self.manifested and not self.problems

    def status(self) -> dict | None:
        raw = self.files.get("status.json")
        try:
            return json.loads(raw) if raw is not None else None
        except json.JSONDecodeError:
            return None


@dataclass
class RunInBucket:
    url: str  # gs://BUCKET/STACK/RUN_ID/
    steps: dict[str, StepInBucket] = field(default_factory=dict)
    guard: dict[str, bytes] = field(default_factory=dict)  # guard/<name> -> bytes
    problems: list[str] = field(default_factory=list)  # besides the steps' own

    def all_problems(self) -> list[str]:
        return [*self.problems, *(p for s in self.steps.values() for p in s.problems)]

    def summary(self, expected: list[str] | None = None) -> dict:
        """{url, complete, steps_in_bucket, steps_expected, missing, problems} (JSON-able)."""
        done = sorted(n for n, s in self.steps.items() if s.complete)
        missing = [n for n in (expected or []) if n not in done]
        problems = self.all_problems()
        return {
            "url": self.url,
            "complete": not missing and not problems and bool(done),
            "steps_in_bucket": done,
            "steps_expected": list(expected or []),
            "missing": missing,
            "problems": problems,
        }


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_step(store: ObjectStore, base: str, step: str) -> StepInBucket:
    """One step's files from `base` (`<stack>/<run-id>/`), each checked against the manifest."""
    out = StepInBucket(step)
    prefix = f"{base}steps/{step}/"
    where = f"{store.url}/{prefix}"
    raw = store.read(prefix + MANIFEST)
    if raw is None:
        others = [n for n in store.list(prefix) if not n.endswith("/" + MANIFEST)]
        why = (f"; {len(others)} other object(s) there: the upload did not finish"
               if others else "; nothing uploaded yet")
        out.problems.append(f"{where}{MANIFEST}: missing{why}")
        return out
    try:
        files = json.loads(raw)["files"]
        entries = {str(k): (str(v["sha256"]), int(v["bytes"])) for k, v in files.items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        out.problems.append(f"{where}{MANIFEST}: unreadable ({type(exc).__name__}: {exc})")
        return out
    out.manifested = True
    for name, (sha, size) in sorted(entries.items()):
        if not FILE_NAME.match(name) or name == MANIFEST:
            out.problems.append(f"{where}{MANIFEST}: names {name!r}, not a file of the step")
            continue
        data = store.read(prefix + name)
        if data is None:
            out.problems.append(f"{where}{name}: missing object (the manifest lists it)")
        elif len(data) < size:
            out.problems.append(f"{where}{name}: truncated ({len(data)} of {size} bytes)")
        elif len(data) != size or _sha256(data) != sha:
            out.problems.append(f"{where}{name}: checksum mismatch (manifest sha256 {sha[:16]}, "
                                f"object sha256 {_sha256(data)[:16]}, {len(data)} bytes)")
        else:
            out.files[name] = data
    return out


def steps_listed(store: ObjectStore, base: str) -> list[str]:
    """Step names that have any object under `<base>steps/`."""
    names = set()
    for obj in store.list(f"{base}steps/"):
        parts = obj[len(base):].split("/")
        if len(parts) >= 3 and STEP_NAME.match(parts[1]):
            names.add(parts[1])
    return sorted(names)


def fetch_run(store: ObjectStore, stack: str, run_id: str) -> RunInBucket:
    """Every step of the run found in the bucket, each checked against its manifest."""
    base = run_prefix(stack, run_id)
    run = RunInBucket(f"{store.url}/{base}")
    for step in steps_listed(store, base):
        run.steps[step] = fetch_step(store, base, step)
    for obj in store.list(f"{base}guard/"):
        name = obj[len(base) + len("guard/"):]
        if FILE_NAME.match(name):
            data = store.read(obj)
            if data is not None:
                run.guard[name] = data
    return run


def runs_of(store: ObjectStore, stack: str) -> list[str]:
    """Run ids with anything under `<stack>/` in the bucket, oldest first (ids sort by time)."""
    from infra.results_bucket import RUN_ID

    ids = set()
    for obj in store.list(f"{stack}/"):
        parts = obj.split("/")
        if len(parts) >= 3 and RUN_ID.match(parts[1]):
            ids.add(parts[1])
    return sorted(ids)
