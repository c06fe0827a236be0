"""Parsing kubelet Events: which lines matter, what each says, one small record per container.

A cheap byte-level look at each line decides whether it can matter before it is parsed with
orjson, and only a small record per container is kept (`EventIngest`). Lines that cannot be
read are counted by kind, never raised: a run with one torn line is still a run. Whole-file
problems (empty, a JSON array instead of JSON lines, a byte-order mark) are said once per file,
and a JSON array is read rather than refused. Reading files (chunks, processes) is
`analysis.events.read`; the pull table is `analysis.events.pulls`.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from sys import intern

import orjson

from experiments.durations import parse_go_duration

CHUNK_BYTES = 2 << 20  # 8 MB held 23 MB more per process and was no faster (bench_analyze)

# Reasons that contribute to the pull table; everything else is counted and skipped unparsed.
_RELEVANT = frozenset(
    [b"Scheduled", b"Pulling", b"Pulled", b"Created", b"Started", b"RegisteredNode"]
)
# Matches `"reason":"Pulled"` in compact and in `json.dumps` (`": "`) spelling alike.
_REASON = re.compile(rb'"reason":\s*"([A-Za-z]+)"')

_PULLING_MSG = re.compile(r'Pulling image "([^"]+)"')
_PULLED_MSG = re.compile(
    r'Successfully pulled image "(?P<ref>[^"]+)"'
    r"(?: in (?P<pull>[^ (]+?)(?: \((?P<wait>[^ )]+) including waiting\))?)?"
    r"(?:\. Image size: (?P<size>\d+) bytes)?\.?$"
)
_PRESENT = re.compile(r'Container image "([^"]+)" already present on machine')
_ASSIGNED = re.compile(r"Successfully assigned \S+ to (\S+)")
_FIELD_PATH = re.compile(r"spec\.(initContainers|containers|ephemeralContainers)\{([^}]*)\}")
_TAG_SCHEME = r"(?P<layers>\d+)-layers-size-(?P<size>\d+)-bytes"

# Namespaces the cluster runs its own add-ons in (GKE, EKS, upstream): never studied.
SYSTEM_NAMESPACES = frozenset(
    ["kube-system", "kube-public", "kube-node-lease", "gke-managed-cim", "gke-managed-system",
     "gmp-system", "gmp-public", "gke-gmp-system", "amazon-cloudwatch", "amazon-guardduty"]
)
# Namespaces and images of the operators and instrumentation a study deploys around its workload.
OPERATOR_NAMESPACES = frozenset(
    ["monitoring", "flux-operator-system", "operator-system", "jobset-system", "metrics-system",
     "cert-manager", "study-harness-system"]
)
OPERATOR_IMAGE_MARKERS = (
    "flux-view", "flux-operator", "metrics-operator", "jobset", "event-exporter",
    "kube-rbac-proxy", "cert-manager",
    "docker-cleanup",  # the seed studies' cache-clearing DaemonSet
)
# The harness labels each pod with its role; only the step's workload is what a study measures
# (cache clears, pre-pulls, the recorder and mirrors are the harness's own helpers).
ROLE_LABEL = "study-harness.io/role"
WORKLOAD_ROLE = "workload"
# The harness's helpers inside a workload pod: the pulling study's cache clear is each pull pod's
# init container `clear` (experiments.kinds.pulling.CLEAR_CONTAINER), whose image is not studied.
HELPER_INIT_CONTAINERS = frozenset(["clear"])
HELPER_ROLE = "helper"  # the role such a container is classified with
# Per-node helpers (cache clears, pre-pulls, log shippers) run as DaemonSets; a study's measured
# pods are Jobs, JobSets or MiniClusters, never DaemonSets.
HELPER_OWNER_KINDS = frozenset(["DaemonSet", "Node"])
# Go durations are int64 nanoseconds: the kubelet cannot print anything longer.
GO_MAX_DURATION_SECONDS = (2**63 - 1) / 1e9

PULL_COLUMNS = [
    "run", "nodes", "image", "image_ref", "role", "layers", "size_bytes", "compressed_bytes",
    "node", "namespace", "pod", "container", "init_container", "cached", "message_format",
    "pull_seconds", "pull_seconds_waiting", "scheduled_at", "pulling_at", "pulled_at",
    "created_at", "started_at", "time_to_started_seconds",
]
STAGES = ("scheduled_at", "pulling_at", "pulled_at", "created_at", "started_at")


@dataclass(slots=True)
class PullMessage:
    """What a `Pulled` message says, in whichever of its historical formats it came."""

    image_ref: str
    cached: bool
    message_format: str  # present | plain (<=1.18) | in (1.19+) | waiting (1.26+) | size (1.30+)
    pull_seconds: float | None = None
    waiting_seconds: float | None = None
    compressed_bytes: int | None = None


def parse_pulled_message(message: str) -> PullMessage | None:
    """Parse a kubelet `Pulled` message; None when it is neither a pull nor a cache hit."""
    present = _PRESENT.search(message)
    if present:
        return PullMessage(present.group(1), cached=True, message_format="present")
    pulled = _PULLED_MSG.search(message)
    if pulled is None:
        return None
    pull, wait, size = pulled.group("pull"), pulled.group("wait"), pulled.group("size")
    fmt = "size" if size else "waiting" if wait else "in" if pull else "plain"
    try:
        pull_s = parse_go_duration(pull) if pull else None
        wait_s = parse_go_duration(wait) if wait else None
    except ValueError:
        return None
    return PullMessage(pulled.group("ref"), False, fmt, pull_s, wait_s, int(size) if size else None)


def image_key(ref: str) -> str:
    """Registry-independent name of an image: the tag for the study's tag scheme, else `name:tag`.

    run1 pulled from ghcr.io and run2 from Artifact Registry; both must meet under one key.
    """
    name, _, digest = ref.partition("@")
    base = name.rsplit("/", 1)[-1]
    tag = base.split(":", 1)[1] if ":" in base else ""
    if re.fullmatch(_TAG_SCHEME, tag):
        return tag
    if not tag and digest:
        return f"{base}@{digest[:19]}"  # digest-only: `name@sha256:` + 12 hex digits
    return base


def repository_name(ref: str) -> str:
    """The repository's last path segment without registry, tag or digest (`ensemble-lammps`).

    The same application mirrored into each cloud's registry under its own tag meets here.
    """
    name = ref.partition("@")[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def classify_image(ref: str, namespace: str, studied: frozenset[str] | None = None,
                   owner_kind: str | None = None, role: str | None = None) -> str:
    """`studied`, `system` or `operator` from where the pod ran and who owns it.

    The reference's shape says nothing: studies pull by digest, and clusters pull their add-ons
    by tag. With a studied set (the experiment names its images), a workload image outside it
    is `other`.
    """
    if namespace in SYSTEM_NAMESPACES:
        return "system"
    if (namespace in OPERATOR_NAMESPACES or (role and role != WORKLOAD_ROLE)
            or owner_kind in HELPER_OWNER_KINDS or any(m in ref for m in OPERATOR_IMAGE_MARKERS)):
        return "operator"
    if studied is not None:
        return "studied" if ref in studied or image_key(ref) in studied else "other"
    return "studied"


# Slots of a per-container record; a list is smaller and faster than a dataclass at this volume.
(_S_POD, _S_NS, _S_CONTAINER, _S_INIT, _S_NODE, _S_IMAGE,
 _S_PULLING, _S_PULLED, _S_CREATED, _S_STARTED, _S_MSG, _S_UIDS, _S_OWNER, _S_ROLE) = range(14)
_STAGE_SLOT = {b"Pulling": _S_PULLING, b"Pulled": _S_PULLED,
               b"Created": _S_CREATED, b"Started": _S_STARTED}


@dataclass
class EventIngest:
    """Everything one pass over a run's event files produces."""

    records: dict[tuple[str, str], list] = field(default_factory=dict)
    # pod key -> (ts, node); ts is None when the Scheduled event carried no time at all
    scheduled: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> labels
    reporting_nodes: set[str] = field(default_factory=set)  # nodes whose kubelet sent events
    # hash() of each stage event line kept in a slot: an identical line again is a duplicate
    # without parsing it (64-bit SipHash; 8 bytes and a set slot per kept line)
    seen_lines: set[int] = field(default_factory=set)
    stats: Counter = field(default_factory=Counter)
    # (file, what is wrong with it as a whole): empty, a JSON array, a byte-order mark
    file_problems: list[tuple[str, str]] = field(default_factory=list)

    def feed_file(self, path: Path, start: int = 0, end: int | None = None) -> None:
        """Stream one JSON-lines file (or the byte range [start, end) of it) into the ingest."""
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if start == 0 and not self._check_start(path, fh, size):
                return
            fh.seek(start)
            if start == 0 and fh.read(3) != b"\xef\xbb\xbf":
                fh.seek(0)
            start = fh.tell()
            remaining = (size if end is None else end) - start

            def chunks():
                nonlocal remaining
                while remaining > 0:
                    chunk = fh.read(min(CHUNK_BYTES, remaining))
                    if not chunk:
                        return
                    remaining -= len(chunk)
                    yield chunk

            self.feed_chunks(chunks())

    def _check_start(self, path: Path, fh, size: int) -> bool:
        """Whole-file problems, each said once; False when the file was handled here."""
        head = fh.read(4096)
        if not head.strip():
            self.file_problems.append((str(path), "is empty" if size == 0 else "holds only blanks"))
            self.stats["empty_files"] += 1
            return False
        if head.startswith(b"\xef\xbb\xbf"):
            self.file_problems.append((str(path), "starts with a UTF-8 byte-order mark "
                                                  "(skipped; the events after it were read)"))
            self.stats["bom_files"] += 1
            head = head[3:]
        if head.lstrip()[:1] == b"[":
            self._feed_array(path, fh)
            return False
        return True

    def _feed_array(self, path: Path, fh) -> None:
        """A JSON array of events (`kubectl get events -o json | jq .items`), not JSON lines."""
        fh.seek(0)
        data = fh.read()
        self.stats["bytes"] += len(data)
        try:
            items = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError:
            self.file_problems.append((str(path), "starts like a JSON array but is not valid "
                                                  "JSON; nothing was read from it"))
            self.stats["malformed"] += 1
            return
        if not isinstance(items, list):
            items = [items]
        events = [i for i in items if type(i) is dict and type(i.get("reason")) is str]
        self.file_problems.append((str(path), f"is a JSON array, not JSON lines; read its "
                                              f"{len(events)} event(s) of {len(items)} element(s)"))
        self.stats["json_array_files"] += 1
        self.stats["lines"] += len(items)
        self.stats["not_event"] += len(items) - len(events)
        for event in events:
            reason = event["reason"].encode()
            if reason in _RELEVANT:
                self._add(reason, event)
            else:
                self.stats["ignored"] += 1

    def feed_chunks(self, chunks: Iterable[bytes]) -> None:
        """Stream JSON-lines bytes, in chunks that may split lines anywhere."""
        rest = b""
        for chunk in chunks:
            self.stats["bytes"] += len(chunk)
            lines = chunk.split(b"\n")
            if rest:  # join the carried partial line alone, not by copying the whole chunk
                lines[0] = rest + lines[0]
            rest = lines.pop()
            self._feed_lines(lines, last_is_partial=False)
        if rest:
            self._feed_lines([rest], last_is_partial=True)

    def _feed_lines(self, lines: list[bytes], last_is_partial: bool) -> None:
        # Hot loop: local names and plain int counters; no per-line copies of the bytes.
        reason_search = _REASON.search
        loads = orjson.loads
        relevant = _RELEVANT
        stages = _STAGE_SLOT
        add = self._add
        seen = self.seen_lines
        blank = bad = not_event = ignored = copies = 0
        for line in lines:
            if line[-1:] == b"\r":
                line = line[:-1]
            if line[:1] != b"{" or line[-1:] != b"}":
                if line.strip():
                    bad += 1
                else:
                    blank += 1
                continue
            match = reason_search(line)
            if match is None:
                not_event += 1  # e.g. the exporter's own log lines
                continue
            reason = match.group(1)
            if reason not in relevant:
                ignored += 1
                continue
            if reason in stages:
                # A byte-identical copy of a stage event already kept (a stream captured
                # twice, files concatenated) would end as a duplicate: skip the parse.
                digest = hash(line)
                if digest in seen:
                    copies += 1
                    continue
            try:
                event = loads(line)
            except orjson.JSONDecodeError:
                bad += 1
                continue
            if type(event) is not dict:
                bad += 1
                continue
            if add(reason, event) and reason in stages:
                seen.add(digest)
        stats = self.stats
        if copies:
            stats["events"] += copies
            stats["duplicates"] += copies
        stats["lines"] += len(lines) - blank
        stats["truncated" if last_is_partial else "malformed"] += bad
        stats["not_event"] += not_event
        stats["ignored"] += ignored
        if blank:
            stats["blank"] += blank

    def _add(self, reason: bytes, event: dict) -> bool:
        """Fold one event in; True when it was kept in a container's stage slot."""
        obj = event.get("involvedObject")
        meta = event.get("metadata")
        if type(obj) is not dict or type(meta) is not dict:
            self.stats["missing_fields"] += 1
            return False
        ts = (event.get("eventTime") or event.get("firstTimestamp")
              or event.get("lastTimestamp") or meta.get("creationTimestamp"))
        message = event.get("message") or ""
        name, namespace = obj.get("name") or "", obj.get("namespace") or ""
        uid, path = obj.get("uid"), obj.get("fieldPath") or ""
        node = event.get("reportingInstance")
        if not node:
            source = event.get("source")
            node = (source.get("host") if type(source) is dict else None) or ""
        # One check for every field used below: a number where a string belongs is a malformed
        # record (counted and reported), not an internal error.
        if not (type(message) is str and type(name) is str and type(namespace) is str
                and type(path) is str and type(node) is str and (ts is None or type(ts) is str)
                and (uid is None or type(uid) is str)):
            self.stats["wrong_type"] += 1
            return False
        self.stats["events"] += 1
        if reason == b"RegisteredNode":
            labels = obj.get("labels")
            if name:
                self.nodes.setdefault(name, dict(labels) if type(labels) is dict else {})
            return False
        if ts:
            ts = intern(ts)  # second-resolution stamps repeat across thousands of events
        pod_key = uid or f"{namespace}/{name}"
        if reason == b"Scheduled":
            assigned = _ASSIGNED.search(message)
            seen = self.scheduled.get(pod_key)
            if seen is None or (ts and (not seen[0] or ts < seen[0])):
                self.scheduled[pod_key] = (ts, intern(assigned.group(1)) if assigned else "")
            return False
        if node:
            node = intern(node)
            self.reporting_nodes.add(node)
        key = (pod_key, path)
        rec = self.records.get(key)
        if rec is None:
            fp = _FIELD_PATH.match(path)
            init = bool(fp and fp.group(1) == "initContainers")
            rec = [name, intern(namespace), intern(fp.group(2) if fp else path), init,
                   node, None, None, None, None, None, None, [None, None, None, None],
                   _owner_kind(obj), _role(obj)]
            self.records[key] = rec
        elif node and not rec[_S_NODE]:
            rec[_S_NODE] = node
        slot = _STAGE_SLOT[reason]
        uids = rec[_S_UIDS]
        uid = hash(meta.get("uid"))  # only compared for equality; a hash is 8 bytes, not 85
        if uids[slot - _S_PULLING] is not None:
            # The exporter re-emits updated events (same uid); a new uid is a real repeat.
            self.stats["duplicates" if uids[slot - _S_PULLING] == uid else "repeats"] += 1
            if not ts or (rec[slot] and rec[slot] <= ts):
                return uids[slot - _S_PULLING] == uid
        uids[slot - _S_PULLING] = uid
        rec[slot] = ts
        if reason == b"Pulling":
            pulling = _PULLING_MSG.search(message)
            if pulling and rec[_S_IMAGE] is None:
                rec[_S_IMAGE] = intern(pulling.group(1))
        elif reason == b"Pulled":
            parsed = parse_pulled_message(message)
            if parsed is None:
                self.stats["bad_message"] += 1
            else:
                if not _possible(parsed.pull_seconds) or not _possible(parsed.waiting_seconds):
                    self.stats["impossible_duration"] += 1
                    parsed.pull_seconds = parsed.waiting_seconds = None
                rec[_S_MSG] = parsed
                rec[_S_IMAGE] = intern(parsed.image_ref)
        return True

    def merge(self, other: EventIngest) -> None:
        """Fold the ingest of a later byte range of the same stream into this one."""
        self.stats.update(other.stats)
        self.file_problems += other.file_problems
        self.reporting_nodes |= other.reporting_nodes
        self.seen_lines |= other.seen_lines
        for name, labels in other.nodes.items():
            self.nodes.setdefault(name, labels)
        for pod, (ts, node) in other.scheduled.items():
            seen = self.scheduled.get(pod)
            if seen is None or (ts and (not seen[0] or ts < seen[0])):
                self.scheduled[pod] = (ts, node)
        for key, theirs in other.records.items():
            mine = self.records.get(key)
            if mine is None:
                self.records[key] = theirs
                continue
            mine[_S_NODE] = mine[_S_NODE] or theirs[_S_NODE]
            for slot in (_S_PULLING, _S_PULLED, _S_CREATED, _S_STARTED):
                i = slot - _S_PULLING
                if theirs[_S_UIDS][i] is None:
                    continue
                if mine[_S_UIDS][i] is not None:
                    same = mine[_S_UIDS][i] == theirs[_S_UIDS][i]
                    self.stats["duplicates" if same else "repeats"] += 1
                    if not theirs[slot] or (mine[slot] and mine[slot] <= theirs[slot]):
                        continue
                mine[_S_UIDS][i] = theirs[_S_UIDS][i]
                mine[slot] = theirs[slot]
                if slot == _S_PULLED:
                    mine[_S_MSG] = theirs[_S_MSG]
            if mine[_S_MSG] is not None:
                mine[_S_IMAGE] = mine[_S_MSG].image_ref
            elif mine[_S_IMAGE] is None:
                mine[_S_IMAGE] = theirs[_S_IMAGE]


def _possible(seconds: float | None) -> bool:
    return seconds is None or 0 <= seconds <= GO_MAX_DURATION_SECONDS


def _owner_kind(obj: dict) -> str | None:
    owners = obj.get("ownerReferences")
    if type(owners) is list and owners and type(owners[0]) is dict:
        kind = owners[0].get("kind")
        return intern(kind) if type(kind) is str else None
    return None


def _role(obj: dict) -> str | None:
    labels = obj.get("labels")
    if type(labels) is dict:
        role = labels.get(ROLE_LABEL)
        return intern(role) if type(role) is str else None
    return None
