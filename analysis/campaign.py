"""A campaign's members side by side by node count: the views the seed studies drew by hand.

A campaign run directory (`results/campaigns/<name>/<run-id>/`, written by `study campaign
run`) holds one collected run per member and a `provenance.json` naming each member's stack and
node count. Each member is read by the ordinary analysis (`analysis.pipeline.load_runs`,
`analysis.tables.combine`); here the tables get a `stack` column and by-node-count summaries:

- `campaign_pulls`: median pull time per image size, stack and node count;
- `campaign_spread`: the spread of each event stage's timestamps across nodes, per node count
  (the seed's "mystery": larger clusters spread more);
- `campaign_topology`: topology step times by design and node count;
- `campaign_osu`: OSU wall time per benchmark and node count.

The figures are analysis' own (`analysis.figures.draw_figures`), drawn with each member's
stack as its series, so one line runs across the node-count panels and axes; plus one of the
spread against node count. Nothing here knows about the CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from analysis.errors import AnalysisError

PROVENANCE = "provenance.json"
STATE = "campaign.json"


@dataclass(frozen=True)
class CampaignMember:
    name: str
    stack: str
    nodes: int
    path: Path


@dataclass
class CampaignAnalysis:
    members: list[CampaignMember]
    datas: list
    tables: dict
    figures: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def is_campaign_dir(path: Path) -> bool:
    return path.is_dir() and (path / STATE).is_file() and (path / PROVENANCE).is_file()


def members_of(campaign_dir: Path) -> list[CampaignMember]:
    """The members that have a run directory, in run order, from the campaign's provenance."""
    try:
        doc = json.loads((campaign_dir / PROVENANCE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        msg = f"{campaign_dir / PROVENANCE}: not readable as a campaign's provenance ({exc})"
        raise AnalysisError(msg) from None
    out = []
    for m in doc.get("members") or []:
        if not m.get("run_dir"):
            continue  # never ran (stopped before it)
        path = Path(m["run_dir"])
        path = path if path.is_absolute() else campaign_dir / path
        if path.is_dir():
            out.append(CampaignMember(m["name"], m["stack"], int(m["nodes"]), path))
    if not out:
        msg = f"{campaign_dir}: no member of the campaign has a run directory to analyse"
        raise AnalysisError(msg)
    return out


def load(campaign_dir: Path) -> CampaignAnalysis:
    from analysis.pipeline import RunArg, load_runs
    from analysis.tables import combine

    members = members_of(campaign_dir)
    # Each member's node count is the campaign's, whatever its data lets be inferred.
    datas = []
    for m in members:
        datas += load_runs([RunArg(m.path, m.name)], nodes=m.nodes)
    tables = combine(datas)
    stack_of = {m.name: m.stack for m in members}
    nodes_of = {m.name: m.nodes for m in members}
    for df in tables.values():
        if "run" in df.columns:
            df["stack"] = df["run"].map(stack_of)
            if "nodes" in df.columns:
                df["nodes"] = df["nodes"].fillna(df["run"].map(nodes_of))
    return CampaignAnalysis(members, datas, tables)


def by_node_count(tables: dict) -> dict:
    """The campaign's summaries, each keyed by stack and node count (see the module doc)."""
    out = {}
    pulls = tables.get("pull_medians")
    if pulls is not None and not pulls.empty:
        out["campaign_pulls"] = (
            pulls.groupby(["stack", "nodes", "layers", "size_bytes"], dropna=False)
            .agg(median_pull_seconds=("median_pull_seconds", "median"), images=("image", "nunique"))
            .reset_index().sort_values(["stack", "size_bytes", "nodes"], ignore_index=True))
    spread = tables.get("event_spread")
    if spread is not None and not spread.empty:
        out["campaign_spread"] = (
            spread.dropna(subset=["spread_seconds"])
            .groupby(["stack", "nodes", "stage"], dropna=False)
            .agg(median_spread_seconds=("spread_seconds", "median"),
                 max_spread_seconds=("spread_seconds", "max"), images=("image", "nunique"))
            .reset_index().sort_values(["stack", "stage", "nodes"], ignore_index=True))
    topo = tables.get("topology_medians")
    if topo is not None and not topo.empty:
        out["campaign_topology"] = topo.sort_values(
            ["stack", "topology", "event", "size_gb", "nodes"], ignore_index=True)
    osu = tables.get("osu_wall")
    if osu is not None and not osu.empty:
        out["campaign_osu"] = (
            osu.dropna(subset=["wall_seconds"])
            .groupby(["stack", "benchmark", "nodes"], dropna=False)
            .agg(wall_seconds=("wall_seconds", "median"), n=("wall_seconds", "size"))
            .reset_index().sort_values(["stack", "benchmark", "nodes"], ignore_index=True))
    return out


def as_series_by_stack(tables: dict) -> dict:
    """The tables with each row's `run` replaced by its stack: analysis' figures then draw one
    series per stack across the node counts (their panels and axes are by node count)."""
    out = {}
    for name, df in tables.items():
        if "stack" in df.columns and "run" in df.columns:
            df = df.copy()
            df["run"] = df["stack"]
        out[name] = df
    return out


def spread_vs_nodes(summary: dict, out_dir: Path) -> list:
    """Median spread of each stage's timestamps across nodes against the node count."""
    from experiments.plotting import Figure, Skipped, series_style

    title = "Spread of event timestamps across nodes vs node count"
    data = summary.get("campaign_spread")
    if data is None or data.empty:
        return []
    if data["nodes"].nunique() < 2:
        return [Skipped("campaign_spread_vs_nodes", title, "the campaign has one node count")]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    for i, ((stack, stage), part) in enumerate(data.groupby(["stack", "stage"])):
        part = part.sort_values("nodes")
        ax.plot(part["nodes"].astype(float), part["median_spread_seconds"],
                label=f"{stage} ({stack})", **series_style(i))
    ax.set(xscale="log", xlabel="nodes", ylabel="median spread across nodes (s)")
    ticks = sorted(data["nodes"].unique())
    ax.set_xticks([float(t) for t in ticks], [str(int(t)) for t in ticks])
    ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / "campaign_spread_vs_nodes.png", out_dir / "campaign_spread_vs_nodes.svg"
    fig.savefig(png, dpi=100)
    fig.savefig(svg)
    plt.close(fig)
    return [Figure("campaign_spread_vs_nodes", title,
                   "Each line is one event stage of one stack: the median over images of the "
                   "time between its first and last node.", png, svg)]


def analyze_campaign(campaign_dir: Path, out: Path, figures: bool = True) -> CampaignAnalysis:
    """Read every member, write the members' tables and the by-node-count ones, and figures."""
    from analysis.tables import write_table
    from core.errors import ensure_dir

    result = load(campaign_dir)
    ensure_dir(out, "--out")
    summary = by_node_count(result.tables)
    result.tables = {**result.tables, **summary}
    for name, df in result.tables.items():
        result.written += write_table(df, out / "tables", name)
    if figures:
        from analysis.figures import draw_figures
        from experiments.plotting import Figure

        drawn, skipped = draw_figures(as_series_by_stack(result.tables), out / "figures", {})
        extra = spread_vs_nodes(summary, out / "figures")
        drawn += [f for f in extra if isinstance(f, Figure)]
        skipped += [f for f in extra if not isinstance(f, Figure)]
        result.figures, result.skipped = drawn, skipped
        for fig in drawn:
            result.written += [fig.png, fig.svg]
    return result
