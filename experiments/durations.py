"""Go duration strings (`627ms`, `6.959s`, `1m2.3s`, `2h0m1s`, `1.5µs`) to seconds.

Kubelet `Pulled` messages and bash `time` output (`0m9.090s`) both use this shape. The parser is
hand-written because no library parses Go durations, and it sits on the event-ingest hot path:
the common single-unit forms take a fast path without a regular expression.
"""

from __future__ import annotations

import re

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,  # U+00B5 MICRO SIGN, what Go prints
    "μs": 1e-6,  # U+03BC GREEK SMALL LETTER MU, also accepted by Go
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_PLAIN_SECONDS = re.compile(r"\d+\.?\d*|\.\d+")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string; raises ValueError naming the text when it is not one."""
    s = text.strip()
    # Fast paths: "6.959s" and "627ms" are nearly every kubelet duration.
    if s.endswith("ms"):
        head = s[:-2]
        if _PLAIN_SECONDS.fullmatch(head):
            return float(head) * 1e-3
    elif s.endswith("s") and s[-2:-1].isdigit():
        head = s[:-1]
        if _PLAIN_SECONDS.fullmatch(head):
            return float(head)
    return _parse_general(s, text)


def _parse_general(s: str, original: str) -> float:
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    total = 0.0
    pos = 0
    for match in _PART.finditer(s):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(s):
        msg = f"not a Go duration: {original!r} (expected e.g. '627ms', '6.959s', '1m2.3s')"
        raise ValueError(msg)
    return sign * total


def parse_clock(text: str) -> float:
    """Seconds in `[[H:]M:]S.ss` clock text, as printed by GNU time's `%E` (FLUXTIME lines)."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        msg = f"not a clock time: {text!r} (expected e.g. '0:23.40' or '1:02:03.5')"
        raise ValueError(msg)
    try:
        values = [float(p) for p in parts]
    except ValueError:
        msg = f"not a clock time: {text!r} (expected e.g. '0:23.40' or '1:02:03.5')"
        raise ValueError(msg) from None
    seconds = 0.0
    for value in values:
        seconds = seconds * 60.0 + value
    return seconds


def parse_real_time(text: str) -> float:
    """Seconds in bash `time` output (`0m9.090s`) or `time -p` output (`9.09`)."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return parse_go_duration(text)
