"""Measurement validity checks: pure functions over what a step left behind.

Why a separate, standard-library-only module: the same code runs in the cluster (the step
recorder mounts it next to `recorder.py` and records the verdict in the step's status.json) and
on a laptop (`study collect` and the analysis can re-run it on the saved events). It decides
whether a measurement can be trusted; it never decides what a measurement means.

- pulls: every expected (node, image) pull observed, on distinct nodes, none warm
  (`Container image "..." already present on machine` means the cache was not cold);
- pods per node: the scheduler placed exactly the expected number of pods on each node;
- overlay: the Flux tree printed by the step has the requested shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

_PULLED = re.compile(r'^Successfully pulled image "(?P<ref>[^"]+)"')
_WARM = re.compile(r'^Container image "(?P<ref>[^"]+)" already present on machine')
_PULLING = re.compile(r'^Pulling image "(?P<ref>[^"]+)"')
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
