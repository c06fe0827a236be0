"""Statistics come from scipy and behave on the small samples runs give."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.stats import compare_samples, summarize


def test_summary_brackets_the_median() -> None:
    rng = np.random.default_rng(1)
    x = rng.lognormal(3, 0.5, 16)
    s = summarize(x)
    assert s.n == 16 and s.median == pytest.approx(np.median(x))
    assert s.ci_low <= s.median <= s.ci_high and s.ci_low < s.ci_high


def test_comparison_matches_scipy_and_cliffs_delta_by_counting() -> None:
    a, b = [7.1, 6.9, 7.3, 7.0, 7.2], [6.8, 6.7, 7.0, 6.6, 6.9]
    c = compare_samples(a, b)
    assert c.p_value == pytest.approx(stats.mannwhitneyu(b, a).pvalue)
    greater = sum((y > x) - (y < x) for x in a for y in b)
    assert c.effect_size == pytest.approx(greater / (len(a) * len(b)))
    assert c.ratio == pytest.approx(np.median(b) / np.median(a))


def test_degenerate_samples() -> None:
    one = compare_samples([1.0], [2.0])
    assert math.isnan(one.a.ci_low) and one.ratio == 2.0
    same = summarize([3.0, 3.0, 3.0])
    assert (same.ci_low, same.ci_high) == (3.0, 3.0)
    empty = compare_samples([], [1.0])
    assert empty.a.n == 0 and math.isnan(empty.p_value)
