"""The OSU study's figures: wall time against node count, metrics by message size."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt

from experiments import plotting as plot
from experiments.kinds.osu.parse import SCALING_RULE


# --- OSU -------------------------------------------------------------------------------------
@plot.needs("osu_wall")
def osu_wall_scaling(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """OSU wall time against node count, one panel per scaling class, a line per benchmark."""
    wall, scaling = plot.table(tables, "osu_wall"), plot.table(tables, "osu_scaling")
    title = "OSU wall time vs node count"
    if wall is None or scaling is None:
        return []
    data = wall.dropna(subset=["wall_seconds", "nodes"]).merge(
        scaling[["run", "benchmark", "class"]], on=["run", "benchmark"])
    if data.empty:
        return [plot.Skipped("osu_wall_scaling", title, "no benchmark finished with a wall time")]
    classes = [c for c in ("superlinear", "growing", "noisy", "flat", "insufficient")
               if c in set(data["class"])]
    # Each panel's legend sits under it in columns of at most ten names, and the figure is
    # as tall as the longest one: names never overprint the data or each other.
    most = max(data.loc[data["class"] == c, ["run", "benchmark"]].drop_duplicates().shape[0]
               for c in classes)
    fig, axes = plot.grid(len(classes), ncols=len(classes), width=4.2,
                      height=3.0 + 0.14 * min(10, most), sharey=True)
    for ax, cls in zip(axes, classes, strict=True):
        part = data[data["class"] == cls]
        for i, ((run, bench), series) in enumerate(part.groupby(["run", "benchmark"])):
            series = series.sort_values("nodes")
            label = bench if data["run"].nunique() == 1 else f"{bench} ({run})"
            ax.plot(series["nodes"].astype(float), series["wall_seconds"], label=label,
                    linewidth=1.1, markersize=4.5, **plot.series_style(i))
        ax.set(xscale="log", yscale="log", xlabel="nodes")
        count = part["benchmark"].nunique()
        ax.set_title(f"{cls} ({count} benchmark{'' if count == 1 else 's'})", fontsize=9)
        ticks = sorted(part["nodes"].dropna().unique())
        ax.set_xticks([float(t) for t in ticks], [str(int(t)) for t in ticks])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        entries = len(ax.get_legend_handles_labels()[1])
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(0, -0.16),
                  ncols=-(-entries // 10), frameon=False)
    axes[0].set_ylabel("wall seconds (real)")
    # A figure-level label, so the layout makes room for it: the rule is part of the figure.
    fig.supxlabel(textwrap.fill(f"Rule: {SCALING_RULE}", 160), fontsize=7)
    return [plot.save(fig, out_dir, "osu_wall_scaling", title,
                  f"Each line is one benchmark, in the panel of its scaling class. "
                  f"Rule: {SCALING_RULE}.")]


@plot.needs("osu_metrics")
def osu_by_message_size(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """OSU latency and bandwidth against message size, one panel per benchmark."""
    metrics = plot.table(tables, "osu_metrics")
    figures: list = []
    for name, kinds, label in (("osu_latency", plot.LATENCY_METRICS, "latency (us)"),
                               ("osu_bandwidth", plot.BANDWIDTH_METRICS, "bandwidth (MB/s)")):
        data = metrics[metrics["metric"].isin(kinds) & metrics["size_bytes"].notna()]
        data = data[(data["size_bytes"] > 0) & (data["value"] > 0)]
        if data.empty:
            continue
        benches = sorted(data["benchmark"].unique())
        series_keys = sorted(data[["run", "nodes"]].drop_duplicates().itertuples(index=False),
                             key=lambda k: (k.run, -1 if k.nodes != k.nodes else k.nodes))
        several_runs = data["run"].nunique() > 1
        fig, axes = plot.grid(len(benches), ncols=4, width=2.9, height=2.4)
        cmap = plt.get_cmap("viridis")
        for ax, bench in zip(axes, benches, strict=True):
            part = data[data["benchmark"] == bench]
            for i, key in enumerate(series_keys):
                series = part[(part["run"] == key.run) & (part["nodes"] == key.nodes)]
                if series.empty:
                    continue
                series = series.sort_values("size_bytes")
                shade = cmap(i / max(1, len(series_keys) - 1) * 0.9)
                text = plot.nodes_label(key.nodes) + (f" ({key.run})" if several_runs else "")
                ax.plot(series["size_bytes"].astype(float), series["value"], label=text,
                        color=shade, marker=plot.MARKERS[i % len(plot.MARKERS)], markersize=3,
                        linewidth=1)
            ax.set(xscale="log", yscale="log")
            ax.tick_params(labelsize=7)
            ax.set_title("\n".join(textwrap.wrap(bench, 22)), fontsize=8)
        for ax in axes[-4:]:
            ax.set_xlabel("message size (bytes)", fontsize=8)
        for k in range(0, len(axes), 4):
            axes[k].set_ylabel(label, fontsize=8)
        plot.legend(fig, *plot.handles(axes), "cluster")
        figures.append(plot.save(fig, out_dir, name, f"OSU {label} by message size",
                             "One panel per benchmark, one line per cluster size "
                             "(single measurements, as the benchmark prints them)."))
    return figures


# --- applications ----------------------------------------------------------------------------
