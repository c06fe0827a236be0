"""A run directory to its tidy tables, plus the two documents `compare` checks.

Every table carries the run label in a `run` column, so tables of several runs concatenate into
one tidy table. The experiment definition and stack config come from `provenance.json`; for
seed data, which has none, they are derived from what the data shows (images pulled, designs
timed, node labels) and marked `"derived": true`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from analysis import events
from analysis.rundir import RunDir

# Node labels that describe how a cluster was built (GKE and EKS spellings).
CONFIG_LABELS = {
    "node.kubernetes.io/instance-type": "instance_type",
    "topology.kubernetes.io/zone": "zone",
    "cloud.google.com/gke-ephemeral-storage-local-ssd": "local_ssd",
    "cloud.google.com/gke-image-streaming": "image_streaming",
    "cloud.google.com/gke-boot-disk": "boot_disk",
    "cloud.google.com/gke-os-distribution": "os_distribution",
    "eks.amazonaws.com/nodegroup": "nodegroup",
}


@dataclass
class RunData:
    """The tidy tables of one run (empty DataFrames for kinds it does not have)."""

    run: RunDir
    tables: dict = field(default_factory=dict)
    ingest_stats: Counter = field(default_factory=Counter)
    file_problems: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # per-log parse problems, one line each
    node_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    # Every measurement as records (`analysis.records.to_records`), one frame per table; the
    # tables a kind declares a view of (`views`) are computed from these.
    records: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.run.label

    def table(self, name: str):
        """A table by name; an empty DataFrame when the run has none."""
        import pandas as pd

        return self.tables.get(name, pd.DataFrame())

    def experiment(self) -> dict:
        """The experiment definition runs must share to be compared."""
        recorded = self.run.provenance.get("experiment")
        if isinstance(recorded, dict):
            return recorded
        derived: dict = {"derived": True, "kinds": self.run.kinds}
        pulls = self.table("pulls")
        if not pulls.empty:
            derived["images"] = sorted(pulls.loc[pulls["role"] == "studied", "image"].unique())
        from experiments.registry import results_kinds

        for kind in results_kinds():
            describe = getattr(kind, "describe", None)
            if describe is not None:
                derived.update(describe(self.tables))
        return derived

    def uses_streaming(self) -> bool:
        """Whether the run's nodes had GKE image streaming on (labels or recorded config)."""
        from analysis.compare import flatten

        flat = flatten(self.stack_config())
        return any(key.rsplit(".", 1)[-1] == "image_streaming" and str(value).lower() == "true"
                   for key, value in flat.items())

    def stack_config(self) -> dict:
        """The stack's configuration (recorded, or derived from node labels and registries)."""
        recorded = self.run.provenance.get("stack_config")
        if isinstance(recorded, dict):
            return recorded
        derived: dict = {"derived": True}
        if self.run.nodes is not None:
            derived["nodes"] = self.run.nodes
        labels = self.node_labels
        for label, key in CONFIG_LABELS.items():
            values = sorted({lbl[label] for lbl in labels.values() if label in lbl})
            if values:
                derived[key] = values[0] if len(values) == 1 else values
        if labels and "cloud.google.com/gke-nodepool" in next(iter(labels.values())):
            derived.setdefault("local_ssd", "false")
            derived.setdefault("image_streaming", "false")
        pulls = self.table("pulls")
        if not pulls.empty:
            studied = pulls.loc[pulls["role"] == "studied", "image_ref"]
            hosts = sorted({ref.split("/", 1)[0] for ref in studied if "/" in ref})
            if hosts:
                derived["registry"] = hosts[0] if len(hosts) == 1 else hosts
        return derived


def load_run(run: RunDir, nodes: int | None = None) -> RunData:
    """Parse everything a run directory holds; `nodes` is the user's count when nothing says."""
    data = RunData(run=run)
    data.node_labels = run.node_labels()
    if run.event_files:
        _load_pulls(data, nodes)
    elif run.nodes is None and nodes is not None:
        run.nodes, run.nodes_source = nodes, "--nodes"
    from analysis.records import to_records, view
    from experiments.registry import get_kind

    for name, outputs in run.outputs_by_kind().items():
        kind = get_kind(name)
        views = {p.table: p for p in getattr(kind, "views", ())}
        for table, df in kind.parse(outputs, data.problems).items():  # type: ignore[attr-defined]
            if table in views:
                recs = to_records(df, views[table], _identity(run))
                data.records.append(recs)
                df = view(recs, views[table])
            data.tables[table] = _with_run(df, run.label)
    from analysis.timeline import timeline_tables

    data.tables.update(timeline_tables(data))
    return data


def _load_pulls(data: RunData, nodes: int | None) -> None:
    import pandas as pd

    run = data.run
    ingest = events.ingest_files(run.event_files)
    data.ingest_stats = ingest.stats
    data.file_problems = ingest.file_problems
    for node, labels in ingest.nodes.items():
        data.node_labels.setdefault(node, labels)
    _resolve_nodes(run, ingest, nodes)
    pulls = events.pull_table(ingest, run.label, run.nodes, run.studied_images(), release=True)
    pulls["step"] = _step_of(pulls, run.steps)
    from analysis.records import to_records, view
    from experiments.kinds.pulling.results import PULLS_VIEW

    recs = to_records(pulls, PULLS_VIEW, _identity(run))
    del pulls
    data.records.insert(0, recs)
    pulls = view(recs, PULLS_VIEW)
    data.tables["pulls"] = pulls
    data.tables["completeness"] = events.completeness(pulls, data.node_labels)
    data.tables["event_spread"] = events.event_spread(pulls)
    stats = {"run": run.label, **{k: int(v) for k, v in ingest.stats.items()}}
    data.tables["ingest_stats"] = pd.DataFrame([stats])


def _resolve_nodes(run: RunDir, ingest: events.EventIngest, nodes: int | None) -> None:
    """The node count: the inventory, else the nodes whose kubelet reported, else `--nodes`.

    A count inferred from kubelet events is a floor (an idle node reports nothing) and is
    marked as inferred wherever it is shown.
    """
    if run.nodes_source == "inventory":
        return
    if ingest.nodes:  # RegisteredNode events are the cluster's own inventory
        run.nodes, run.nodes_source = len(ingest.nodes), "inventory"
    elif run.nodes is not None:
        return
    elif ingest.reporting_nodes:
        run.nodes, run.nodes_source = len(ingest.reporting_nodes), "inferred"
    elif nodes is not None:
        run.nodes, run.nodes_source = nodes, "--nodes"


def _step_of(pulls, steps: list[dict]):
    """The harness step whose time window holds each pull's `Pulling` (None for seed data)."""
    import pandas as pd

    result = pd.Series([None] * len(pulls), index=pulls.index, dtype="object")
    for step in steps:
        if not isinstance(step, dict):
            continue
        start = pd.to_datetime(step.get("started_at"), utc=True, errors="coerce")
        end = pd.to_datetime(step.get("finished_at"), utc=True, errors="coerce")
        if pd.isna(start) or pd.isna(end):
            continue
        inside = pulls["pulling_at"].between(start, end) | (
            pulls["pulling_at"].isna() & pulls["pulled_at"].between(start, end))
        result[inside & result.isna()] = str(step.get("step"))
    return result


def _identity(run: RunDir) -> dict:
    """The labels every record of the run carries."""
    return {"stack": run.stack, "run_id": run.provenance.get("run_id"), "run": run.label}


def _with_run(df, label: str):
    df.insert(0, "run", label)
    return df
