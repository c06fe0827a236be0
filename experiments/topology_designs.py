"""Flux overlay tree designs (`kary:K`, `binomial`) for N brokers, as the levels Flux builds.

Why here: the topology study needs, before anything runs, the tree each design gives (to pick the
leaves and the middle level to distribute to, and afterwards to check that the running instance
really had that shape). The shapes match flux-core's: in `kary:K` the parent of rank r is
(r-1)//K; in `binomial` it is r with its lowest set bit cleared (depth = popcount). Checked
against the seed study's kary-designs.json (265 designs, 4..31 nodes) and the trees
`flux overlay status` printed.
"""

from __future__ import annotations

import re

DESIGN = re.compile(r"^(binomial|kary:[1-9][0-9]*)$")


def parents(design: str, n: int) -> list[int | None]:
    """parent[r] for every rank r (None for rank 0)."""
    if not DESIGN.match(design):
        msg = f"'{design}' is not a design; allowed: 'binomial' or 'kary:K' with K >= 1"
        raise ValueError(msg)
    out: list[int | None] = [None] * n
    if design == "binomial":
        for r in range(1, n):
            out[r] = r & (r - 1)  # clear the lowest set bit: 3 -> 2, 5 -> 4, 6 -> 4
        return out
    k = int(design.split(":")[1])
    for r in range(1, n):
        out[r] = (r - 1) // k
    return out


def levels(design: str, n: int) -> list[list[int]]:
    """Ranks by depth: levels[0] == [0], the last level holds the deepest leaves."""
    par = parents(design, n)
    depth = [0] * n
    for r in range(1, n):
        p = par[r]
        assert p is not None and p < r  # parents always come first in both designs
        depth[r] = depth[p] + 1
    out: list[list[int]] = [[] for _ in range(max(depth) + 1)]
    for r in range(n):
        out[depth[r]].append(r)
    return out


def leaves(design: str, n: int) -> list[int]:
    """Ranks with no children (the seed distributed to one rank by mistake)."""
    par = parents(design, n)
    has_child = {p for p in par if p is not None}
    return [r for r in range(n) if r not in has_child]


def middle(design: str, n: int) -> list[int]:
    """The level halfway down the tree (empty when the tree has fewer than three levels)."""
    lv = levels(design, n)
    if len(lv) < 3:
        return []
    return lv[len(lv) // 2]


def designs(n: int, max_k: int | None = None, binomial: bool = True) -> list[str]:
    """`binomial` and `kary:1..K` for N nodes; K defaults to N-1 (beyond it every tree is flat)."""
    top = n - 1 if max_k is None else min(max_k, n - 1)
    out = ["binomial"] if binomial else []
    return out + [f"kary:{k}" for k in range(1, max(top, 1) + 1)]


def render_tree(design: str, n: int, host: str = "flux-sample") -> list[str]:
    """The tree as `flux overlay status` prints it (used in tests and printed by the plan)."""
    par = parents(design, n)
    children: dict[int, list[int]] = {r: [] for r in range(n)}
    for r in range(1, n):
        children[par[r]].append(r)  # type: ignore[index]
    lines = [f"0 {host}-0: full"]

    def walk(r: int, prefix: str) -> None:
        kids = children[r]
        for i, c in enumerate(kids):
            last = i == len(kids) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{c} {host}-{c}: full")
            walk(c, prefix + ("   " if last else "│  "))

    walk(0, "")
    return lines
