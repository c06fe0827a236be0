"""Measurement validity checks: pure functions over what a step left behind.

Why a separate, standard-library-only module: the same code runs in the cluster (the step
recorder mounts it next to `recorder.py` and records the verdict in the step's status.json) and
on a laptop (`study collect` and the analysis can re-run it on the saved events). It decides
whether a measurement can be trusted; it never decides what a measurement means.

- pulls: every expected (node, image) pull observed, on distinct nodes, none warm
  (`Container image "..." already present on machine` means the cache was not cold);
- pods per node: the scheduler placed exactly the expected number of pods on each node;
- overlay: the Flux tree printed by the step has the requested shape;
- pull speed: no pull faster than a cold download can be (see `check_pull_speed`);
- clears: every pod that pulled proved its own node's cache cold just before (its own clear
  init container), and so did every one of the N nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

_PULLED = re.compile(r'^Successfully pulled image "(?P<ref>[^"]+)"')
_WARM = re.compile(r'^Container image "(?P<ref>[^"]+)" already present on machine')
_PULLING = re.compile(r'^Pulling image "(?P<ref>[^"]+)"')
# Kubernetes >= 1.30: `... in 6.959s (6.959s including waiting). Image size: 3369495 bytes.`
_PULL_TIME = re.compile(r' in (?P<pull>\S+) \((?P<wait>\S+) including waiting\)\. '
                        r'Image size: (?P<bytes>\d+) bytes')
_GO_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?P<unit>ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_TREE = re.compile(r"^(?P<prefix>[│├└─ ]*)(?P<rank>\d+) \S+")


def read_events(lines: Iterable[str | bytes]) -> list[dict[str, Any]]:
    """Event objects from exporter JSON lines, deduplicated by metadata.uid (last one wins).

    Log lines of the exporter itself and torn lines are skipped.
    """
    by_uid: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for line in lines:
        try:
            obj = json.loads(line)
        except (ValueError, TypeError):
            continue
        if not isinstance(obj, dict) or "involvedObject" not in obj:
            continue
        uid = (obj.get("metadata") or {}).get("uid")
        if uid:
            by_uid[uid] = obj
        else:
            anonymous.append(obj)
    return list(by_uid.values()) + anonymous


def event_node(ev: dict[str, Any]) -> str:
    return ev.get("reportingInstance") or (ev.get("source") or {}).get("host") or ""


def same_image(ref: str, wanted: str) -> bool:
    """True when an event's image reference names `wanted` (docker.io/library prefixes ignored)."""

    def norm(r: str) -> str:
        for p in ("docker.io/library/", "docker.io/"):
            if r.startswith(p):
                r = r[len(p) :]
        return r

    return norm(ref) == norm(wanted)


