"""The seed studies' figures, redrawn from the tidy tables with matplotlib (PNG and SVG).

Each drawer takes the combined tables of one or more runs and returns what it drew, or a
`Skipped` saying why it could not draw (no image size known, no fresh pulls, ...), so
`study analyze` and `study report` draw whatever the runs support and say what they left out.
Summaries (median, interquartile range) are computed with pandas first, so the plotting only
draws a few points per series: a 230 MB event stream draws as fast as a 1 MB one.

Legibility rules every figure follows: one colour *and* one marker per series (overlapping
series stay apart in grey print), markers on every point (a single-point series is visible),
log axes label only their major ticks, and long names go to legends or wrapped panel titles,
never onto the data. Rendering uses the Agg backend: no display, same output in CI.
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import (  # noqa: E402
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

from analysis.osu import SCALING_RULE  # noqa: E402

GB = 1e9
_TAG_SCHEME = re.compile(r"(?P<layers>\d+)-layers-size-(?P<size>\d+)-bytes")
LATENCY_METRICS = ("latency_us", "avg_latency_us")
BANDWIDTH_METRICS = ("bandwidth_mb_s", "mb_s")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "*", "p", "d", "8", "H", "1")
STYLE = "seaborn-v0_8-whitegrid"  # shipped with matplotlib
MAX_LEGEND = 24


@dataclass
class Figure:
    """A drawn figure: where its files are and what it shows."""

    name: str
    title: str
    caption: str
    png: Path
    svg: Path


@dataclass
class Skipped:
    """A figure the tables could not support, with the reason a reader needs."""

    name: str
    title: str
    reason: str


def series_style(i: int) -> dict:
    """Colour and marker of the i-th series: both change, so neither alone must carry it.

    The first ten take tab10; the next ten tab20's light shades, which tab10 does not use.
    """
    color = plt.get_cmap("tab10")(i % 10) if i < 10 else plt.get_cmap("tab20")((2 * i + 1) % 20)
    return {"color": color, "marker": MARKERS[i % len(MARKERS)]}


def _save(fig, out_dir: Path, name: str, title: str, caption: str) -> Figure:
    fig.suptitle(title, fontsize=11)
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log" and not isinstance(axis.get_major_locator(), FixedLocator):
                _log_axis(axis)  # ticks a drawer placed by hand (node counts) stay
    # Lay out once (constrained layout fits titles, labels and the outside legend into the
    # figure), then freeze it: each file is one plain render, not another layout pass.
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=100)
    # Text as SVG text, not glyph outlines: searchable, a tenth of the size, and half the time.
    with plt.rc_context({"svg.fonttype": "none"}):
        fig.savefig(svg)
    plt.close(fig)
    return Figure(name, title, caption, png, svg)


def _table(tables: dict, name: str):
    """The combined table `name`, or None when the runs produced no rows for it."""
    table = tables.get(name)
    return None if table is None or table.empty else table


def _log_axis(axis) -> None:
    """Labelled ticks at 1-2-5 over a short range, at decades (or every other) over a long one;
    other ticks unlabelled, and plain numbers (`20`, `0.5`): labels never collide."""
    low, high = sorted(axis.get_view_interval())
    decades = math.log10(high / low) if low > 0 and high > 0 else 1.0
    major: tuple[float, ...] = (1.0,)
    minor: tuple[float, ...] = (2.0, 5.0)
    if decades <= 0.6:
        # Well under a decade a log locator finds one tick or none and falls back to crowded
        # linear ones: four evenly chosen round numbers read better.
        axis.set_major_locator(MaxNLocator(nbins=4))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(_plain))
        return
    if decades <= 1.5:
        major, minor = (1.0, 2.0, 5.0), (3.0, 4.0, 6.0, 7.0, 8.0, 9.0)
    axis.set_major_locator(LogLocator(base=10, subs=major, numticks=7))
    axis.set_minor_locator(LogLocator(base=10, subs=minor, numticks=30))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())


def _plain(value: float, _pos: int) -> str:
    if value >= 1e5 or value < 1e-3:
        exponent = math.floor(math.log10(value))
        mantissa = value / 10**exponent
        return f"{mantissa:g}e{exponent}" if round(mantissa) != 1 else f"1e{exponent}"
    return f"{value:g}"


def _grid(n_panels: int, ncols: int, width: float = 3.6, height: float = 2.9,
          sharey: bool = False):
    ncols = max(1, min(ncols, n_panels))
    nrows = -(-n_panels // ncols)
    if ncols == 1:
        width = max(width, 5.0)  # room for the title beside an outside legend
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, sharey=sharey, constrained_layout=True)
    flat = list(axes.flat)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    return fig, flat[:n_panels]


def _legend(fig, handles, labels, title: str) -> None:
    if len(labels) > MAX_LEGEND:
        handles, labels = handles[:MAX_LEGEND], [*labels[:MAX_LEGEND - 1], "..."]
    fig.legend(handles, labels, title=title, loc="outside right center", fontsize=7,
               title_fontsize=8, frameon=False)


def _handles(axes) -> tuple[list, list]:
    """Legend entries of several panels, each label once, in first-seen order."""
    handles: list = []
    labels: list[str] = []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


def _quartiles(df, keys: list[str], value: str):
    """Median and interquartile range of `value` per group (one row per plotted point)."""
    grouped = df.groupby(keys, dropna=False, observed=True)[value]
    out = grouped.median().rename("median").to_frame()
    out["q1"] = grouped.quantile(0.25)
    out["q3"] = grouped.quantile(0.75)
    out["n"] = grouped.size()
    return out.reset_index()


def _errorbar(ax, x, q, style: dict, label: str, offset: float = 0.0) -> None:
    lower = (q["median"] - q["q1"]).clip(lower=0)
    upper = (q["q3"] - q["median"]).clip(lower=0)
    ax.errorbar(x + offset if offset else x, q["median"], yerr=[lower, upper], label=label,
                capsize=2, linewidth=1.2, markersize=5, alpha=0.9, **style)


def _studied_fresh(pulls):
    fresh = pulls[(pulls["role"] == "studied") & (pulls["cached"] == False)].copy()  # noqa: E712
    fresh["size_gb"] = fresh["size_bytes"].astype("float64") / GB
    return fresh


def _nodes_label(value) -> str:
    return "nodes unknown" if value is None or value != value else f"{int(value)} nodes"


def _sorted_values(series) -> list:
    values = list(series.dropna().unique())
    return sorted(values) + ([None] if series.isna().any() else [])


def _of(df, col: str, value):
    return df[df[col].isna()] if value is None else df[df[col] == value]


# --- pulls -----------------------------------------------------------------------------------
PULL_TITLE = "Pull time vs image size ({} axes)"


def pull_time_vs_size(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Pull time against image size, one panel per node count (and layer count), a line per run."""
    pulls = _table(tables, "pulls")
    if pulls is None:
        return []
    fresh = _studied_fresh(pulls)
    skipped = _pull_skip(fresh, "pull_seconds", "the kubelet's pull time")
    if skipped:
        return [Skipped(f"pull_time_vs_size_{s}", PULL_TITLE.format(s), skipped)
                for s in ("linear", "log")]
    fresh = fresh.dropna(subset=["pull_seconds", "size_gb"])
    size_label = _size_label(fresh)
    q = _quartiles(fresh, ["nodes", "layers", "run", "size_gb"], "pull_seconds")
    panels = [(n, layer) for n in _sorted_values(q["nodes"])
              for layer in _sorted_values(q["layers"])]
    runs = list(dict.fromkeys(q["run"]))
    figures = []
    for scale in ("linear", "log"):
        fig, axes = _grid(len(panels), ncols=min(len(panels), 3), sharey=True)
        for ax, (nodes, layers) in zip(axes, panels, strict=True):
            part = _of(_of(q, "nodes", nodes), "layers", layers)
            for i, run in enumerate(runs):
                series = part[part["run"] == run].sort_values("size_gb")
                if not series.empty:
                    _errorbar(ax, series["size_gb"], series, series_style(i), run)
            title = _nodes_label(nodes) + ("" if layers is None else f", {int(layers)} layers")
            ax.set_title(title, fontsize=9)
            ax.set_xlabel(size_label)
            if scale == "log":
                ax.set_xscale("log")
                ax.set_yscale("log")
        axes[0].set_ylabel("pull seconds (kubelet)")
        _legend(fig, *_handles(axes), "run")
        figures.append(_save(
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


def event_spread(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Spread of each event's timestamps across pods, per image (the seed's "mystery")."""
    spread = _table(tables, "event_spread")
    title = "Spread of event timestamps across nodes"
    if spread is None:
        return []
    data = spread.dropna(subset=["spread_seconds"]).copy()
    if data.empty:
        return [Skipped("event_spread", title, "no stage has timestamps on any pod")]
    by_size = data["size_bytes"].notna().all()
    data["x"] = data["size_bytes"].astype("float64") / GB if by_size else data["image"]
    stages = list(dict.fromkeys(data["stage"]))
    runs = list(dict.fromkeys(data["run"]))
    fig, axes = _grid(len(stages), ncols=3, sharey=True)
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
            style = series_style(i)
            ax.plot(x, series["spread_seconds"], label=run, linewidth=1.2, markersize=5, **style)
        ax.set_title(stage, fontsize=9)
        if by_size:
            ax.set_xlabel(_size_label(part))
        else:
            ticks = [_short(im) for im in images]
            ax.set_xticks(range(len(images)), ticks, fontsize=7, **_tilt(ticks, 2.8))
    axes[0].set_ylabel("last - first (s)")
    _legend(fig, *_handles(axes[:1]), "run")
    caption = ("For each image and event, the time between the first and the last pod to "
               "reach it; one panel per event, one line per run.")
    if _whole_seconds(data, ("first", "last")):
        caption += (" The events' timestamps are whole seconds, so spreads are too: 0 means "
                    "within the same second.")
    return [_save(fig, out_dir, "event_spread", title, caption)]


def _short(name: str, width: int = 30) -> str:
    """A tick label: the chonk tag scheme as size and layers, other long names cut in the
    middle (the start names the image, the end tells tags apart)."""
    scheme = _TAG_SCHEME.fullmatch(name)
    if scheme:
        return f"{int(scheme['size']) / GB:.3g} GB, {scheme['layers']} layers"
    if len(name) <= width:
        return name
    keep = (width - 1) // 2
    return f"{name[:keep]}…{name[-keep:]}"


def _tilt(labels: list[str], axis_inches: float) -> dict:
    """Tick label rotation: level when the labels fit side by side at 7 pt, else slanted."""
    needed = len(labels) * (max(map(len, labels), default=0) * 0.065 + 0.1)
    return {"rotation": 0, "ha": "center"} if needed <= axis_inches else {"rotation": 35,
                                                                         "ha": "right"}


def pull_vs_started(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Pull time next to time to Started per run: streaming moves the cost to container start."""
    pulls = _table(tables, "pulls")
    title = "Pull time and time from Pulling to Started, by run"
    if pulls is None:
        return []
    fresh = _studied_fresh(pulls)
    measures = [("pull_seconds", "pull seconds (kubelet)"),
                ("time_to_started_seconds", "Pulling to Started (s)")]
    measures = [(m, label) for m, label in measures if fresh[m].notna().any()]
    if not measures:
        return [Skipped("pull_vs_started", title, "no fresh pull of a studied image has a "
                                                  "pull time or a Started event")]
    sizes = fresh.groupby("image")["size_gb"].max()
    images = sorted(fresh["image"].unique(), key=lambda im: (sizes.get(im, 0) != sizes.get(im, 0),
                                                              sizes.get(im, 0), im))
    runs = list(dict.fromkeys(fresh["run"]))
    bars = len(images) * len(runs)
    fig_width = min(14.0, max(5.0, 0.16 * bars + 2.0))
    fig, axes = _grid(len(measures), ncols=1, width=fig_width, height=3.2)
    width = 0.8 / len(runs)
    for ax, (measure, label) in zip(axes, measures, strict=True):
        q = _quartiles(fresh.dropna(subset=[measure]), ["run", "image"], measure)
        for i, run in enumerate(runs):
            part = q[q["run"] == run].set_index("image").reindex(images)
            x = [k + (i - (len(runs) - 1) / 2) * width for k in range(len(images))]
            lower = (part["median"] - part["q1"]).clip(lower=0)
            upper = (part["q3"] - part["median"]).clip(lower=0)
            ax.bar(x, part["median"], width=width * 0.95, label=run,
                   color=series_style(i)["color"], hatch=_HATCHES[i % len(_HATCHES)],
                   edgecolor="white", linewidth=0.3)
            ax.errorbar(x, part["median"], yerr=[lower, upper], fmt="none", ecolor="#333",
                        capsize=1.5, linewidth=0.8)
        ticks = [_short(im) for im in images]
        ax.set_xticks(range(len(images)), ticks, fontsize=7, **_tilt(ticks, fig_width - 2.0))
        ax.set_ylabel(label)
    _legend(fig, *_handles(axes[:1]), "run")
    streaming = (context or {}).get("streaming_runs") or []
    caption = ("Median over pods (bars: interquartile range) of the kubelet's pull time and of "
               "the time from Pulling to the container's Started, per image and run.")
    if streaming:
        caption += (f" {', '.join(streaming)} used image streaming, which moves part of the "
                    "pull's cost to the container's start: compare the time to Started.")
    if (any(m == "time_to_started_seconds" for m, _ in measures)
            and _whole_seconds(fresh, ("pulling_at", "started_at"))):
        caption += (" The events' timestamps are whole seconds, so times to Started are too: "
                    "one shorter than a second reads 0 or 1, and may fall below the pull time.")
    return [_save(fig, out_dir, "pull_vs_started", title, caption)]


def _whole_seconds(frame, columns: tuple[str, ...]) -> bool:
    """Whether every timestamp in the columns is a whole second (events.k8s.io eventTime has
    microseconds; core/v1 firstTimestamp only seconds), so differences of them are too."""
    stamps = [frame[col].dropna() for col in columns]
    return all((s == s.dt.floor("s")).all() for s in stamps)


_HATCHES = ("", "//", "..", "xx", "\\\\", "++", "--", "oo")


# --- topology --------------------------------------------------------------------------------
def topology_step_times(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Step times per overlay design, one panel per event and node count, a series per size.

    Designs go along the x axis (up to 16 of them on 30 nodes), so no two designs' points sit
    on top of each other; the archive sizes, few, are the series.
    """
    topo = _table(tables, "topology")
    title = "Archive steps by overlay design and size, per node count"
    if topo is None:
        return []
    data = topo[topo["event"].str.endswith("all-nodes") | (topo["event"] == "create-archive")]
    data = data.dropna(subset=["time_seconds"])
    if data.empty:
        return [Skipped("topology_step_times", title,
                        "no all-nodes or create-archive step has a time (runs cut short)")]
    data = data.assign(topology=data["topology"].fillna("unknown"))
    several_runs = data["run"].nunique() > 1
    q = _quartiles(data, ["run", "nodes", "event", "topology", "size_gb"], "time_seconds")
    events = list(dict.fromkeys(data["event"]))
    nodes = _sorted_values(q["nodes"])
    designs = sorted(q["topology"].unique(), key=_design_order)
    runs = list(dict.fromkeys(q["run"]))
    sizes = sorted(q["size_gb"].dropna().unique())
    series_keys = [(r, s) for r in runs for s in sizes]
    panels = [(n, e) for n in nodes for e in events]
    fig, axes = _grid(len(panels), ncols=min(len(events), 2 if len(designs) > 8 else 4),
                      width=max(3.2, 0.28 * len(designs) + 1.2), height=2.8)
    for ax, (n, event) in zip(axes, panels, strict=True):
        part = _of(q, "nodes", n)
        part = part[part["event"] == event]
        here, placed = panel_layout(part, series_keys)
        position = {d: k for k, d in enumerate(here)}
        for run, size, offset in placed:
            series = part[(part["run"] == run) & (part["size_gb"] == size)]
            x = series["topology"].map(position).astype(float)
            label = f"{int(size)} GB" + (f" ({run})" if several_runs else "")
            # One run: colour and marker both follow the size. Several: colour is the size
            # and the marker the run, so one size reads the same colour in every run.
            style = series_style(sizes.index(size))
            if several_runs:
                style["marker"] = MARKERS[runs.index(run) % len(MARKERS)]
                style["markerfacecolor"] = "white" if runs.index(run) % 2 else style["color"]
            lower = (series["median"] - series["q1"]).clip(lower=0)
            upper = (series["q3"] - series["median"]).clip(lower=0)
            ax.errorbar(x + offset, series["median"], yerr=[lower, upper], label=label,
                        linestyle="none", capsize=2, markersize=5, **style)
        ax.set_title(f"{event}, {_nodes_label(n)}", fontsize=8)
        tilt = {"rotation": 0} if len(here) <= 6 else {"rotation": 60, "ha": "right"}
        ax.set_xticks(range(len(here)), here, fontsize=7, **tilt)
        ax.set_xlim(-0.6, max(1, len(here)) - 0.4)
    for ax in axes[::max(1, min(len(events), 2 if len(designs) > 8 else 4))]:
        ax.set_ylabel("seconds (real)")
    _legend(fig, *_handles(axes), "archive size")
    return [_save(fig, out_dir, "topology_step_times", title,
                  "Median over iterations (bars: interquartile range) of bash's real time per "
                  "step and Flux overlay design (kary-K, binomial); one panel per step and node "
                  "count, one series per archive size.")]


def panel_layout(part, series_keys: list[tuple]) -> tuple[list[str], list[tuple]]:
    """The designs one topology panel shows and each (run, size) series' sideways offset.

    Only what the panel holds: a 6-node run's four designs are not spread over the sixteen
    a 30-node run had, and its series are centred on their tick, not shifted aside to leave
    room for another run's. A single series is not moved at all.
    """
    here = sorted(part["topology"].unique(), key=_design_order)
    present = [(run, size) for run, size in series_keys
               if ((part["run"] == run) & (part["size_gb"] == size)).any()]
    step = 0.6 / max(1, len(present))
    return here, [(run, size, (i - (len(present) - 1) / 2) * step)
                  for i, (run, size) in enumerate(present)]


def _design_order(name: str) -> tuple:
    head, _, tail = name.rpartition("-")
    return (head, int(tail)) if tail.isdigit() else (name, 0)


# --- OSU -------------------------------------------------------------------------------------
def osu_wall_scaling(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """OSU wall time against node count, one panel per scaling class, a line per benchmark."""
    wall, scaling = _table(tables, "osu_wall"), _table(tables, "osu_scaling")
    title = "OSU wall time vs node count"
    if wall is None or scaling is None:
        return []
    data = wall.dropna(subset=["wall_seconds", "nodes"]).merge(
        scaling[["run", "benchmark", "class"]], on=["run", "benchmark"])
    if data.empty:
        return [Skipped("osu_wall_scaling", title, "no benchmark finished with a wall time")]
    classes = [c for c in ("superlinear", "growing", "noisy", "flat", "insufficient")
               if c in set(data["class"])]
    # Each panel's legend sits under it in columns of at most ten names, and the figure is
    # as tall as the longest one: names never overprint the data or each other.
    most = max(data.loc[data["class"] == c, ["run", "benchmark"]].drop_duplicates().shape[0]
               for c in classes)
    fig, axes = _grid(len(classes), ncols=len(classes), width=4.2,
                      height=3.0 + 0.14 * min(10, most), sharey=True)
    for ax, cls in zip(axes, classes, strict=True):
        part = data[data["class"] == cls]
        for i, ((run, bench), series) in enumerate(part.groupby(["run", "benchmark"])):
            series = series.sort_values("nodes")
            label = bench if data["run"].nunique() == 1 else f"{bench} ({run})"
            ax.plot(series["nodes"].astype(float), series["wall_seconds"], label=label,
                    linewidth=1.1, markersize=4.5, **series_style(i))
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
    return [_save(fig, out_dir, "osu_wall_scaling", title,
                  f"Each line is one benchmark, in the panel of its scaling class. "
                  f"Rule: {SCALING_RULE}.")]


def osu_by_message_size(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """OSU latency and bandwidth against message size, one panel per benchmark."""
    metrics = _table(tables, "osu_metrics")
    if metrics is None:
        return []
    figures: list = []
    for name, kinds, label in (("osu_latency", LATENCY_METRICS, "latency (us)"),
                               ("osu_bandwidth", BANDWIDTH_METRICS, "bandwidth (MB/s)")):
        data = metrics[metrics["metric"].isin(kinds) & metrics["size_bytes"].notna()]
        data = data[(data["size_bytes"] > 0) & (data["value"] > 0)]
        if data.empty:
            continue
        benches = sorted(data["benchmark"].unique())
        series_keys = sorted(data[["run", "nodes"]].drop_duplicates().itertuples(index=False),
                             key=lambda k: (k.run, -1 if k.nodes != k.nodes else k.nodes))
        several_runs = data["run"].nunique() > 1
        fig, axes = _grid(len(benches), ncols=4, width=2.9, height=2.4)
        cmap = plt.get_cmap("viridis")
        for ax, bench in zip(axes, benches, strict=True):
            part = data[data["benchmark"] == bench]
            for i, key in enumerate(series_keys):
                series = part[(part["run"] == key.run) & (part["nodes"] == key.nodes)]
                if series.empty:
                    continue
                series = series.sort_values("size_bytes")
                shade = cmap(i / max(1, len(series_keys) - 1) * 0.9)
                text = _nodes_label(key.nodes) + (f" ({key.run})" if several_runs else "")
                ax.plot(series["size_bytes"].astype(float), series["value"], label=text,
                        color=shade, marker=MARKERS[i % len(MARKERS)], markersize=3,
                        linewidth=1)
            ax.set(xscale="log", yscale="log")
            ax.tick_params(labelsize=7)
            ax.set_title("\n".join(textwrap.wrap(bench, 22)), fontsize=8)
        for ax in axes[-4:]:
            ax.set_xlabel("message size (bytes)", fontsize=8)
        for k in range(0, len(axes), 4):
            axes[k].set_ylabel(label, fontsize=8)
        _legend(fig, *_handles(axes), "cluster")
        figures.append(_save(fig, out_dir, name, f"OSU {label} by message size",
                             "One panel per benchmark, one line per cluster size "
                             "(single measurements, as the benchmark prints them)."))
    return figures


# --- applications ----------------------------------------------------------------------------
def app_times(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Flux wall times of each app by run."""
    times = _table(tables, "app_times")
    if times is None:
        return []
    title = "Application wall times (FLUXTIME)"
    data = times.dropna(subset=["seconds"])
    if data.empty:
        return [Skipped("app_times", title, "no FLUXTIME line has a time")]
    kinds = list(dict.fromkeys(data["kind"]))
    apps = sorted(data["app"].unique())
    runs = list(dict.fromkeys(data["run"]))
    panel_width = max(3.6, 0.9 * len(apps) + 1.5)
    fig_width = panel_width * len(kinds)
    fig, axes = _grid(len(kinds), ncols=len(kinds), width=panel_width, height=3.2)
    width = 0.8 / len(runs)
    for ax, kind in zip(axes, kinds, strict=True):
        q = _quartiles(data[data["kind"] == kind], ["run", "app"], "seconds")
        for i, run in enumerate(runs):
            part = q[q["run"] == run].set_index("app").reindex(apps)
            x = [k + (i - (len(runs) - 1) / 2) * width for k in range(len(apps))]
            ax.bar(x, part["median"], width=width * 0.95, label=run,
                   color=series_style(i)["color"], hatch=_HATCHES[i % len(_HATCHES)],
                   edgecolor="white", linewidth=0.3)
        ax.set_xticks(range(len(apps)), apps, fontsize=8, **_tilt(apps, fig_width / len(kinds)
                                                                  - 1.0))
        ax.set_title(kind, fontsize=9)
        ax.set_ylabel("seconds")
    _legend(fig, *_handles(axes[:1]), "run")
    return [_save(fig, out_dir, "app_times", title,
                  "fluxsubmit is the job; fluxstart is the whole broker lifetime. One bar per "
                  "run and app (the median where a run timed an app more than once).")]


ALL_FIGURES = (pull_time_vs_size, event_spread, pull_vs_started, topology_step_times,
               osu_wall_scaling, osu_by_message_size, app_times)


def draw_figures(tables: dict, out_dir: Path, context: dict | None = None,
                 workers: int | None = None) -> tuple[list[Figure], list[Skipped]]:
    """Every figure the tables support, and the ones they do not with the reason.

    Figures are independent and rendering is CPU-bound, so with more than one core the
    drawers run in forked processes (which inherit the tables; only the small Figure records
    come back). The result is in `ALL_FIGURES` order either way.
    """
    from analysis.events import free_cores

    workers = workers or free_cores()
    draws = [draw for draw in ALL_FIGURES if _has_input(draw, tables)]
    if workers > 1 and len(draws) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Forked workers inherit the tables through this global: only the drawer's index
        # crosses the pipe, not the tables.
        _SHARED[:] = [tables, out_dir, context]
        try:
            fork = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(max_workers=min(workers, len(draws)),
                                     mp_context=fork) as pool:
                results = list(pool.map(_draw_shared, [ALL_FIGURES.index(d) for d in draws]))
        finally:
            _SHARED.clear()
    else:
        results = [_draw_one(draw, tables, out_dir, context) for draw in draws]
    drawn: list[Figure] = []
    skipped: list[Skipped] = []
    for items in results:
        for item in items:
            (drawn if isinstance(item, Figure) else skipped).append(item)
    return drawn, skipped


# The table each drawer starts from: a drawer whose table is absent returns nothing, so it is
# not worth a process.
_INPUT = {"pull_time_vs_size": "pulls", "event_spread": "event_spread",
          "pull_vs_started": "pulls", "topology_step_times": "topology",
          "osu_wall_scaling": "osu_wall", "osu_by_message_size": "osu_metrics",
          "app_times": "app_times"}
_SHARED: list = []


def _has_input(draw, tables: dict) -> bool:
    name = _INPUT.get(draw.__name__)
    return name is None or _table(tables, name) is not None


def _draw_shared(index: int) -> list:
    return _draw_one(ALL_FIGURES[index], *_SHARED)


def _draw_one(draw, tables: dict, out_dir: Path, context: dict | None) -> list:
    with plt.style.context(STYLE):
        return draw(tables, out_dir, context)


def draw_all(tables: dict, out_dir: Path, context: dict | None = None) -> list[Figure]:
    """Every figure the tables support (see `draw_figures` for the skipped ones)."""
    return draw_figures(tables, out_dir, context)[0]
