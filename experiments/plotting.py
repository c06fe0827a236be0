"""What every kind's figures share: saving (PNG and SVG), styles, panels, legends, log axes.

The drawers live with their kinds (`experiments/kinds/<kind>/figures.py`). Each drawer takes
the combined tables of one or more runs and returns what it drew, or a
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

GB = 1e9
TAG_SCHEME = re.compile(r"(?P<layers>\d+)-layers-size-(?P<size>\d+)-bytes")
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


def save(fig, out_dir: Path, name: str, title: str, caption: str) -> Figure:
    fig.suptitle(title, fontsize=11)
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log" and not isinstance(axis.get_major_locator(), FixedLocator):
                log_axis(axis)  # ticks a drawer placed by hand (node counts) stay
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


def table(tables: dict, name: str):
    """The combined table `name`, or None when the runs produced no rows for it."""
    table = tables.get(name)
    return None if table is None or table.empty else table


def log_axis(axis) -> None:
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
        axis.set_major_formatter(FuncFormatter(plain))
        return
    if decades <= 1.5:
        major, minor = (1.0, 2.0, 5.0), (3.0, 4.0, 6.0, 7.0, 8.0, 9.0)
    axis.set_major_locator(LogLocator(base=10, subs=major, numticks=7))
    axis.set_minor_locator(LogLocator(base=10, subs=minor, numticks=30))
    axis.set_major_formatter(FuncFormatter(plain))
    axis.set_minor_formatter(NullFormatter())


def plain(value: float, _pos: int) -> str:
    if value >= 1e5 or value < 1e-3:
        exponent = math.floor(math.log10(value))
        mantissa = value / 10**exponent
        return f"{mantissa:g}e{exponent}" if round(mantissa) != 1 else f"1e{exponent}"
    return f"{value:g}"


def grid(n_panels: int, ncols: int, width: float = 3.6, height: float = 2.9,
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


def legend(fig, handles, labels, title: str) -> None:
    if len(labels) > MAX_LEGEND:
        handles, labels = handles[:MAX_LEGEND], [*labels[:MAX_LEGEND - 1], "..."]
    fig.legend(handles, labels, title=title, loc="outside right center", fontsize=7,
               title_fontsize=8, frameon=False)


def handles(axes) -> tuple[list, list]:
    """Legend entries of several panels, each label once, in first-seen order."""
    handles: list = []
    labels: list[str] = []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    return handles, labels


def quartiles(df, keys: list[str], value: str):
    """Median and interquartile range of `value` per group (one row per plotted point)."""
    grouped = df.groupby(keys, dropna=False, observed=True)[value]
    out = grouped.median().rename("median").to_frame()
    out["q1"] = grouped.quantile(0.25)
    out["q3"] = grouped.quantile(0.75)
    out["n"] = grouped.size()
    return out.reset_index()


def errorbar(ax, x, q, style: dict, label: str, offset: float = 0.0) -> None:
    lower = (q["median"] - q["q1"]).clip(lower=0)
    upper = (q["q3"] - q["median"]).clip(lower=0)
    ax.errorbar(x + offset if offset else x, q["median"], yerr=[lower, upper], label=label,
                capsize=2, linewidth=1.2, markersize=5, alpha=0.9, **style)


def studied_fresh(pulls):
    fresh = pulls[(pulls["role"] == "studied") & (pulls["cached"] == False)].copy()  # noqa: E712
    fresh["size_gb"] = fresh["size_bytes"].astype("float64") / GB
    return fresh


def nodes_label(value) -> str:
    return "nodes unknown" if value is None or value != value else f"{int(value)} nodes"


def sorted_values(series) -> list:
    values = list(series.dropna().unique())
    return sorted(values) + ([None] if series.isna().any() else [])


def of(df, col: str, value):
    return df[df[col].isna()] if value is None else df[df[col] == value]


# --- pulls -----------------------------------------------------------------------------------

def short(name: str, width: int = 30) -> str:
    """A tick label: the chonk tag scheme as size and layers, other long names cut in the
    middle (the start names the image, the end tells tags apart)."""
    scheme = TAG_SCHEME.fullmatch(name)
    if scheme:
        return f"{int(scheme['size']) / GB:.3g} GB, {scheme['layers']} layers"
    if len(name) <= width:
        return name
    keep = (width - 1) // 2
    return f"{name[:keep]}…{name[-keep:]}"


def tilt(labels: list[str], axis_inches: float) -> dict:
    """Tick label rotation: level when the labels fit side by side at 7 pt, else slanted."""
    needed = len(labels) * (max(map(len, labels), default=0) * 0.065 + 0.1)
    return {"rotation": 0, "ha": "center"} if needed <= axis_inches else {"rotation": 35,
                                                                         "ha": "right"}



def whole_seconds(frame, columns: tuple[str, ...]) -> bool:
    """Whether every timestamp in the columns is a whole second (events.k8s.io eventTime has
    microseconds; core/v1 firstTimestamp only seconds), so differences of them are too."""
    stamps = [frame[col].dropna() for col in columns]
    return all((s == s.dt.floor("s")).all() for s in stamps)




def needs(table_name: str):
    """A drawer of `table_name`: it draws nothing when the tables lack it, and
    `analysis.figures` does not spend a process on it then."""
    import functools

    def mark(draw):
        @functools.wraps(draw)
        def guarded(tables: dict, out_dir: Path, context: dict | None = None) -> list:
            return [] if table(tables, table_name) is None else draw(tables, out_dir, context)

        guarded.needs = table_name  # type: ignore[attr-defined]
        return guarded
    return mark


HATCHES = ("", "//", "..", "xx", "\\\\", "++", "--", "oo")
