"""The pull table (one row per pull) of an ingest, and the tables derived from it.

What it deliberately does not do: decide what a run *meant* (node count, experiment) - the
caller passes that in (see `analysis.rundir`).
"""

from __future__ import annotations

import gc
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from analysis.events.parse import (
    _S_CONTAINER,
    _S_CREATED,
    _S_IMAGE,
    _S_INIT,
    _S_MSG,
    _S_NODE,
    _S_NS,
    _S_OWNER,
    _S_POD,
    _S_PULLED,
    _S_PULLING,
    _S_ROLE,
    _S_STARTED,
    _TAG_SCHEME,
    HELPER_INIT_CONTAINERS,
    HELPER_ROLE,
    PULL_COLUMNS,
    STAGES,
    WORKLOAD_ROLE,
    EventIngest,
    PullMessage,
    classify_image,
    image_key,
)


def _drain(records: dict) -> Iterator[tuple]:
    while records:
        yield records.popitem()


def _pull_table(ingest: EventIngest, run: str, nodes: int | None,
                studied: frozenset[str] | None, release: bool):
    """Built column by column; per-image work (key, role, tag scheme) runs once per distinct
    image and namespace, not once per row."""
    names = ["image_ref", "node", "namespace", "pod", "container", "init_container", "cached",
             "message_format", "pull_seconds", "pull_seconds_waiting", "compressed_bytes",
             "scheduled_at", "pulling_at", "pulled_at", "created_at", "started_at",
             "image", "role", "layers", "tag_size"]
    rows: list[tuple] = []
    per_image: dict[tuple, tuple] = {}
    scheduled_of = ingest.scheduled
    items = iter(ingest.records.items())
    if release:
        items = _drain(ingest.records)
        ingest.records = {}
    for (pod_key, _path), rec in items:
        ref = rec[_S_IMAGE]
        if ref is None:
            continue  # Created/Started of a container whose image events we never saw
        msg: PullMessage | None = rec[_S_MSG]
        scheduled = scheduled_of.get(pod_key)
        role = rec[_S_ROLE]
        if role == WORKLOAD_ROLE and rec[_S_INIT] and rec[_S_CONTAINER] in HELPER_INIT_CONTAINERS:
            role = HELPER_ROLE  # the harness's own container in a workload pod
        where = (ref, rec[_S_NS], rec[_S_OWNER], role)
        derived = per_image.get(where)
        if derived is None:
            key = image_key(ref)
            scheme = re.fullmatch(_TAG_SCHEME, key)
            derived = (key, classify_image(ref, rec[_S_NS], studied, rec[_S_OWNER], role),
                       int(scheme["layers"]) if scheme else None,
                       int(scheme["size"]) if scheme else None)
            per_image[where] = derived
        rows.append((
            ref, rec[_S_NODE], rec[_S_NS], rec[_S_POD], rec[_S_CONTAINER], rec[_S_INIT],
            msg.cached if msg else None, msg.message_format if msg else None,
            msg.pull_seconds if msg else None, msg.waiting_seconds if msg else None,
            msg.compressed_bytes if msg else None, scheduled[0] if scheduled else None,
            rec[_S_PULLING], rec[_S_PULLED], rec[_S_CREATED], rec[_S_STARTED], *derived,
        ))
    values = zip(*rows, strict=True) if rows else ([] for _ in names)
    columns = {name: list(column) for name, column in zip(names, values, strict=True)}
    del rows
    return _pull_frame(columns, run, nodes, ingest.stats)


