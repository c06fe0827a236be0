"""The nightly regression gate over `study compare --json`: fail on a significant regression.

A metric regresses when tonight's median is worse than the last good night's by more than the
ratio threshold AND the difference is significant (Mann-Whitney p below the threshold). Worse
means larger for durations and latencies, smaller for bandwidth/throughput metrics. The
thresholds are passed explicitly by the workflow so they are stated where the gate runs.

    python -m study.lifecycle.gate compare.json --max-ratio 1.25 --max-p 0.01
"""

from __future__ import annotations

import argparse
import json
import sys

HIGHER_IS_BETTER = ("bandwidth", "throughput", "bytes_per_second", "rate")


def regressions(doc: dict, max_ratio: float, max_p: float) -> list[str]:
    """One line per regressed (metric, key) in a `study compare --json` document."""
    out = []
    for row in doc.get("metrics", []):
        ratio, p = row.get("ratio"), row.get("p_value")
        if ratio is None or p is None or p >= max_p:
            continue
        better_high = any(w in str(row.get("metric", "")).lower() for w in HIGHER_IS_BETTER)
        worse = ratio < 1 / max_ratio if better_high else ratio > max_ratio
        if worse:
            out.append(
                f"{row.get('metric')}[{row.get('key')}]: median {row.get('median_a')} -> "
                f"{row.get('median_b')} (ratio {ratio:.3f}, p {p:.2g}; threshold ratio "
                f"{max_ratio:g}, p < {max_p:g})"
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("compare_json")
    ap.add_argument("--max-ratio", type=float, required=True)
    ap.add_argument("--max-p", type=float, required=True)
    a = ap.parse_args(argv)
    with open(a.compare_json) as fh:
        doc = json.load(fh)
    bad = regressions(doc, a.max_ratio, a.max_p)
    for line in bad:
        sys.stderr.write(f"regression: {line}\n")
    if not doc.get("metrics"):
        sys.stderr.write("gate: the runs share no metric; nothing compared\n")
    return 3 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
