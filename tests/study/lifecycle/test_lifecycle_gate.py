"""The nightly regression gate: only large AND significant regressions fail, in either direction."""

from __future__ import annotations

import json

from study.lifecycle.gate import main, regressions


def row(metric, ratio, p, key="k"):
    return {"metric": metric, "key": key, "median_a": 1.0, "median_b": ratio, "ratio": ratio,
            "p_value": p}


def test_large_and_significant_only():
    doc = {"metrics": [
        row("pull_seconds", 1.5, 0.001),  # regression
        row("pull_seconds", 1.5, 0.2, key="noisy"),  # not significant
        row("pull_seconds", 1.1, 0.0001, key="small"),  # within threshold
        row("osu_bandwidth_mb_s", 0.5, 0.001),  # bandwidth halved: regression
        row("osu_bandwidth_mb_s", 1.5, 0.001, key="faster"),  # improvement
        row("latency_us", None, None, key="missing"),
    ]}
    out = regressions(doc, 1.25, 0.01)
    assert len(out) == 2
    assert out[0].startswith("pull_seconds[k]: median 1.0 -> 1.5 (ratio 1.500")
    assert out[1].startswith("osu_bandwidth_mb_s[k]")


def test_exit_code(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"metrics": [row("pull_seconds", 2.0, 0.001)]}))
    assert main([str(path), "--max-ratio", "1.25", "--max-p", "0.01"]) == 3
    path.write_text(json.dumps({"metrics": [row("pull_seconds", 1.0, 0.9)]}))
    assert main([str(path), "--max-ratio", "1.25", "--max-p", "0.01"]) == 0
