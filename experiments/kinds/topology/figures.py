"""The topology study's figure: step times per overlay design."""

from __future__ import annotations

from pathlib import Path

from experiments import plotting as plot


# --- topology --------------------------------------------------------------------------------
@plot.needs("topology")
def topology_step_times(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Step times per overlay design, one panel per event and node count, a series per size.

    Designs go along the x axis (up to 16 of them on 30 nodes), so no two designs' points sit
    on top of each other; the archive sizes, few, are the series.
    """
    topo = plot.table(tables, "topology")
    title = "Archive steps by overlay design and size, per node count"
    data = topo[topo["event"].str.endswith("all-nodes") | (topo["event"] == "create-archive")]
    data = data.dropna(subset=["time_seconds"])
    if data.empty:
        return [plot.Skipped("topology_step_times", title,
                        "no all-nodes or create-archive step has a time (runs cut short)")]
    data = data.assign(topology=data["topology"].fillna("unknown"))
    several_runs = data["run"].nunique() > 1
    q = plot.quartiles(data, ["run", "nodes", "event", "topology", "size_gb"], "time_seconds")
    events = list(dict.fromkeys(data["event"]))
    nodes = plot.sorted_values(q["nodes"])
    designs = sorted(q["topology"].unique(), key=_design_order)
    runs = list(dict.fromkeys(q["run"]))
    sizes = sorted(q["size_gb"].dropna().unique())
    series_keys = [(r, s) for r in runs for s in sizes]
    panels = [(n, e) for n in nodes for e in events]
    fig, axes = plot.grid(len(panels), ncols=min(len(events), 2 if len(designs) > 8 else 4),
                      width=max(3.2, 0.28 * len(designs) + 1.2), height=2.8)
    for ax, (n, event) in zip(axes, panels, strict=True):
        part = plot.of(q, "nodes", n)
        part = part[part["event"] == event]
        here, placed = panel_layout(part, series_keys)
        position = {d: k for k, d in enumerate(here)}
        for run, size, offset in placed:
            series = part[(part["run"] == run) & (part["size_gb"] == size)]
            x = series["topology"].map(position).astype(float)
            label = f"{int(size)} GB" + (f" ({run})" if several_runs else "")
            # One run: colour and marker both follow the size. Several: colour is the size
            # and the marker the run, so one size reads the same colour in every run.
            style = plot.series_style(sizes.index(size))
            if several_runs:
                style["marker"] = plot.MARKERS[runs.index(run) % len(plot.MARKERS)]
                style["markerfacecolor"] = "white" if runs.index(run) % 2 else style["color"]
            lower = (series["median"] - series["q1"]).clip(lower=0)
            upper = (series["q3"] - series["median"]).clip(lower=0)
            ax.errorbar(x + offset, series["median"], yerr=[lower, upper], label=label,
                        linestyle="none", capsize=2, markersize=5, **style)
        ax.set_title(f"{event}, {plot.nodes_label(n)}", fontsize=8)
        tilt = {"rotation": 0} if len(here) <= 6 else {"rotation": 60, "ha": "right"}
        ax.set_xticks(range(len(here)), here, fontsize=7, **tilt)
        ax.set_xlim(-0.6, max(1, len(here)) - 0.4)
    for ax in axes[::max(1, min(len(events), 2 if len(designs) > 8 else 4))]:
        ax.set_ylabel("seconds (real)")
    plot.legend(fig, *plot.handles(axes), "archive size")
    return [plot.save(fig, out_dir, "topology_step_times", title,
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
