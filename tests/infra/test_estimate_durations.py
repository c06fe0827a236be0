"""The fitted duration model: how benchmarks/fit_durations.py fits the seed data and how the plan
reads it (infra/data/durations.yaml through experiments.durations).

Seed data: tests/fixtures/seed (converged-computing/operator-experiments@234ab98
google/kubecon/run1/size-{4,16,64}.log; converged-computing/flux-distribute@78e9b06
topology/cloud-experiment/data/parsed-exact-256-aws/topologies-events.csv).
"""

from __future__ import annotations

import sys

import pytest

from experiments import duration_model
from tests.conftest import ROOT, config_of, stack_yaml

sys.path.insert(0, str(ROOT / "benchmarks"))
import fit_durations  # noqa: E402

SEED = ROOT / "tests" / "fixtures" / "seed"


def test_osu_pairs_are_the_mean_and_collectives_a_power_law():
    """fit_osu over the three launcher logs in the fixtures (4, 16, 64 nodes)."""
    base = SEED / "osu-scale" / "google" / "kubecon" / "run1"
    from experiments.kinds.osu.parse import parse_osu_log

    runs = []
    for n in (4, 16, 64):
        log = parse_osu_log((base / f"size-{n}.log").read_text())
        runs.append({"nodes": log.nodes, "wall": [(w["benchmark"], w["wall_seconds"])
                                                  for w in log.wall if w["wall_seconds"]]})
    fit = fit_durations.fit_osu(runs, ("osu_latency",))
    assert fit["osu_latency"] == {"mean": round((30.623 + 37.499 + 35.810) / 3, 3)}
    barrier = fit["osu_barrier"]  # 4.047, 42.689, 293.836 s: about N^1.5
    assert 1.4 < barrier["b"] < 1.6
    assert fit_durations.osu_bench_seconds(fit, "osu_barrier", 16) == pytest.approx(
        42.7, rel=0.2)
    # Timed at 4 nodes only here (the 64-node log is cut off during it, 16 never ran it): one
    # node count fits no power law, so it is its mean.
    assert fit["osu_allreduce"] == {"mean": 109.151}


def test_256_node_parse_is_two_miniclusters_of_forty_events():
    runs = fit_durations.parsed_runs(fit_durations.SEED_256, "raw-exact-256-aws", "eks",
                                     "c5a.4xlarge")
    assert [(r["design"], r["nodes"], len(r["events"])) for r in runs] == [
        ("kary:1", 256, 40), ("kary:16", 256, 40)]
    assert runs[1]["events"][-3] == ("distribute-all-nodes", 10, 258.081)


def test_per_node_count_fits_interpolate_in_n():
    coef = {6: [1.0, 4.0], 30: [1.0, 4.0], 256: [0.0, 25.0]}
    assert fit_durations.event_seconds(coef, 2, 6) == 9.0
    assert fit_durations.event_seconds(coef, 2, 30) == 9.0
    assert fit_durations.event_seconds(coef, 2, 143) == pytest.approx(0.5 + 2 * 14.5)
    assert fit_durations.event_seconds(coef, 2, 1000) == 50.0  # flat beyond the data
    assert fit_durations.event_seconds(coef, 2, 2) == 9.0


def test_the_harness_evaluates_the_fit_as_the_fit_script_does():
    """experiments.duration_model and the fit script share one form (no drift between the copies)."""
    events = duration_model.model()["topology"]["events"]
    for machine, per_event in events.items():
        for event, coef in per_event.items():
            for n in (4, 6, 17, 30, 100, 256, 512):
                for gb in (0.5, 1, 10):
                    assert duration_model.topology_event_seconds(machine, event, gb, n) == (
                        pytest.approx(fit_durations.event_seconds(coef, gb, n)))


def test_unknown_machine_is_priced_as_the_gke_seed_machine():
    assert duration_model.topology_machine("n2-standard-8") == "c2d-standard-32"
    assert duration_model.topology_event_seconds("n2-standard-8", "create-archive", 4, 6) == (
        duration_model.topology_event_seconds("c2d-standard-32", "create-archive", 4, 6))


