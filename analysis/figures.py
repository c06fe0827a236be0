"""The seed studies' figures, redrawn from the tidy tables with seaborn (PNG and SVG).

Each function takes the combined tables of one or more runs and returns the figures it drew
(none when the tables it needs are absent), so `study analyze` and `study report` draw whatever
the runs support. Rendering uses the Agg backend: no display, same output in CI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.osu import SCALING_RULE  # noqa: E402

GB = 1e9
LATENCY_METRICS = ("latency_us", "avg_latency_us")
BANDWIDTH_METRICS = ("bandwidth_mb_s", "mb_s")
# How the figures summarise repeated measurements: the median, with the interquartile range.
MEDIAN_IQR = {"estimator": "median", "errorbar": ("pi", 50)}


@dataclass
class Figure:
    """A drawn figure: where its files are and what it shows."""

    name: str
    title: str
    caption: str
    png: Path
    svg: Path


def _save(grid_or_fig, out_dir: Path, name: str, title: str, caption: str) -> Figure:
    fig = getattr(grid_or_fig, "figure", grid_or_fig)
    fig.suptitle(title, y=1.02)
    # Measure the tight box once and reuse it: bbox_inches="tight" would re-measure per file.
    bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.1)
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=100, bbox_inches=bbox)
    fig.savefig(svg, bbox_inches=bbox)
    plt.close(fig)
    return Figure(name, title, caption, png, svg)


def _table(tables: dict, name: str):
    """The combined table `name`, or None when the runs produced no rows for it."""
    table = tables.get(name)
    return None if table is None or table.empty else table


def _studied_fresh(pulls):
    fresh = pulls[(pulls["role"] == "studied") & (pulls["cached"] == False)].copy()  # noqa: E712
    fresh["size_gb"] = fresh["size_bytes"].astype("float64") / GB
    fresh["layers"] = fresh["layers"].astype("object").where(fresh["layers"].notna(), "n/a")
    return fresh


def pull_time_vs_size(tables: dict, out_dir: Path) -> list[Figure]:
    """Pull time against image size, one panel per layer count, a line per run (nodes)."""
    pulls = _table(tables, "pulls")
    if pulls is None:
        return []
    fresh = _studied_fresh(pulls).dropna(subset=["pull_seconds", "size_gb"])
    if fresh.empty:
        return []
    figures = []
    for scale in ("linear", "log"):
        grid = sns.relplot(data=fresh, x="size_gb", y="pull_seconds", hue="run", style="nodes",
                           col="layers", kind="line", **MEDIAN_IQR, marker="o", height=3.6,
                           aspect=1.3)
        grid.set_axis_labels("image size (GB, nominal)", "pull seconds (kubelet)")
        if scale == "log":
            grid.set(xscale="log", yscale="log")
        figures.append(_save(
            grid, out_dir, f"pull_time_vs_size_{scale}",
            f"Pull time vs image size ({scale} axes)",
            "Median over pods of the kubelet's own pull time, band = interquartile range. "
            "Cache hits ('already present') are excluded.",
        ))
    return figures


def event_spread(tables: dict, out_dir: Path) -> list[Figure]:
    """Spread of each event's timestamps across pods, per image (the seed's "mystery")."""
    spread = _table(tables, "event_spread")
    if spread is None:
        return []
    data = spread.copy()
    data["size_gb"] = data["size_bytes"].astype("float64") / GB
    grid = sns.relplot(data=data, x="size_gb", y="spread_seconds", hue="run", col="stage",
                       col_wrap=3, kind="line", marker="o", height=3, aspect=1.2)
    grid.set_axis_labels("image size (GB, nominal)", "last - first (s)")
    return [_save(grid, out_dir, "event_spread", "Spread of event timestamps across nodes",
                  "For each image and event, the time between the first and the last pod to "
                  "reach it. Larger images and larger clusters spread more.")]


def pull_vs_started(tables: dict, out_dir: Path) -> list[Figure]:
    """Pull time next to time to Started per run: streaming moves the cost to container start."""
    pulls = _table(tables, "pulls")
    if pulls is None:
        return []
    fresh = _studied_fresh(pulls)
    long = fresh.melt(id_vars=["run", "image", "size_gb"],
                      value_vars=["pull_seconds", "time_to_started_seconds"],
                      var_name="measure", value_name="seconds").dropna(subset=["seconds"])
    if long.empty:
        return []
    order = (fresh.drop_duplicates("image").sort_values("size_gb")["image"].tolist())
    grid = sns.catplot(data=long, x="image", y="seconds", hue="run", col="measure", kind="bar",
                       **MEDIAN_IQR, order=order, height=3.8,
                       aspect=1.4, sharey=True)
    for ax in grid.axes.flat:
        plt.setp(ax.get_xticklabels(), rotation=60, ha="right")
    return [_save(grid, out_dir, "pull_vs_started",
                  "Pull time and time from Pulling to Started, by run",
                  "With image streaming the reported pull time is near zero; the fair "
                  "comparison is the time until the container started.")]


def topology_step_times(tables: dict, out_dir: Path) -> list[Figure]:
    """Step times by design and archive size, one row of panels per node count."""
    topo = _table(tables, "topology")
    if topo is None:
        return []
    data = topo[topo["event"].str.endswith("all-nodes") | (topo["event"] == "create-archive")]
    data = data.dropna(subset=["time_seconds"])
    if data.empty:
        return []
    grid = sns.catplot(data=data, x="size_gb", y="time_seconds", hue="topology", col="event",
                       row="nodes", kind="point", **MEDIAN_IQR, dodge=0.4, height=2.8,
                       aspect=1.2, sharey=False)
    grid.set_axis_labels("archive size (GB)", "seconds (real)")
    return [_save(grid, out_dir, "topology_step_times",
                  "Archive steps by overlay design and size, per node count",
                  "Median over iterations, bars = interquartile range. Design labels are the "
                  "Flux overlay topology (kary:K, binomial).")]


def osu_wall_scaling(tables: dict, out_dir: Path) -> list[Figure]:
    """OSU wall time against node count, each benchmark coloured by its scaling class."""
    wall, scaling = _table(tables, "osu_wall"), _table(tables, "osu_scaling")
    if wall is None or scaling is None:
        return []
    data = wall.dropna(subset=["wall_seconds"]).merge(scaling[["run", "benchmark", "class"]],
                                                      on=["run", "benchmark"])
    fig, ax = plt.subplots(figsize=(9, 6))
    sns.lineplot(data=data, x="nodes", y="wall_seconds", hue="class", units="benchmark",
                 estimator=None, marker="o", ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="nodes", ylabel="wall seconds (real)")
    last = data.sort_values("nodes").groupby("benchmark").tail(1)
    for _, row in last.iterrows():
        ax.annotate(row["benchmark"], (row["nodes"], row["wall_seconds"]), fontsize=6,
                    xytext=(3, 0), textcoords="offset points")
    fig.text(0.01, -0.04, f"Rule: {SCALING_RULE}", fontsize=7)
    return [_save(fig, out_dir, "osu_wall_scaling", "OSU wall time vs node count",
                  f"Each line is one benchmark. Rule: {SCALING_RULE}.")]


def osu_by_message_size(tables: dict, out_dir: Path) -> list[Figure]:
    """OSU latency and bandwidth against message size, one panel per benchmark."""
    metrics = _table(tables, "osu_metrics")
    if metrics is None:
        return []
    figures = []
    for name, kinds, label in (("osu_latency", LATENCY_METRICS, "latency (us)"),
                               ("osu_bandwidth", BANDWIDTH_METRICS, "bandwidth (MB/s)")):
        data = metrics[metrics["metric"].isin(kinds) & metrics["size_bytes"].notna()]
        data = data[data["size_bytes"] > 0]
        if data.empty:
            continue
        grid = sns.relplot(data=data, x="size_bytes", y="value", hue="nodes", col="benchmark",
                           col_wrap=4, kind="line", height=2.4, aspect=1.2, palette="viridis",
                           facet_kws={"sharey": False})
        grid.set(xscale="log", yscale="log")
        grid.set_axis_labels("message size (bytes)", label)
        figures.append(_save(grid, out_dir, name, f"OSU {label} by message size",
                             "One panel per benchmark, one line per cluster size."))
    return figures


def app_times(tables: dict, out_dir: Path) -> list[Figure]:
    """Flux wall times of each app by run."""
    times = _table(tables, "app_times")
    if times is None:
        return []
    grid = sns.catplot(data=times, x="app", y="seconds", hue="run", col="kind", kind="bar",
                       height=3.5, aspect=1.2)
    return [_save(grid, out_dir, "app_times", "Application wall times (FLUXTIME)",
                  "fluxsubmit is the job; fluxstart is the whole broker lifetime.")]


ALL_FIGURES = (pull_time_vs_size, event_spread, pull_vs_started, topology_step_times,
               osu_wall_scaling, osu_by_message_size, app_times)


def draw_all(tables: dict, out_dir: Path) -> list[Figure]:
    """Every figure the tables support."""
    sns.set_theme(style="whitegrid", context="paper")
    figures: list[Figure] = []
    for draw in ALL_FIGURES:
        figures.extend(draw(tables, out_dir))
    return figures
