"""One self-contained static HTML page of a run or a comparison.

Ordered as a reader wants it: a summary first (what ran, the headline medians with confidence
intervals, completeness, every warning), then the comparison, the figures, the tables (each
column explained), and the stack configuration and experiment definition folded at the end.

Everything the page shows is inside the file: CSS inline, figures as base64 PNG data URIs, no
scripts or fonts from anywhere. It opens from a file share or an e-mail attachment without a
server. A six-line inline script records on <body> whether every figure decoded, so headless
browser checks (and curious readers) can confirm the page is whole.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime

# Rows shown per table; the full tables are the Parquet/CSV files `study analyze` writes.
MAX_ROWS = 60

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222;
       padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.6rem 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; } .note { font-size: 0.85rem; color: #555; }
pre { background: #f7f7f7; padding: 0.6rem; font-size: 0.75rem; overflow-x: auto; }
ul.warnings li { color: #8a4b00; font-size: 0.85rem; }
dl.columns { font-size: 0.78rem; color: #444; display: grid; gap: 0 0.8rem; margin: 0 0 1rem;
             grid-template-columns: max-content auto; } dl.columns dt { font-family: monospace; }
dl.columns dd { margin: 0; }
"""
_CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-figures", imgs.length);
  document.body.setAttribute("data-figures-ok", ok ? "yes" : "no");
});
"""

# What every column the page shows means; a column missing here is a test failure.
COLUMNS = {
    "run": "the run's label",
    "nodes": "node count of the cluster (nodes table: where it came from)",
    "nodes_source": "where the node count came from: inventory (node list or RegisteredNode "
                    "events), file name, inferred (nodes whose kubelet reported events, a "
                    "floor), stack config or --nodes",
    "image": "studied image, registry-independent (the chonk tag, else name:tag)",
    "layers": "layer count stated by the image tag (blank when the tag states none)",
    "size_bytes": "image size: the tag's nominal size, else the compressed size the kubelet "
                  "reports (1.30+)",
    "n": "number of observations behind the median",
    "median_pull_seconds": "median over fresh pulls of the kubelet's own pull time",
    "median_time_to_started_seconds": "median time from the Pulling event to the container's "
                                      "Started event",
    "n_started": "fresh pulls whose container reported Started",
    "missing_started": "fresh pulls with no Started event (blank time to Started)",
    "node": "node name",
    "expected": "pulls expected of this image on this node",
    "observed": "pulls seen (fresh and cached)",
    "cached": "pulls that were cache hits ('already present on machine')",
    "status": "ok, missing (fewer than expected) or extra (more)",
    "metric": "what is measured",
    "key": "what the metric is measured on (image or app, design, benchmark)",
    "median": "median of the observations",
    "ci_95": "percentile-bootstrap 95% confidence interval of the median",
    "n_a": "observations in the baseline run",
    "median_a": "median in the baseline run",
    "ci_low_a": "low end of the baseline median's 95% CI",
    "ci_high_a": "high end of the baseline median's 95% CI",
    "n_b": "observations in the compared run",
    "median_b": "median in the compared run",
    "ci_low_b": "low end of the compared median's 95% CI",
    "ci_high_b": "high end of the compared median's 95% CI",
    "ratio": "median_b / median_a (below 1: the compared run is faster or smaller)",
    "p_value": "two-sided Mann-Whitney U p-value",
    "effect_size": "Cliff's delta, -1..1; positive when the compared run's values tend to be "
                   "larger",
    "topology": "Flux overlay design (kary-K, binomial)",
    "tree_depth": "levels of the overlay tree below the root",
    "max_fanout": "most children of any broker in the overlay",
    "event": "the timed archive step",
    "size_gb": "archive size (GB)",
    "median_seconds": "median over iterations of bash's real time",
    "benchmark": "OSU benchmark",
    "class": "scaling class of its wall time against node count (rule in the figure)",
    "slope": "fitted b in log2(t) = a + b log2(nodes)",
    "r2": "r squared of that fit",
    "min_seconds": "shortest wall time over node counts",
    "max_seconds": "longest wall time over node counts",
    "np": "MPI ranks",
    "wall_seconds": "bash real time of the benchmark",
    "complete": "whether the benchmark finished (a wall time was printed)",
    "app": "application executable",
    "kind": "fluxsubmit (the job) or fluxstart (the whole broker)",
    "seconds": "wall time (s)",
    "source": "the log it came from",
    "value": "the figure of merit's value",
    "unit": "the figure of merit's unit",
    "what": "what the line counts",
    "count": "how many",
    "stack": "the harness stack the run belongs to (blank for seed data)",
    "cloud": "gke or eks, from the stack config or the nodes' labels",
    "machine": "machine type of the nodes",
    "dates": "when it ran: the recorded start and end, else the first Pulling and last "
             "Started event",
    "data": "which kinds of data the run holds",
    "path": "where it was read from",
    "step": "the harness step (blank for seed data, which has none)",
    "step_kind": "the experiment kind the step's recorder wrote",
    "step_status": "the step's recorded status (succeeded, failed, invalid, deadline, ...)",
    "harness_step": "whether the step is the harness's own preparation (pre-pull, mirror, "
                    "priming pull), run beside the operators: all of it is overhead",
    "workload_started_at": "when the step's workload started (its Jobs' start, status.json)",
    "workload_finished_at": "when the step's workload finished (its Jobs' completion)",
    "recorder_started_at": "when the step recorder started",
    "recorder_finished_at": "when the step recorder had written the step's results",
    "next_workload_started_at": "when the next step's workload started",
    "work_seconds": "measured work: workload start to finish",
    "recording_seconds": "workload finished to recorder finished: logs, checks, the pull "
                         "Job's clean-up (and any wait of the recorder's start, which the "
                         "note names)",
    "turnaround_seconds": "recorder finished to the workload start of the step that waited "
                          "for it: Pulumi's reaction alone (the upload runs beside the next "
                          "step)",
    "overhead_seconds": "recording + turn-around + the step's own cache clear (inside its "
                        "workload span): what the harness added to the step",
    "cache_clear_seconds": "median over the step's pull pods of the pod's Scheduled to its "
                           "studied image's first Pulling: pod start, the clear init "
                           "container's start and script, and the pull's start (blank for "
                           "kinds without a clear)",
    "upload_seconds": "the step's upload Job, created to Completed: it runs beside the next "
                      "step, and only the next recorder waits for it",
    "upload_node": "where the step's upload pod ran (its Scheduled event, else its kubelet "
                   "events' source.host): the results node",
    "upload_overlap_pulls": "studied pulls on the upload's node whose Pulling..Pulled window "
                            "overlapped the upload's (the next step's, as steps run)",
    "upload_overlap_seconds": "seconds of the upload during which at least one of those pulls "
                              "ran beside it on its node",
    "pulumi_seconds": "the turn-around: Pulumi noticing the recorder's Job Complete and the "
                      "next step's Job starting",
    "namespace": "the pod's namespace",
    "pod": "the pull's pod (with run, namespace and container, its row in the pulls table)",
    "container": "the container whose image was pulled",
    "pulling_at": "the kubelet's Pulling event: the pull's start",
    "pulled_at": "the kubelet's Pulled event: the pull's end",
    "pull_seconds": "the kubelet's own pull time (the Pulled message)",
    "beside_upload": "whether the pull's Pulling..Pulled window overlapped an upload Job's "
                     "window on the same node (blank when the events cannot tell)",
    "upload": "the upload Job(s) the pull ran beside",
    "upload_started_at": "that upload Job's first event (SuccessfulCreate)",
    "upload_finished_at": "that upload Job's Completed event",
    "overlap_seconds": "seconds the pull and the upload(s) ran together on the node (0 when "
                       "none did)",
    "note": "why a value is blank",
    "next_step": "the step of the next image",
    "next_image": "the image pulled next",
    "last_pulled_at": "the image's last Pulled event",
    "next_first_pulling_at": "the next image's first Pulling event",
    "gap_seconds": "last Pulled of the image to first Pulling of the next",
}
# Ingest counters as the completeness table names them.
_COUNTERS = {
    "files": "event files read", "lines": "lines read", "events": "events used",
    "ignored": "events of reasons the analysis does not use", "not_event": "non-event lines",
    "duplicates": "re-emitted copies of an event (same uid), dropped",
    "repeats": "repeated events of one container stage (new uid), earliest kept",
    "malformed": "lines that are not JSON objects", "truncated": "lines cut off at a file's end",
    "bad_message": "Pulled messages in no known format",
    "missing_fields": "events without involvedObject or metadata",
    "wrong_type": "events with a field of the wrong type",
    "bad_timestamp": "timestamps that are not RFC 3339",
    "impossible_duration": "pull durations no kubelet can print",
    "empty_files": "empty event files", "json_array_files": "files that were a JSON array",
    "bom_files": "files with a byte-order mark", "blank": "blank lines",
}


def _columns_html(df) -> str:
    items = "".join(f"<dt>{html.escape(str(c))}</dt><dd>{html.escape(COLUMNS.get(str(c), ''))}"
                    "</dd>" for c in df.columns)
    return f'<dl class="columns">{items}</dl>'


def _table_html(df, caption: str, explain: bool = True, file: str | None = None) -> str:
    """A table of at most MAX_ROWS rows; a longer one names the file that holds it whole."""
    shown = df.head(MAX_ROWS).copy()
    for col in shown.columns:
        if shown[col].dtype.kind not in "fc":  # nullable ints/bools print <NA>; show blank
            shown[col] = shown[col].astype(object).where(shown[col].notna(), "")
    where = (f"tables/{file}.csv and .parquet beside this page" if file
             else "the Parquet/CSV output")
    note = (f'<p class="note">First {MAX_ROWS} of {len(df)} rows; the full table is in '
            f"{html.escape(where)}.</p>") if len(df) > MAX_ROWS else ""
    body = shown.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}",
                         escape=True)
    return (f"<h3>{html.escape(caption)}</h3>{body}{note}"
            + (_columns_html(df) if explain else ""))


def _figure_html(figure) -> str:
    data = base64.b64encode(figure.png.read_bytes()).decode("ascii")
    return (f'<figure id="fig-{html.escape(figure.name)}">'
            f'<img alt="{html.escape(figure.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{html.escape(figure.title)}.</b> {html.escape(figure.caption)}"
            "</figcaption></figure>")


def _doc_html(title: str, doc: dict, folded: bool = True) -> str:
    text = html.escape(json.dumps(doc, indent=2, sort_keys=True, default=str))
    if folded:
        return f"<details><summary>{html.escape(title)}</summary><pre>{text}</pre></details>"
    return f"<h3>{html.escape(title)}</h3><pre>{text}</pre>"


def what_ran(data) -> dict[str, str]:
    """Stack, cloud, nodes, machine and dates of one run, from what it recorded or shows."""
    run = data.run
    config = data.stack_config()
    flat = _flat(config)
    cloud = flat.get("cluster.cloud") or ("gke" if any("gke" in k or "cloud.google.com" in k
                                                        for lbl in data.node_labels.values()
                                                        for k in lbl) else
                                          "eks" if any("eks.amazonaws.com" in k for lbl in
                                                       data.node_labels.values() for k in lbl)
                                          else "")
    machine = (flat.get("cluster.machine_type") or flat.get("instance_type") or "")
    nodes = "" if run.nodes is None else f"{run.nodes} ({run.nodes_source})"
    if not nodes:  # topology and OSU runs span cluster sizes; their logs say which
        counts = sorted({int(n) for name in ("topology", "osu_wall", "app_times")
                         for n in data.table(name).get("nodes", []) if n == n and n is not None})
        nodes = f"{', '.join(map(str, counts))} (from the logs)" if counts else ""
    return {"run": data.label, "stack": run.stack or "", "cloud": str(cloud),
            "nodes": nodes, "machine": str(machine), "dates": _dates(data),
            "data": ", ".join(run.kinds), "path": str(run.path)}


def _flat(doc: dict) -> dict:
    from analysis.compare import flatten

    return flatten(doc)


def _dates(data) -> str:
    prov = data.run.provenance
    if prov.get("started_at"):
        return f"{prov.get('started_at')} .. {prov.get('finished_at') or ''}"
    pulls = data.table("pulls")
    if not pulls.empty and pulls["pulling_at"].notna().any():
        first, last = pulls["pulling_at"].min(), pulls["started_at"].max()
        last = last if last == last else pulls["pulling_at"].max()
        return f"{first:%Y-%m-%d %H:%M} .. {last:%Y-%m-%d %H:%M} UTC"
    return ""


def headline(datas):
    """Median with its 95% CI of every comparable metric of each run (the numbers to quote)."""
    import pandas as pd

    from analysis.compare import observations
    from analysis.stats import summarize

    rows = []
    for data in datas:
        obs = _headline_only(observations(data))
        for (metric, key), group in obs.groupby(["metric", "key"], sort=False):
            s = summarize(group["value"].to_numpy())
            ci = "" if s.ci_low != s.ci_low else f"[{s.ci_low:.4g}, {s.ci_high:.4g}]"
            rows.append([data.label, metric, key, s.n, s.median, ci])
    return pd.DataFrame(rows, columns=["run", "metric", "key", "n", "median", "ci_95"])


def _headline_only(obs):
    """The numbers a study is quoted by: every pull metric, the distribution step of each
    design, each OSU benchmark at its largest cluster, the job's wall time and the figures of
    merit. The rest is in the tables and the comparison."""
    metric, key = obs["metric"], obs["key"]
    keep = metric.isin(["pull_seconds", "time_to_started_seconds", "app_fom"])
    keep |= (metric == "topology_seconds") & key.str.startswith("distribute-all-nodes ")
    keep |= (metric == "app_seconds") & key.str.endswith(" fluxsubmit")
    osu = (metric == "osu_wall_seconds") & obs["value"].notna()
    if osu.any():
        # Each benchmark at the largest cluster it finished on: one that stopped finishing at
        # 16 nodes is quoted at 8 (its key says so), not left out of the summary.
        parts = key[osu].str.rsplit(" nodes=", n=1)
        bench = parts.str[0]
        nodes = parts.str[1].map(lambda n: int(n) if n.isdigit() else -1)
        largest = nodes == nodes.groupby(bench).transform("max")
        keep |= osu & largest.reindex(obs.index, fill_value=False)
    return obs[keep]


# What the headline table holds of each metric, in the order a reader meets them.
_HEADLINE_PARTS = {
    "pull_seconds": "the kubelet's pull time of every studied image",
    "time_to_started_seconds": "the time from Pulling to Started of every studied image",
    "topology_seconds": "the distribution step of each overlay design",
    "osu_wall_seconds": "each OSU benchmark's wall time at the largest cluster it finished on",
    "app_seconds": "each application's job wall time (fluxsubmit)",
    "app_fom": "the applications' figures of merit",
}


def headline_note(heads, compared: bool) -> str:
    """The caption of the headline table, naming only the metrics it shows (and the comparison
    only when the page has one)."""
    shown = [text for metric, text in _HEADLINE_PARTS.items()
             if (heads["metric"] == metric).any()]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    where = "the tables and the comparison" if compared else "the tables"
    return f"{listed[0].upper()}{listed[1:]}; every metric is in {where}."


def completeness_summary(data):
    """What was expected and what arrived, as (what, count) lines for one run."""
    import pandas as pd

    rows = []
    table = data.table("completeness")
    if not table.empty:
        for status in ("ok", "missing", "extra"):
            rows.append([f"image/node pairs {status}", int((table["status"] == status).sum())])
    pulls = data.table("pulls")
    if not pulls.empty:
        fresh = pulls[(pulls["role"] == "studied") & pulls["pulled_at"].notna()]
        rows.append(["studied pulls with a Pulled event", len(fresh)])
        rows.append(["... of which no Started event", int(fresh["started_at"].isna().sum())])
    for key, label in _COUNTERS.items():
        if data.ingest_stats.get(key):
            rows.append([label, int(data.ingest_stats[key])])
    return pd.DataFrame(rows, columns=["what", "count"])


def overhead_html(datas, tables: dict) -> list[str]:
    """The harness-overhead section: each run's summary line, the step timeline, the pull gaps
    and the pulls an upload ran beside (nothing when no run has any of them)."""
    from analysis.timeline import overhead_summary
    from analysis.upload_overlap import OVERLAP_TABLE

    timeline, gaps = tables.get("step_timeline"), tables.get("pull_gaps")
    beside = tables.get(OVERLAP_TABLE)
    if all(t is None or t.empty for t in (timeline, gaps, beside)):
        return []
    parts = ["<h2>Harness overhead</h2>",
             '<p class="note">Where each step\'s time went: the measured work, the recorder, '
             "Pulumi's turn-around to the next step's workload and, for pulls, each pod's cache "
             "clear; the upload runs beside the next step, on the results node, and the pulls "
             "it overlapped there are listed. From the recorders' status.json and the run's "
             "events.</p>"]
    lines = [f"{d.label}: {line}" for d in datas if (line := overhead_summary(d))]
    if lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>")
    if timeline is not None and not timeline.empty:
        parts.append(_table_html(timeline, "Step timeline", file="step_timeline"))
    if gaps is not None and not gaps.empty:
        parts.append(_table_html(gaps, "Gap between consecutive images' pulls", file="pull_gaps"))
    if beside is not None and not beside.empty:
        # Every studied pull has a row in the file; the page shows the ones an upload touched
        # (or that the events cannot clear), as completeness shows the pairs that are not ok.
        shown = beside[beside["beside_upload"].fillna(True).astype(bool)]
        caption = "Studied pulls beside an upload on their node"
        if shown.empty:
            parts.append(f"<h3>{html.escape(caption)}</h3><p class=\"note\">None of the "
                         f"{len(beside)} studied pulls overlapped an upload on its node.</p>")
        else:
            parts.append(_table_html(shown, caption, file=OVERLAP_TABLE))
            parts.append(f'<p class="note">{len(shown)} of {len(beside)} studied pulls; every '
                         f"one has its row in tables/{OVERLAP_TABLE}.csv beside this page.</p>")
    return parts


def build_report(datas, tables: dict, figures, comparison=None, warnings: list[str] | None = None,
                 skipped=None, heads=None) -> str:
    """The report page as a string; `heads` is `headline(datas)` when the caller has it."""
    import pandas as pd

    labels = ", ".join(d.label for d in datas)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape('Study report: ' + labels)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Study report: {html.escape(labels)}</h1>",
        f'<p class="note">Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by study-harness.</p>',
        "<h2>Summary</h2>",
    ]
    ran = pd.DataFrame([what_ran(d) for d in datas])
    parts.append(_table_html(ran, "What ran"))
    heads = headline(datas) if heads is None else heads
    if not heads.empty:
        parts.append(_table_html(heads, "Headline medians (95% bootstrap CI)", file="headline"))
        note = headline_note(heads, compared=comparison is not None)
        parts.append(f'<p class="note">{html.escape(note)}</p>')
    for data in datas:
        summary = completeness_summary(data)
        if not summary.empty:
            parts.append(_table_html(summary, f"Completeness: {data.label}",
                                     explain=data is datas[-1]))
    parts.append("<h3>Warnings</h3>")
    if warnings:
        parts.append('<ul class="warnings">' + "".join(f"<li>{html.escape(w)}</li>"
                                                       for w in warnings) + "</ul>")
    else:
        parts.append('<p class="note">None: every line was read and every figure drawn.</p>')
    medians = tables.get("pull_medians")
    if comparison is not None:
        parts.append("<h2>Comparison</h2>")
        parts.append(f'<p class="note">Baseline: {html.escape(comparison.baseline)}. Medians '
                     "with percentile-bootstrap 95% CIs, ratio = other/baseline, two-sided "
                     "Mann-Whitney U p-value, Cliff's delta (positive: other is larger).</p>")
        if comparison.experiment_differences:
            parts.append(_doc_html("Experiment definitions differ (compared with --force)",
                                   comparison.experiment_differences, folded=False))
        parts.append(_doc_html("Stack configuration differences", comparison.config_differences,
                               folded=False))
        parts.append(_table_html(comparison.rows, "Shared metrics", file="comparison"))
    parts.append("<h2>Figures</h2>")
    parts.extend(_figure_html(f) for f in figures)
    for s in skipped or []:
        parts.append(f'<p class="note"><b>{html.escape(s.title)}</b> not drawn: '
                     f"{html.escape(s.reason)}.</p>")
    if not figures and not skipped:
        parts.append('<p class="note">The runs hold no data any figure draws.</p>')
    parts.append("<h2>Tables</h2>")
    from experiments.registry import results_kinds

    for name, caption in (
        ("pull_medians", "Median pull time per image (fresh pulls of studied images)"),
        ("completeness", "Expected vs observed pulls per image and node"),
        *(t for kind in results_kinds() for t in getattr(kind, "report_tables", ())),
    ):
        df = medians if name == "pull_medians" else tables.get(name)
        if df is not None and not df.empty:
            if name == "completeness" and (df["status"] != "ok").any():
                df = df[df["status"] != "ok"]
                caption += " (rows that are not ok)"
            parts.append(_table_html(df, caption, file=name))
    parts.extend(overhead_html(datas, tables))
    parts.append("<h2>Configuration</h2>")
    for data in datas:
        parts.append(f"<h3>{html.escape(data.label)}</h3>")
        parts.append(_doc_html("Stack configuration", data.stack_config()))
        parts.append(_doc_html("Experiment definition", data.experiment()))
    parts.append(f"<script>{_CHECK_SCRIPT}</script></body></html>")
    return "\n".join(parts)
