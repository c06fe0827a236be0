"""The application study's figure: Flux wall times per app and run."""

from __future__ import annotations

from pathlib import Path

from experiments import plotting as plot


@plot.needs("app_times")
def app_times(tables: dict, out_dir: Path, context: dict | None = None) -> list:
    """Flux wall times of each app by run."""
    times = plot.table(tables, "app_times")
    title = "Application wall times (FLUXTIME)"
    data = times.dropna(subset=["seconds"])
    if data.empty:
        return [plot.Skipped("app_times", title, "no FLUXTIME line has a time")]
    kinds = list(dict.fromkeys(data["kind"]))
    apps = sorted(data["app"].unique())
    runs = list(dict.fromkeys(data["run"]))
    panel_width = max(3.6, 0.9 * len(apps) + 1.5)
    fig_width = panel_width * len(kinds)
    fig, axes = plot.grid(len(kinds), ncols=len(kinds), width=panel_width, height=3.2)
    width = 0.8 / len(runs)
    for ax, kind in zip(axes, kinds, strict=True):
        q = plot.quartiles(data[data["kind"] == kind], ["run", "app"], "seconds")
        for i, run in enumerate(runs):
            part = q[q["run"] == run].set_index("app").reindex(apps)
            x = [k + (i - (len(runs) - 1) / 2) * width for k in range(len(apps))]
            ax.bar(x, part["median"], width=width * 0.95, label=run,
                   color=plot.series_style(i)["color"], hatch=plot.HATCHES[i % len(plot.HATCHES)],
                   edgecolor="white", linewidth=0.3)
        ax.set_xticks(range(len(apps)), apps, fontsize=8, **plot.tilt(apps, fig_width / len(kinds)
                                                                  - 1.0))
        ax.set_title(kind, fontsize=9)
        ax.set_ylabel("seconds")
    plot.legend(fig, *plot.handles(axes[:1]), "run")
    return [plot.save(fig, out_dir, "app_times", title,
                  "fluxsubmit is the job; fluxstart is the whole broker lifetime. One bar per "
                  "run and app (the median where a run timed an app more than once).")]
