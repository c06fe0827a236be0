"""Deadlines come from each kind's fitted model with a margin the seed data justifies, and a step
whose estimate exceeds its cap is a plan error naming it (exit 3: a failed check, not bad input).

Seed data: tests/fixtures/seed (converged-computing/operator-experiments@234ab98
google/kubecon/run1/times.log for OSU; converged-computing/flux-distribute@685caa7
topology/cloud-experiment/data/parsed-*/topologies-events.csv for topology). The fitted model is
infra/data/durations.yaml (benchmarks/fit_durations.py). Operator sleeps:
converged-computing/metrics-operator@8f15755 pkg/metrics/network/osu-benchmark.go (`sleep` 60,
then `sleep 5` before collection).
"""

from __future__ import annotations

import csv
from collections import defaultdict

import pytest

from experiments.base import ClusterFacts
from experiments.kinds import apps, osu, topology
from tests.conftest import NOW, ROOT, sections, to_config

SEED = ROOT / "tests" / "fixtures" / "seed"


def facts(**kw) -> ClusterFacts:
    base = dict(cloud="gke", node_count=64, machine_type="c2d-standard-2", vcpus_per_node=2,
                image_registry="ghcr.io")
    return ClusterFacts(**{**base, **kw})


def seed_osu_times() -> list[tuple[str, int, float]]:
    lines = (SEED / "osu-scale/google/kubecon/run1/times.log").read_text().splitlines()
    out = []
    for row in csv.DictReader(lines):
        out.append((row["METRIC"], int(row["SIZE_NODES"]), float(row["TIME_SECONDS"])))
    return out


class TestOsuModel:
    """The fit, the margin, and the parts of a step the seed's `real` times do not contain."""

    def test_model_covers_every_seed_benchmark(self):
        seed = seed_osu_times()
        assert len(seed) == 107
        from experiments.duration_model import model

        assert set(model()["osu"]["benchmarks"]) == {b for b, _, _ in seed} == set(osu.KNOWN)

    def test_pairs_are_their_mean_over_the_launcher_logs(self):
        """osu_latency's `real` in the five launcher logs (times.log copies them)."""
        times = [t for b, _, t in seed_osu_times() if b == "osu_latency"]
        assert osu.benchmark_seconds("osu_latency", 64) == pytest.approx(
            sum(times) / len(times), abs=0.001)

    def test_margin_covers_the_seed_spread(self):
        ratios = [t / osu.benchmark_seconds(b, n) for b, n, t in seed_osu_times()]
        assert max(ratios) == pytest.approx(1.19, abs=0.005)
        assert osu.DEADLINE_MARGIN >= max(ratios)

    def test_estimate_counts_pod_start_the_operators_sleeps_and_the_recording(self):
        """30 s pod start, 60 s network sleep (work: the seed's log shows it), 5 s collection
        sleep, the recorder (3.5 s) and the upload (9 s) around the benchmark's fitted time."""
        (s,) = osu.Osu().steps(osu.OsuParams(benchmarks=["osu_latency"]), facts())
        fitted = osu.benchmark_seconds("osu_latency", 2)
        assert s.estimated_seconds == pytest.approx(30 + 60 + 5 + 3.5 + 9 + fitted, abs=0.1)
        assert s.work_seconds == pytest.approx(60 + fitted, abs=0.1)
        assert s.overhead_seconds == pytest.approx(30 + 5 + 3.5 + 9, abs=0.1)
        assert s.deadline_seconds == pytest.approx(s.estimated_seconds + 120, abs=0.1)

    def test_long_step_deadline_is_the_margin(self):
        params = osu.OsuParams(benchmarks=["osu_allgather"], node_counts=[64])
        (s,) = osu.Osu().steps(params, facts())
        assert s.deadline_seconds == pytest.approx(1.25 * s.estimated_seconds, abs=0.1)

    def test_one_metricset_runs_the_whole_list(self):
        """The seed's size-4.log: one MetricSet, 22 benchmarks; one step, summed estimates."""
        benches = list(osu.KNOWN)
        (s,) = osu.Osu().steps(osu.OsuParams(benchmarks=benches, node_counts=[4]), facts())
        assert s.params["benchmarks"] == benches
        assert s.work_seconds == pytest.approx(
            60 + sum(osu.benchmark_seconds(b, 4) for b in benches), abs=0.1)


