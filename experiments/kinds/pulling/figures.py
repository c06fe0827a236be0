"""The pulling study's figures: pull time against image size, event spread, pull vs Started."""

from __future__ import annotations

from pathlib import Path

from experiments import plotting as plot

PULL_TITLE = "Pull time vs image size ({} axes)"


@plot.needs("pulls")
def pull_time_vs_size(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Pull time against image size, one panel per node count (and layer count), a line per run."""
    pulls = plot.table(tables, "pulls")
    fresh = plot.studied_fresh(pulls)
    skipped = _pull_skip(fresh, "pull_seconds", "the kubelet's pull time")
    if skipped:
        return [plot.Skipped(f"pull_time_vs_size_{s}", PULL_TITLE.format(s), skipped)
                for s in ("linear", "log")]
    fresh = fresh.dropna(subset=["pull_seconds", "size_gb"])
    size_label = _size_label(fresh)
    q = plot.quartiles(fresh, ["nodes", "layers", "run", "size_gb"], "pull_seconds")
    panels = [(n, layer) for n in plot.sorted_values(q["nodes"])
              for layer in plot.sorted_values(q["layers"])]
    runs = list(dict.fromkeys(q["run"]))
    figures = []
    for scale in ("linear", "log"):
        fig, axes = plot.grid(len(panels), ncols=min(len(panels), 3), sharey=True)
        for ax, (nodes, layers) in zip(axes, panels, strict=True):
            part = plot.of(plot.of(q, "nodes", nodes), "layers", layers)
            for i, run in enumerate(runs):
                series = part[part["run"] == run].sort_values("size_gb")
                if not series.empty:
                    plot.errorbar(ax, series["size_gb"], series, plot.series_style(i), run)
            title = plot.nodes_label(nodes) + ("" if layers is None else f", {int(layers)} layers")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(size_label)
            if scale == "log":
                ax.set_xscale("log")
                ax.set_yscale("log")
        axes[0].set_ylabel("pull seconds (kubelet)")
        plot.legend(fig, *plot.handles(axes), "run")
        figures.append(plot.save(
            fig, out_dir, f"pull_time_vs_size_{scale}", PULL_TITLE.format(scale),
            "Median over pods of the kubelet's own pull time (bars: interquartile range), per "
            "run and image size; one panel per cluster size. Cache hits ('already present') "
            "are excluded. Sizes are the tag's nominal size where the tag states one, else the "
            "compressed size the kubelet reports.",
        ))
    return figures


def _size_label(rows) -> str:
    """What the size axis shows: the tag's nominal size (chonk images) or the compressed size
    the kubelet reports; the label never claims one for the other."""
    nominal = rows["layers"].notna()
    if nominal.all():
        return "image size (GB, nominal: from the tag)"
    if not nominal.any():
        return "image size (GB, compressed: kubelet)"
    return "image size (GB: tag's nominal, else compressed)"


def _pull_skip(fresh, column: str, what: str) -> str | None:
    """Why a size-based pull figure cannot be drawn, or None when it can."""
    if fresh.empty:
        return "no fresh pulls of studied images (every pull was a cache hit, or none was seen)"
    if fresh["size_gb"].isna().all():
        return ("no image size is known: the tags carry no size and the Pulled messages have "
                "none (kubelets before 1.30 do not print it)")
    if fresh[column].isna().all():
        return f"no {what} is known (the Pulled messages carry no duration)"
    if fresh.dropna(subset=[column, "size_gb"]).empty:
        return f"no pull has both an image size and {what}"
    return None


@plot.needs("event_spread")
def event_spread(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Spread of each event's timestamps across pods, per image (the seed's "mystery")."""
    spread = plot.table(tables, "event_spread")
    title = "Spread of event timestamps across nodes"
    data = spread.dropna(subset=["spread_seconds"]).copy()
    if data.empty:
        return [plot.Skipped("event_spread", title, "no stage has timestamps on any pod")]
    by_size = data["size_bytes"].notna().all()
    data["x"] = data["size_bytes"].astype("float64") / plot.GB if by_size else data["image"]
    stages = list(dict.fromkeys(data["stage"]))
    runs = list(dict.fromkeys(data["run"]))
    fig, axes = plot.grid(len(stages), ncols=3, sharey=True)
    images = sorted(data["image"].unique())
    for ax, stage in zip(axes, stages, strict=True):
        part = data[data["stage"] == stage]
        for i, run in enumerate(runs):
            series = part[part["run"] == run]
            if by_size:
                series = series.sort_values("x")
                x = series["x"]
            else:
                x = series["image"].map({im: k for k, im in enumerate(images)})
            style = plot.series_style(i)
            ax.plot(x, series["spread_seconds"], label=run, linewidth=1.2, markersize=5, **style)
        ax.set_title(stage, fontsize=9)
        if by_size:
            ax.set_xlabel(_size_label(part))
        else:
            ticks = [plot.short(im) for im in images]
            ax.set_xticks(range(len(images)), ticks, fontsize=7, **plot.tilt(ticks, 2.8))
    axes[0].set_ylabel("last - first (s)")
    plot.legend(fig, *plot.handles(axes[:1]), "run")
    caption = ("For each image and event, the time between the first and the last pod to "
               "reach it; one panel per event, one line per run.")
    if plot.whole_seconds(data, ("first", "last")):
        caption += (" The events' timestamps are whole seconds, so spreads are too: 0 means "
                    "within the same second.")
    return [plot.save(fig, out_dir, "event_spread", title, caption)]



@plot.needs("pulls")
def pull_vs_started(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Pull time next to time to Started per run: streaming moves the cost to container start."""
    pulls = plot.table(tables, "pulls")
    title = "Pull time and time from Pulling to Started, by run"
    fresh = plot.studied_fresh(pulls)
    measures = [("pull_seconds", "pull seconds (kubelet)"),
                ("time_to_started_seconds", "Pulling to Started (s)")]
    measures = [(m, label) for m, label in measures if fresh[m].notna().any()]
    if not measures:
        return [plot.Skipped("pull_vs_started", title, "no fresh pull of a studied image has a "
                                                  "pull time or a Started event")]
    sizes = fresh.groupby("image")["size_gb"].max()
    images = sorted(fresh["image"].unique(), key=lambda im: (sizes.get(im, 0) != sizes.get(im, 0),
                                                              sizes.get(im, 0), im))
    runs = list(dict.fromkeys(fresh["run"]))
    bars = len(images) * len(runs)
    fig_width = min(14.0, max(5.0, 0.16 * bars + 2.0))
    fig, axes = plot.grid(len(measures), ncols=1, width=fig_width, height=3.2)
    width = 0.8 / len(runs)
    for ax, (measure, label) in zip(axes, measures, strict=True):
        q = plot.quartiles(fresh.dropna(subset=[measure]), ["run", "image"], measure)
        for i, run in enumerate(runs):
            part = q[q["run"] == run].set_index("image").reindex(images)
            x = [k + (i - (len(runs) - 1) / 2) * width for k in range(len(images))]
            lower = (part["median"] - part["q1"]).clip(lower=0)
            upper = (part["q3"] - part["median"]).clip(lower=0)
            ax.bar(x, part["median"], width=width * 0.95, label=run,
                   color=plot.series_style(i)["color"], hatch=plot.HATCHES[i % len(plot.HATCHES)],
                   edgecolor="white", linewidth=0.3)
            ax.errorbar(x, part["median"], yerr=[lower, upper], fmt="none", ecolor="#333",
                        capsize=1.5, linewidth=0.8)
        ticks = [plot.short(im) for im in images]
        ax.set_xticks(range(len(images)), ticks, fontsize=7, **plot.tilt(ticks, fig_width - 2.0))
        ax.set_ylabel(label)
    plot.legend(fig, *plot.handles(axes[:1]), "run")
    streaming = (context or {}).get("streaming_runs") or []
    caption = ("Median over pods (bars: interquartile range) of the kubelet's pull time and of "
               "the time from Pulling to the container's Started, per image and run.")
    if streaming:
        caption += (f" {', '.join(streaming)} used image streaming, which moves part of the "
                    "pull's cost to the container's start: compare the time to Started.")
    if (any(m == "time_to_started_seconds" for m, _ in measures)
            and plot.whole_seconds(fresh, ("pulling_at", "started_at"))):
        caption += (" The events' timestamps are whole seconds, so times to Started are too: "
                    "one shorter than a second reads 0 or 1, and may fall below the pull time.")
    return [plot.save(fig, out_dir, "pull_vs_started", title, caption)]
