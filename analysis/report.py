"""One self-contained static HTML page of a run or a comparison.

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
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.6rem 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85rem; color: #555; } .note { font-size: 0.85rem; color: #555; }
pre { background: #f7f7f7; padding: 0.6rem; font-size: 0.75rem; overflow-x: auto; }
"""
_CHECK_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.every(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.setAttribute("data-figures", imgs.length);
  document.body.setAttribute("data-figures-ok", ok ? "yes" : "no");
});
"""


def _table_html(df, caption: str) -> str:
    shown = df.head(MAX_ROWS).copy()
    for col in shown.columns:
        if shown[col].dtype.kind not in "fc":  # nullable ints/bools print <NA>; show blank
            shown[col] = shown[col].astype(object).where(shown[col].notna(), "")
    note = (f'<p class="note">First {MAX_ROWS} of {len(df)} rows; the full table is in the '
            "Parquet/CSV output.</p>") if len(df) > MAX_ROWS else ""
    body = shown.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.4g}",
                         escape=True)
    return f"<h3>{html.escape(caption)}</h3>{body}{note}"


def _figure_html(figure) -> str:
    data = base64.b64encode(figure.png.read_bytes()).decode("ascii")
    return (f'<figure id="fig-{html.escape(figure.name)}">'
            f'<img alt="{html.escape(figure.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption><b>{html.escape(figure.title)}.</b> {html.escape(figure.caption)}"
            "</figcaption></figure>")


def _doc_html(title: str, doc: dict) -> str:
    text = json.dumps(doc, indent=2, sort_keys=True, default=str)
    return f"<h3>{html.escape(title)}</h3><pre>{html.escape(text)}</pre>"


def build_report(datas, tables: dict, figures, comparison=None) -> str:
    """The report page as a string."""
    labels = ", ".join(d.label for d in datas)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape('Study report: ' + labels)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Study report: {html.escape(labels)}</h1>",
        f'<p class="note">Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by study-harness.</p>',
        "<h2>Runs</h2>",
    ]
    for data in datas:
        parts.append(f"<h3>{html.escape(data.label)}</h3>")
        parts.append(f'<p class="note">{html.escape(str(data.run.path))} '
                     f"({html.escape(data.run.layout)} layout; data: "
                     f"{html.escape(', '.join(data.run.kinds))})</p>")
        parts.append(_doc_html("Stack configuration", data.stack_config()))
        parts.append(_doc_html("Experiment definition", data.experiment()))
    if comparison is not None:
        parts.append("<h2>Comparison</h2>")
        parts.append(f'<p class="note">Baseline: {html.escape(comparison.baseline)}. Medians '
                     "with percentile-bootstrap 95% CIs, ratio = other/baseline, two-sided "
                     "Mann-Whitney U p-value, Cliff's delta (positive: other is larger).</p>")
        if comparison.experiment_differences:
            parts.append(_doc_html("Experiment definitions differ (compared with --force)",
                                   comparison.experiment_differences))
        parts.append(_doc_html("Stack configuration differences", comparison.config_differences))
        parts.append(_table_html(comparison.rows, "Shared metrics"))
    parts.append("<h2>Tables</h2>")
    for name, caption in (
        ("pull_medians", "Median pull time per image (fresh pulls of studied images)"),
        ("completeness", "Expected vs observed pulls per image and node"),
        ("ingest_stats", "Event lines read, skipped and counted"),
        ("topology_medians", "Median topology step time"),
        ("osu_scaling", "OSU benchmark scaling classes"),
        ("osu_wall", "OSU wall time per benchmark"),
        ("app_times", "Application wall times"),
        ("app_fom", "Application figures of merit"),
    ):
        df = tables.get(name)
        if df is not None and not df.empty:
            if name == "completeness" and (df["status"] != "ok").any():
                df = df[df["status"] != "ok"]
                caption += " (rows that are not ok)"
            parts.append(_table_html(df, caption))
    if figures:
        parts.append("<h2>Figures</h2>")
        parts.extend(_figure_html(f) for f in figures)
    parts.append(f"<script>{_CHECK_SCRIPT}</script></body></html>")
    return "\n".join(parts)
