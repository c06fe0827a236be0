"""The nightly regression gate over `study compare --json`: fail on a significant regression.

A metric regresses when tonight's median is worse than the last good night's by more than the
ratio threshold AND the difference is significant (Mann-Whitney p below the threshold). Worse
is the metric's declared direction (`experiments.base.Metric`, declared by the kind that
measures it): larger when lower is better, smaller when higher is better; a metric no kind
declares is not guessed from its name, it stops the gate. The thresholds are passed explicitly
by the workflow so they are stated where the gate runs.

    python -m study.lifecycle.gate compare.json --max-ratio 1.25 --max-p 0.01
"""

from __future__ import annotations

import argparse
import json
import sys


def regressions(doc: dict, max_ratio: float, max_p: float) -> list[str]:
    """One line per regressed (metric, key) in a `study compare --json` document.

    KeyError naming the metric when a compared metric has no declared direction.
    """
    from experiments.registry import metric

    out = []
    for row in doc.get("metrics", []):
        ratio, p = row.get("ratio"), row.get("p_value")
        if ratio is None or p is None or p >= max_p:
            continue
        better_high = metric(str(row.get("metric"))).direction == "higher"
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
    try:
        bad = regressions(doc, a.max_ratio, a.max_p)
    except KeyError as exc:
        sys.stderr.write(f"gate: {exc.args[0]}\n")
        return 1
    for line in bad:
        sys.stderr.write(f"regression: {line}\n")
    if not doc.get("metrics"):
        sys.stderr.write("gate: the runs share no metric; nothing compared\n")
    return 3 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