def test_topology_margin_covers_the_seed_spread():
    """One MiniCluster's observed start plus events against the fit, for the seed MiniClusters
    in the fixtures; the fit script records the worst over all of them (1.57)."""
    from experiments import duration_model

    names = {"create-archive": "create-archive", "distribute-all-nodes": "distribute-all-nodes",
             "delete-archive-all-nodes": "delete-archive", "clean-all-nodes": "clean-all-nodes"}
    machines = {"parsed-exact-6-aws": "c5a.4xlarge", "parsed-exact-256-aws": "c5a.4xlarge"}
    ratios = []
    for d, machine in machines.items():
        path = SEED / "topology/data" / d / "topologies-events.csv"
        clusters: dict[tuple[str, ...], list[tuple[str, int, int, float]]] = defaultdict(list)
        for r in csv.DictReader(path.open()):
            clusters[(r["topology"], r["nodes"], r["iteration"])].append(
                (names[r["event"]], int(r["nodes"]), int(r["size_gb"]), float(r["time_seconds"])))
        start = duration_model.minicluster_start()
        for events in clusters.values():
            observed = start + sum(t for *_, t in events)
            fitted = start + sum(duration_model.topology_event_seconds(machine, e, gb, n)
                                 for e, n, gb, _ in events)
            ratios.append(observed / fitted)
    assert len(ratios) == 3
    worst = duration_model.model()["topology_max_observed_over_fitted"]
    assert max(ratios) <= worst < topology.DEADLINE_MARGIN


@pytest.mark.parametrize(("prepull", "pull"), [(True, 0.0), (False, 14.0)])
def test_apps_estimate_counts_only_first_pulls_not_prepulled(prepull, pull):
    """30 s start (the flux view is pre-pulled), the app image's first pull unless pre-pulled."""
    kind = apps.Apps()
    params = kind.Params(apps=["minife"], node_counts=[4], prepull_app_images=prepull)
    (s,) = kind.steps(params, facts(vcpus_per_node=8))
    assert s.estimated_seconds == pytest.approx(30 + pull + 9.0, abs=0.1)


class TestOverCapIsAPlanError:
    """The shipped OSU matrix under the old 2 h cap: the four steps the seed says need more."""

    def report(self, mutate):
        from infra.spec import load_spec
        from infra.validate import validate_stack

        sec = sections("gke-64-osu")
        mutate(sec)
        return validate_stack(load_spec(to_config(sec)), "gke-64-osu", now=NOW)

    def test_time_limit_below_an_estimate_names_each_step(self):
        def cap(sec):
            sec["experiment"]["params"]["time_limit_seconds"] = 7200

        errors = [p for p in self.report(cap).errors
                  if p.key == "study:experiment.params.time_limit_seconds"]
        named = [p.message.split("'")[1] for p in errors]
        # One MetricSet per node count: the 32- and 64-node lists each sum to more than 2 h.
        assert named == ["osu-n32-r1", "osu-n64-r1"]
        assert not any(p.invalid_input for p in errors)  # a failed check: exit 3
        assert errors[0].message.startswith(
            "7200 is less than the estimate of step 'osu-n32-r1' (")

    def test_short_budget_names_the_longest_steps(self):
        def short(sec):
            sec["budget"]["max_hours"] = 20

        errors = [p for p in self.report(short).errors if p.key == "study:budget.max_hours"]
        assert len(errors) == 2  # the whole run's hours, and the steps cut below their estimates
        cut = errors[1].message
        assert "longest 'osu-n64-r1' (" in cut
        assert not errors[1].invalid_input

    def test_shipped_stack_has_no_step_over_its_cap(self):
        report = self.report(lambda sec: None)
        keys = {p.key for p in report.errors}
        assert "study:experiment.params.time_limit_seconds" not in keys
        assert "study:budget.max_hours" not in keys
        assert all(s.deadline_seconds >= s.estimated_seconds for s in report.estimate.steps)


def test_over_cap_plan_exits_3(cli, project, tmp_path):
    sec = sections("gke-64-osu")
    sec["experiment"]["params"]["time_limit_seconds"] = 7200
    code, out, _ = cli("plan", project("osu-capped", sec), "--json", "--manifests",
                       str(tmp_path / "m"))
    assert code == 3
    import json

    lines = [v for v in json.loads(out)["violations"]
             if v.startswith("study:experiment.params.time_limit_seconds")]
    assert len(lines) == 2