def test_the_model_names_its_sources():
    m = duration_model.model()
    assert set(m["sources"]) == {"topology", "minicluster_start", "pulling", "helper_images",
                                 "osu"}
    # The harness's figures: per piece, each from the seed, its own code or the kubelet, or
    # said to be assumed (TestHarnessPieces); none is measured on a harness run yet.
    assert m["harness"]["source"].endswith("no harness run has been collected yet")
    # Start cost: the GKE runs' README totals less their events, per MiniCluster (40-60 s).
    assert 35 < duration_model.minicluster_start() < 60


def test_estimate_totals_work_and_overhead():
    """The plan's totals: measured work and the harness's overhead over the steps that split."""
    from infra.estimate import estimate
    from infra.spec import load_spec

    est = estimate(load_spec(config_of(stack_yaml("seed-osu-gke-8"))))
    split = [s for s in est.steps if s.work_seconds is not None]
    assert split == list(est.steps)  # pre-pull and the MetricSet both split
    assert est.work_seconds == pytest.approx(sum(s.work_seconds for s in split))
    # Per step, as if each ran alone: the table's columns add up to the steps' estimates.
    assert est.work_seconds + est.step_overhead_seconds == pytest.approx(
        sum(s.estimated_seconds for s in est.steps), abs=0.5)
    # On the chain: work and overhead add up to the experiment's time.
    assert est.work_seconds + est.overhead_seconds == pytest.approx(
        est.experiment_hours * 3600, abs=0.5)
    assert est.steps[0].work_seconds == 0.0  # the pre-pull measures nothing


class TestHarnessPieces:
    """The harness's per-step figures are the sums of named pieces, each with its source, and
    the names the kinds call keep working (`duration_model.harness`)."""

    def test_each_figure_is_the_sum_of_its_pieces_with_a_source(self):
        from experiments import duration_model

        for part in ("cache_clear", "recorder", "upload"):
            pieces = duration_model.harness_pieces(part)
            assert pieces
            assert duration_model.harness(part) == pytest.approx(
                sum(sec for sec, _ in pieces.values()), abs=0.01)
            for name, (_, source) in pieces.items():
                assert source.split(":")[0] in ("seed", "own code", "kubelet", "assumed"), name

    def test_the_seed_pod_start_is_the_mean_wait_of_the_pull_pods(self):
        """run1, 4 nodes (the fixture's trim of converged-computing/container-chonks@fa06749
        experiments/pulling/metadata/run1/4): each chonk pull pod's first `Pulling` after its
        `Scheduled`, read straight from the raw events; whole seconds, so 3 of its 8 pods show
        1 s and the rest 0: a mean of 0.375 s where the median says 0."""
        import json
        from datetime import datetime

        run = SEED / "pulling" / "run1" / "4"
        scheduled, pulling = {}, {}
        for path in run.glob("events-size-*.json"):
            for line in path.read_text().splitlines():
                try:
                    ev = json.loads(line)
                except ValueError:
                    continue
                pod = (ev.get("involvedObject") or {}).get("name", "")
                at = datetime.fromisoformat(ev.get("firstTimestamp", "").replace("Z", "+00:00")
                                            ) if ev.get("firstTimestamp") else None
                if ev.get("reason") == "Scheduled":
                    scheduled[pod] = at
                if ev.get("reason") == "Pulling" and "container-chonks" in ev.get("message", ""):
                    pulling[pod] = min(at, pulling.get(pod, at))
        waits = [(pulling[p] - scheduled[p]).total_seconds() for p in pulling]
        assert sorted(waits) == [0.0] * 5 + [1.0] * 3
        got = fit_durations.seed_pod_starts([run])
        assert got["sandbox"] == {"n": 8, "median": 0.0, "mean": round(sum(waits) / 8, 2)}
        assert got["cached_start"]["n"] == 0  # the trim keeps no cached pull

    def test_the_recorder_watches_and_polls_only_without_a_watch(self):
        """The recorder sees its step's end and its clean-up through watches (no poll lag);
        its 1 s poll is the fallback the sources name."""
        from experiments import duration_model, recorder

        pieces = duration_model.harness_pieces("recorder")
        for name in ("notice", "cleanup_notice"):
            seconds, source = pieces[name]
            assert seconds == 0.0
            assert source.startswith("own code: a watch")
            assert f"every {recorder.POLL_SECONDS:g} s only without" in source
