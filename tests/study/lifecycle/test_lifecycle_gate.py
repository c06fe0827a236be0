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


def test_direction_is_the_metrics_declared_one_not_its_name():
    """app_fom is a rate (higher is better) though its name says nothing of it: a fall is the
    regression, a rise is not."""
    doc = {"metrics": [row("app_fom", 0.5, 0.001), row("app_fom", 2.0, 0.001, key="up")]}
    out = regressions(doc, 1.25, 0.01)
    assert out == ["app_fom[k]: median 1.0 -> 0.5 (ratio 0.500, p 0.001; threshold ratio 1.25, "
                   "p < 0.01)"]


def test_a_metric_no_kind_declares_stops_the_gate(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"metrics": [row("made_up_rate", 0.5, 0.001)]}))
    assert main([str(path), "--max-ratio", "1.25", "--max-p", "0.01"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gate: metric 'made_up_rate' is declared by no experiment kind; "
                          "known: app_fom, app_seconds, osu_avg_latency_us, osu_avg_ms, "
                          "osu_bandwidth_mb_s, ")
