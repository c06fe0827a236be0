"""The statistics `study compare` reports, each from scipy.stats rather than by hand.

Medians with percentile-bootstrap 95% confidence intervals (robust for the small, skewed,
tie-heavy samples runs give), the Mann-Whitney U test (no normality assumption), and Cliff's
delta as the effect size (derived from U: the probability that a value of B exceeds one of A,
minus the reverse; -1..1, 0 means no shift).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

import numpy as np

N_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass
class Summary:
    """Median and bootstrap CI of one sample."""

    n: int
    median: float
    ci_low: float
    ci_high: float


@dataclass
class Comparison:
    """B against A: both summaries, the ratio of medians, the test and the effect size."""

    a: Summary
    b: Summary
    ratio: float  # median_b / median_a
    p_value: float
    effect_size: float  # Cliff's delta, positive when B tends to be larger

    def as_dict(self) -> dict:
        return asdict(self)


def median_known(values) -> float | None:
    """The median of the values that are known (None and NaN left out); None when none is."""
    vals = [float(v) for v in values if v is not None and v == v]
    return statistics.median(vals) if vals else None


def summarize(values, seed: int = 0) -> Summary:
    """Median with a percentile-bootstrap CI; the CI is NaN below two values."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return Summary(0, math.nan, math.nan, math.nan)
    median = float(np.median(x))
    if x.size < 2:
        return Summary(1, median, math.nan, math.nan)
    if np.all(x == x[0]):
        return Summary(int(x.size), median, median, median)  # every resample is the same
    res = stats.bootstrap((x,), np.median, confidence_level=CONFIDENCE, n_resamples=N_RESAMPLES,
                          method="percentile", random_state=np.random.default_rng(seed))
    return Summary(int(x.size), median, float(res.confidence_interval.low),
                   float(res.confidence_interval.high))


def compare_samples(a, b, seed: int = 0) -> Comparison:
    """Compare sample B with sample A (the baseline)."""
    from scipy import stats

    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
    sa, sb = summarize(xa, seed), summarize(xb, seed)
    ratio = sb.median / sa.median if sa.n and sb.n and sa.median != 0 else math.nan
    if xa.size == 0 or xb.size == 0:
        return Comparison(sa, sb, ratio, math.nan, math.nan)
    test = stats.mannwhitneyu(xb, xa, alternative="two-sided")
    delta = 2.0 * float(test.statistic) / (xa.size * xb.size) - 1.0
    p = float(test.pvalue)
    return Comparison(sa, sb, ratio, p if not math.isnan(p) else 1.0, delta)
