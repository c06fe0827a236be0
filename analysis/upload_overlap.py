"""Which studied pulls ran beside a step's upload on the same node, and for how long.

Why: each step's upload Job (`experiments.upload`) runs on the results node beside the next
step's start (`experiments.component`), so in a pulling study one node's cold pull shares its
first seconds with a CLI process and the egress of the step's files. A pulling study reports the
slowest node's pull and the per-node distribution, so the neighbour is shown per pull here
rather than argued.

An upload's window is its Job's, as `step_timeline`'s `upload_seconds` times it: the Job's
first event (`SuccessfulCreate`) to its `Completed`. Its node is where its pod ran: the
scheduler's `Scheduled` ("Successfully assigned <ns>/<pod> to <node>"), else the kubelet's own
events' `source.host` (`analysis.timeline.object_times` reads both). A pull's window is its
`Pulling` to its `Pulled`. Two windows overlap when each starts before the other ends (the
events' times are whole seconds, so windows that only touch do not); the overlap is the seconds
they share, counted once however many uploads ran beside the pull.

A value the data cannot give is blank: a pull without both events (a cache hit, a pull that never
finished) and a pull that an upload of unknown end or node may have run beside. Nothing is made
for a run without upload Job events (the seed's own, or a stream that lost them), so its tables
stay exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analysis.stats import median_known

if TYPE_CHECKING:
    from analysis.timeline import ObjectTimes

OVERLAP_TABLE = "upload_overlap"
# One row per studied pull; `run`, `namespace`, `pod` and `container` join it to `pulls`.
OVERLAP_COLUMNS = [
    "run", "step", "node", "namespace", "pod", "container", "image", "pulling_at", "pulled_at",
    "pull_seconds", "beside_upload", "upload", "upload_started_at", "upload_finished_at",
    "overlap_seconds",
]


@dataclass(frozen=True)
class Upload:
    """One step's upload Job as the run's events show it (times in epoch seconds)."""

    job: str
    step: str
    started: float
    finished: float | None  # None: no `Completed` (failed, or still running when collected)
    nodes: frozenset[str]  # empty: no event of its pod says where it ran

    @property
    def known(self) -> bool:
        return self.finished is not None and bool(self.nodes)


@dataclass
class Overlaps:
    """The per-pull table and, per upload Job of known window and node, how many studied pulls
    it overlapped and for how many seconds at least one of them ran beside it."""

    table: Any  # DataFrame, columns OVERLAP_COLUMNS
    per_upload: dict[str, tuple[int, float]] = field(default_factory=dict)


def uploads(events: ObjectTimes, steps: list[str]) -> list[Upload]:
    """The upload Jobs of the run's steps that its events saw, in step order."""
    from experiments.upload import upload_name

    out = []
    for step in steps:
        job = upload_name(step)
        if job in events.first:
            out.append(Upload(job, step, events.first[job], events.completed.get(job),
                              events.nodes_of(job)))
    return out


def _union(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the spans, each second once."""
    total, reach = 0.0, None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total += hi - lo
            reach = hi
        elif hi > reach:
            total += hi - reach
            reach = hi
    return round(total, 3)


def _epoch(column):
    import numpy as np
    import pandas as pd

    return ((column - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(dtype=np.float64)


def overlaps(pulls, found: list[Upload]) -> Overlaps:
    """Each studied pull's overlap with the uploads on its node (see the module docstring)."""
    import numpy as np
    import pandas as pd

    if pulls.empty or not (pulls["role"] == "studied").any():
        return Overlaps(table=pd.DataFrame(columns=OVERLAP_COLUMNS),
                        per_upload={u.job: (0, 0.0) for u in found if u.known})
    studied = pulls[pulls["role"] == "studied"].reset_index(drop=True)
    n = len(studied)
    start, end = _epoch(studied["pulling_at"]), _epoch(studied["pulled_at"])
    nodes = studied["node"].to_numpy(dtype=object)
    timed = ~np.isnan(start) & ~np.isnan(end)
    spans: list[list[tuple[float, float, int]]] = [[] for _ in range(n)]
    unsure = np.zeros(n, dtype=bool)
    result = Overlaps(table=None)
    for k, up in enumerate(found):
        on_node = np.isin(nodes, list(up.nodes)) if up.nodes else np.ones(n, dtype=bool)
        with np.errstate(invalid="ignore"):
            hit = on_node & (end > up.started)
            if up.finished is not None:
                hit &= start < up.finished
        if not up.known:
            unsure |= hit
            continue
        assert up.finished is not None
        shared = []
        for j in np.flatnonzero(hit & timed):
            span = (max(float(start[j]), up.started), min(float(end[j]), up.finished))
            spans[j].append((*span, k))
            shared.append(span)
        result.per_upload[up.job] = (len(shared), _union(shared))
    rows = []
    for i in range(n):
        mine = sorted(spans[i], key=lambda s: found[s[2]].started)
        if not timed[i] or (unsure[i] and not mine):
            beside, overlap = None, None
        else:
            beside = bool(mine)
            overlap = None if unsure[i] else _union([(lo, hi) for lo, hi, _ in mine])
        ups = [found[k] for _, _, k in mine]
        rows.append([
            ", ".join(u.job for u in ups) or None,
            min((u.started for u in ups), default=None),
            max((u.finished for u in ups if u.finished is not None), default=None),
            beside, overlap,
        ])
    extra = pd.DataFrame(rows, columns=["upload", "upload_started_at", "upload_finished_at",
                                        "beside_upload", "overlap_seconds"])
    table = studied.reindex(columns=[c for c in OVERLAP_COLUMNS if c not in extra.columns])
    table["step"] = table["step"].astype(object)
    table = pd.concat([table, extra], axis=1)
    for col in ("upload_started_at", "upload_finished_at"):
        table[col] = pd.to_datetime(table[col], unit="s", utc=True)
    table["beside_upload"] = table["beside_upload"].astype("boolean")
    table["overlap_seconds"] = table["overlap_seconds"].astype("float64")
    table["upload"] = table["upload"].astype(object)
    result.table = table[OVERLAP_COLUMNS]
    return result


def overlap_summary(table) -> str | None:
    """How many studied pulls overlapped an upload on their node, by how much, and their
    median pull time against the other pulls of the same images; None without the table."""
    if table is None or table.empty:
        return None
    beside = table["beside_upload"]
    flagged = table[beside.fillna(False).astype(bool)]
    unknown = int(beside.isna().sum())
    told = (f"; {unknown} could not be told (a pull's events, or an upload's end or node, "
            "missing)") if unknown else ""
    if flagged.empty:
        return (f"no studied pull of {len(table)} overlapped an upload on the same node"
                f"{told}")
    images = set(flagged["image"])
    others = table[(beside == False) & table["image"].isin(images)]  # noqa: E712
    overlap = median_known(flagged["overlap_seconds"])
    by = f" (median overlap {overlap:.0f} s)" if overlap is not None else ""
    mine, theirs = median_known(flagged["pull_seconds"]), median_known(others["pull_seconds"])
    noun = "image" if len(images) == 1 else "images"
    if mine is None:
        against = ""
    elif theirs is None:
        against = f": median pull {mine:.1f} s, no other pull of the same {noun} to compare"
    else:
        pulls = "pull" if len(others) == 1 else "pulls"
        against = (f": median pull {mine:.1f} s against {theirs:.1f} s for the other "
                   f"{len(others)} {pulls} of the same {noun}")
    return (f"{len(flagged)} of {len(table)} studied pulls overlapped an upload on the same "
            f"node{by}{against}{told}")
