"""Go duration and clock parsing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments.durations import parse_clock, parse_go_duration


class TestGoDuration:
    """Every duration form the kubelet and bash print maps to the right number of seconds."""

    @pytest.mark.parametrize(("text", "seconds"), [
        ("627ms", 0.627),
        ("6.959s", 6.959),
        ("49.657983991s", 49.657983991),
        ("1m2.3s", 62.3),
        ("1m4.249s", 64.249),
        ("2h0m1s", 7201.0),
        ("1.5µs", 1.5e-6),  # U+00B5, what Go prints
        ("1.5μs", 1.5e-6),  # U+03BC, which Go also accepts
        ("250us", 250e-6),
        ("12ns", 12e-9),
        ("0m9.090s", 9.09),  # bash `time`
        ("261m44.303s", 15704.303),
        ("0", 0.0),
        ("-1.5s", -1.5),
        (".5s", 0.5),
    ])
    def test_known_forms(self, text: str, seconds: float) -> None:
        assert parse_go_duration(text) == pytest.approx(seconds, rel=1e-12, abs=1e-15)

    @pytest.mark.parametrize("text", ["", "s", "12", "1x", "1m2", "ms", "1.2.3s", "1s2", "m1s"])
    def test_rejects_non_durations(self, text: str) -> None:
        with pytest.raises(ValueError, match="not a Go duration"):
            parse_go_duration(text)

    @given(h=st.integers(0, 50), m=st.integers(0, 59), ms=st.integers(0, 59_999))
    def test_composite_round_trip(self, h: int, m: int, ms: int) -> None:
        # Go prints hours and minutes as integers and the seconds with a decimal fraction.
        text = f"{h}h{m}m{ms // 1000}.{ms % 1000:03d}s"
        assert parse_go_duration(text) == pytest.approx(h * 3600 + m * 60 + ms / 1000)


class TestClock:
    """GNU time's %E clock values (FLUXTIME lines) become seconds."""

    @pytest.mark.parametrize(("text", "seconds"), [
        ("0:23.40", 23.4), ("1:02:03.5", 3723.5), ("12.5", 12.5)])
    def test_forms(self, text: str, seconds: float) -> None:
        assert parse_clock(text) == pytest.approx(seconds)

    @pytest.mark.parametrize("text", ["a:b", "1:2:3:4", ""])
    def test_rejects(self, text: str) -> None:
        with pytest.raises(ValueError, match="not a clock time"):
            parse_clock(text)