def pull_table(ingest: EventIngest, run: str, nodes: int | None,
               studied: frozenset[str] | None = None, release: bool = False):
    """The tidy pull table (columns `PULL_COLUMNS`) of an ingest.

    With `release`, each record is dropped from the ingest as its row is made, so a big run
    never holds records and table at once. GC is paused while it runs: generational scans
    over the ingest's many small objects cost more than building the table.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _pull_table(ingest, run, nodes, studied, release)
    finally:
        if enabled:
            gc.enable()


def _pull_frame(cols: dict[str, list], run: str, nodes: int | None, stats: Counter):
    """Typed DataFrame of the pull columns, sorted by time.

    A timestamp that is not RFC 3339 (what the API server writes) becomes missing and is
    counted in `stats["bad_timestamp"]`, so one odd exporter cannot stop the analysis.
    """
    import pandas as pd

    n = len(cols["image_ref"])
    df = pd.DataFrame({
        "run": pd.Series([run] * n, dtype="object"),
        "nodes": pd.array([nodes] * n, dtype="Int64"),
        **{name: pd.Series(cols[name], dtype="object")
           for name in ("image", "image_ref", "role", "node", "namespace", "pod", "container",
                        "message_format")},
        "layers": pd.array(cols["layers"], dtype="Int64"),
        "compressed_bytes": pd.array(cols["compressed_bytes"], dtype="Int64"),
        "init_container": pd.array(cols["init_container"], dtype=bool),
        "cached": pd.array(cols["cached"], dtype="boolean"),
        "pull_seconds": pd.array(cols["pull_seconds"], dtype="float64"),
        "pull_seconds_waiting": pd.array(cols["pull_seconds_waiting"], dtype="float64"),
    })
    df["size_bytes"] = pd.array(cols["tag_size"], dtype="Int64")
    df["size_bytes"] = df["size_bytes"].fillna(df["compressed_bytes"])
    for col in STAGES:
        raw = pd.Series(cols[col], dtype="object")
        try:
            df[col] = pd.to_datetime(raw, utc=True, format="ISO8601")
        except (ValueError, OverflowError):
            df[col] = pd.to_datetime(raw, utc=True, format="ISO8601", errors="coerce")
            bad = int((df[col].isna() & raw.notna()).sum())
            if bad:
                stats["bad_timestamp"] += bad
    df["time_to_started_seconds"] = (df["started_at"] - df["pulling_at"]).dt.total_seconds()
    df = df[PULL_COLUMNS]
    order = ["run", "pulling_at", "pulled_at", "pod", "container"]
    return df.sort_values(order, kind="stable").reset_index(drop=True)


def completeness(pulls, node_names: Iterable[str], expected_per_node: int = 1):
    """Expected vs observed pulls of each studied image on each node.

    The seed's pull Jobs put 16 pods on 12-14 of 16 nodes; this table is how that shows up.
    """
    import pandas as pd

    studied = pulls[pulls["role"] == "studied"]
    nodes = sorted(set(node_names) | set(studied["node"].dropna()))
    cols = ["run", "image", "node", "expected", "observed", "cached", "status"]
    if studied.empty or not nodes:
        return pd.DataFrame(columns=cols)
    grid = pd.MultiIndex.from_product(
        [sorted(studied["run"].unique()), sorted(studied["image"].unique()), nodes],
        names=["run", "image", "node"],
    )
    counts = studied.groupby(["run", "image", "node"]).agg(
        observed=("pod", "size"), cached=("cached", lambda s: int(s.fillna(False).sum()))
    )
    table = counts.reindex(grid, fill_value=0).reset_index()
    table["expected"] = expected_per_node
    table["status"] = "ok"
    table.loc[table["observed"] < table["expected"], "status"] = "missing"
    table.loc[table["observed"] > table["expected"], "status"] = "extra"
    return table[cols]


def event_spread(pulls):
    """How far apart in time each stage happened across one image's pods (the seed's "mystery")."""
    import pandas as pd

    studied = pulls[pulls["role"] == "studied"]
    keys = ["run", "nodes", "image", "layers", "size_bytes"]
    frames = []
    for stage in STAGES:
        grouped = studied.dropna(subset=[stage]).groupby(keys, dropna=False)[stage]
        if grouped.ngroups == 0:
            continue
        agg = grouped.agg(first="min", last="max", n="size").reset_index()
        agg["stage"] = stage.removesuffix("_at")
        agg["spread_seconds"] = (agg["last"] - agg["first"]).dt.total_seconds()
        frames.append(agg)
    if not frames:
        return pd.DataFrame(columns=[*keys, "stage", "first", "last", "n", "spread_seconds"])
    return pd.concat(frames, ignore_index=True)[
        [*keys, "stage", "first", "last", "n", "spread_seconds"]
    ]