def image_pulls(
    events: Iterable[dict[str, Any]], images: list[str], pods: set[str] | None = None
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(cold, warm): lists of {node, pod, image, message} for the studied images only."""
    cold: list[dict[str, str]] = []
    warm: list[dict[str, str]] = []
    for ev in events:
        if ev.get("reason") != "Pulled":
            continue
        pod = (ev.get("involvedObject") or {}).get("name", "")
        if pods is not None and pod not in pods:
            continue
        msg = ev.get("message", "")
        m = _PULLED.match(msg) or _WARM.match(msg)
        if not m:
            continue
        image = next((i for i in images if same_image(m["ref"], i)), None)
        if image is None:
            continue  # system and operator images share the stream; keep them apart
        row = {"node": event_node(ev), "pod": pod, "image": image, "message": msg}
        (warm if _WARM.match(msg) else cold).append(row)
    return cold, warm


def check_pulls(
    events: Iterable[dict[str, Any]],
    images: list[str],
    nodes: int,
    pods: set[str] | None = None,
) -> dict[str, Any]:
    """Did every one of `nodes` nodes pull every image exactly once, cold?"""
    cold, warm = image_pulls(events, images, pods)
    expected = nodes * len(images)
    pairs = {(r["node"], r["image"]) for r in cold}
    distinct = len({r["node"] for r in cold})
    duplicates = len(cold) - len(pairs)
    complete = len(pairs) == expected and duplicates == 0
    problems = []
    if len(pairs) < expected:
        problems.append(f"observed {len(pairs)} of {expected} expected (node, image) pulls")
    if distinct < nodes:
        problems.append(f"pulls on {distinct} distinct nodes; expected {nodes}")
    if duplicates:
        problems.append(f"{duplicates} node(s) pulled the same image more than once")
    if warm:
        problems.append(f"{len(warm)} warm pull(s): {warm[0]['message']}")
    counts = {"expected_pulls": expected, "observed_pulls": len(pairs),
              "distinct_nodes": distinct, "warm": len(warm)}
    return _verdict("pulls", counts, (len(pairs), expected), complete and not warm, problems)


# Fastest cold pulls in the seed (GKE n1-standard-16, gVNIC, runs 1-3, 480 chonk pulls): 196 MB/s
# of uncompressed layers; 235 MB/s of compressed bytes for any image (system images included).
# A pull whose layer snapshots already exist fetches only manifest and config (containerd
# core/unpack/unpacker.go skips a layer whose chain-ID snapshot exists), so it "pulls" gigabytes
# in a fraction of a second: the seed's image-streaming run4 shows 35-41 GB/s. Thresholds sit an
# order of magnitude above any cold pull and far below any warm one.
MAX_NETWORK_BYTES_PER_SECOND = 1.25e9  # 10 Gb/s of compressed bytes: more than a node downloads
MAX_UNPACK_BYTES_PER_SECOND = 2e9  # 2 GB/s of uncompressed layers written to the node's disk


def go_seconds(text: str) -> float | None:
    """Seconds of a Go duration (`627ms`, `6.959s`, `1m2.3s`), None if it is not one."""
    parts = list(_GO_DURATION.finditer(text))
    if not parts or "".join(m.group(0) for m in parts) != text:
        return None
    return sum(float(m["n"]) * _GO_UNITS[m["unit"]] for m in parts)


def check_pull_speed(
    events: Iterable[dict[str, Any]],
    uncompressed: dict[str, int | None],
    pods: set[str] | None = None,
) -> dict[str, Any]:
    """Was any cold pull of the studied images faster than a cold download can be?

    `uncompressed`: image -> uncompressed bytes when known (container-chonks tags), else None.
    Rule: a pull is too fast when its compressed `Image size` over its pull time exceeds
    MAX_NETWORK_BYTES_PER_SECOND, or its uncompressed size over its pull time exceeds
    MAX_UNPACK_BYTES_PER_SECOND. A pull event without an `Image size` (kubelet < 1.30) cannot be
    judged and makes the check invalid.
    """
    cold, _ = image_pulls(events, list(uncompressed), pods)
    problems: list[str] = []
    fast = unjudged = 0
    for row in cold:
        m = _PULL_TIME.search(row["message"])
        secs = go_seconds(m["pull"]) if m else None
        if m is None or secs is None:
            unjudged += 1
            continue
        secs = max(secs, 1e-9)
        net = int(m["bytes"]) / secs
        size = uncompressed.get(row["image"])
        unpack = size / secs if size else 0.0
        if net > MAX_NETWORK_BYTES_PER_SECOND or unpack > MAX_UNPACK_BYTES_PER_SECOND:
            fast += 1
            if fast == 1:
                problems.append(
                    f"too fast for a cold pull on {row['node']}: {row['image']} in {m['pull']} "
                    f"= {net / 1e6:.0f} MB/s compressed, {unpack / 1e6:.0f} MB/s uncompressed "
                    f"(limits {MAX_NETWORK_BYTES_PER_SECOND / 1e6:.0f} and "
                    f"{MAX_UNPACK_BYTES_PER_SECOND / 1e6:.0f} MB/s): its layers were cached")
    if fast > 1:
        problems.append(f"{fast} pulls too fast for a cold cache in all")
    if unjudged:
        problems.append(f"{unjudged} pull event(s) without 'in <duration> ... Image size: N bytes'"
                        " (kubelet < 1.30): speed cannot be judged")
    counts = {"pulls": len(cold), "too_fast": fast, "unjudged": unjudged}
    return _verdict("pull_speed", counts, (len(cold) - fast - unjudged, len(cold)),
                    not problems and bool(cold), problems or ([] if cold else ["no pulls"]))


def check_clears(records: list[dict[str, Any]], pulled: dict[str, str], nodes: int) -> dict:
    """records: [{pod, node, ok, failed, fail, restarts}], one per pod's own clear (the pull pod's
    `clear` init container); pulled: pod -> node of every pod that pulled or was scheduled. Did
    every such pod prove its own node's cache cold before its pull, at the first attempt, and
    did at least `nodes` distinct nodes?

    Per pod, not per node: a clear proves the cache cold only for the pull that follows it in
    the same pod (the kubelet starts the pod's `pull` container after its init containers), so
    another pod's OK on the same node proves nothing about this pod's pull. A clear that was
    restarted proves nothing either: the failed attempt may have removed the names the retry
    looks the image up by, so the retry can find nothing to check while the layers are still on
    the node. A failed clear (its FAIL line) is named with its pod and node.
    """
    by_pod = {r.get("pod"): r for r in records if r.get("pod")}
    retried = sorted(f"{r.get('pod')} on {r.get('node') or '?'}" for r in records
                     if r.get("restarts"))
    good = {pod: r for pod, r in by_pod.items() if r.get("ok") and not r.get("restarts")}
    cleared = {r["node"] for r in good.values() if r.get("node")}
    failed = sorted((r for r in records if r.get("failed") or not r.get("ok")),
                    key=lambda r: (not r.get("failed"), str(r.get("pod"))))
    missing = sorted(pod for pod in pulled if pod not in good)
    problems = []
    if retried:
        problems.append(f"cache clear retried after a failure in {len(retried)} pod(s), "
                        f"e.g. {retried[0]}: a retry cannot prove the cache cold")
    if missing:
        pod = missing[0]
        problems.append(f"{len(missing)} pod(s) pulled without their own cache-clear record, "
                        f"e.g. {pod} on {pulled[pod] or '?'}")
    if len(cleared) < nodes:
        problems.append(f"cache cleared on {len(cleared)} distinct nodes; expected {nodes}")
    if failed:
        r = failed[0]
        why = r.get("fail") or "no 'cache-clear: OK' in its log"
        problems.append(f"cache clear failed in {len(failed)} pod(s), e.g. {r.get('pod')} on "
                        f"{r.get('node') or '?'}: {why}")
    counts = {"expected_nodes": nodes, "cleared_nodes": len(cleared),
              "failed_clears": sum(1 for r in records if r.get("failed"))}
    return _verdict("clears", counts, (min(len(cleared), nodes), nodes), not problems, problems)


def check_pods_per_node(pods: list[dict[str, Any]], nodes: int, per_node: int = 1) -> dict:
    """pods: [{name, node}]; exactly `per_node` pods on each of `nodes` distinct nodes?"""
    counts: dict[str, int] = {}
    unscheduled = 0
    for p in pods:
        if not p.get("node"):
            unscheduled += 1
            continue
        counts[p["node"]] = counts.get(p["node"], 0) + 1
    crowded = {n: c for n, c in counts.items() if c != per_node}
    problems = []
    if len(counts) != nodes:
        problems.append(f"pods on {len(counts)} distinct nodes; expected {nodes}")
    if crowded:
        node, c = sorted(crowded.items())[0]
        problems.append(f"{len(crowded)} node(s) with a pod count other than {per_node}, "
                        f"e.g. {node}: {c}")
    if unscheduled:
        problems.append(f"{unscheduled} pod(s) never scheduled")
    return _verdict("pods_per_node", {"expected_nodes": nodes, "distinct_nodes": len(counts)},
                    (min(len(counts), nodes), nodes), not problems, problems)


def parse_overlay(lines: Iterable[str]) -> dict[int, int | None]:
    """`flux overlay status` tree lines -> {rank: parent rank} (rank 0 -> None)."""
    parent: dict[int, int | None] = {}
    stack: list[tuple[int, int]] = []  # (depth, rank)
    for line in lines:
        m = _TREE.match(line.rstrip())
        if not m:
            continue
        depth = len(m["prefix"]) // 3
        rank = int(m["rank"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent[rank] = stack[-1][1] if stack else None
        stack.append((depth, rank))
    return parent


def overlay_section(text: str) -> list[str]:
    """The tree lines between `TOPOLOGY diagram` and `TOPOLOGY description` in a step log."""
    out, inside = [], False
    for line in text.splitlines():
        if line.strip() == "TOPOLOGY diagram":
            inside = True
            continue
        if line.strip().startswith("TOPOLOGY description"):
            break
        if inside:
            out.append(line)
    return out


def check_overlay(tree_lines: Iterable[str], expected_parents: list[int | None]) -> dict:
    """Does the printed tree have exactly the requested parent of every rank?"""
    got = parse_overlay(tree_lines)
    want = dict(enumerate(expected_parents))
    wrong = sorted(r for r in want if got.get(r, -1) != want[r])
    extra = sorted(set(got) - set(want))
    problems = []
    if wrong:
        r = wrong[0]
        problems.append(f"{len(wrong)} rank(s) with another parent, e.g. rank {r}: "
                        f"{got.get(r, 'missing')} instead of {want[r]}")
    if extra:
        problems.append(f"unexpected ranks {extra[:5]}")
    return _verdict("overlay", {"expected_ranks": len(want), "observed_ranks": len(got)},
                    (len(want) - len(wrong), len(want)), not problems, problems)


def _verdict(check: str, counts: dict[str, int], done: tuple[int, int], valid: bool,
             problems: list[str]) -> dict[str, Any]:
    """One check's result as status.json records it: what was counted, completeness (`done` is
    (found, expected); nothing expected counts as complete), the verdict and why."""
    found, expected = done
    return {
        "check": check,
        **counts,
        "completeness": round(found / expected, 4) if expected else 1.0,
        "valid": valid,
        "problems": problems,
    }


def timing_lines(text: str, prefix: str = "STUDY-TIMING ") -> list[dict[str, Any]]:
    """The machine-readable timing records a step printed (`STUDY-TIMING {json}`)."""
    out = []
    for line in text.splitlines():
        i = line.find(prefix)
        if i < 0:
            continue
        try:
            out.append(json.loads(line[i + len(prefix) :]))
        except ValueError:
            continue
    return out
