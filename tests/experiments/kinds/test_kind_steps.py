"""Each kind's step matrix, names and duration model, without the engine."""

from __future__ import annotations

import pytest

from experiments.base import ClusterFacts, check_step_names
from experiments.registry import get_kind, known_kinds


def facts(**kw) -> ClusterFacts:
    base = dict(cloud="gke", node_count=64, machine_type="n1-standard-16", vcpus_per_node=8,
                image_registry="ghcr.io")
    return ClusterFacts(**{**base, **kw})


def steps(kind: str, params: dict, **kw):
    k = get_kind(kind)
    out = k.steps(k.Params.model_validate(params), facts(**kw))
    check_step_names(out)
    return out


def test_all_kinds_registered():
    assert known_kinds() == ["apps", "osu", "pulling", "smoke", "topology"]


class TestPulling:
    """One step per image and iteration, chonk tags generated, mirror only for Artifact Registry."""

    SIZES = [1176249324, 19034736629]

    def test_chonk_matrix(self):
        s = steps("pulling", {"layers": [9], "sizes": self.SIZES, "iterations": 2})
        assert [x.name for x in s] == [
            "pull-l9-s1176249324-r1", "pull-l9-s19034736629-r1",
            "pull-l9-s1176249324-r2", "pull-l9-s19034736629-r2",
        ]
        assert s[0].params["image"] == (
            "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes")

    def test_estimate_is_calibrated_to_the_seed(self):
        """durations.yaml, plain disk at 16 nodes (the nearest fit to 64): the slowest pull
        a + b GB and the Job's completion after it are the work; the harness's 16.5 s (the clear in
        the pull pod 4, recorder 3.5, upload 9: durations.yaml `harness.pieces`) the overhead. Seed run1-16: slowest pull 42.3 s at 6.84 GB."""
        from experiments.duration_model import pulling
        from experiments.kinds.pulling import pull_seconds

        fit = pulling("plain", 16)
        s = steps("pulling", {"layers": [9], "sizes": [1176249324, 6836726027]})
        for step, gb in zip(s, (1.176249324, 6.836726027), strict=True):
            pull = max(0.0, fit["pull"][0] + fit["pull"][1] * gb)
            done = max(0.0, fit["completion"][0] + fit["completion"][1] * gb)
            assert step.work_seconds == pytest.approx(pull + done, abs=0.1)
            assert step.overhead_seconds == pytest.approx(16.5, abs=0.1)
            assert step.estimated_seconds == pytest.approx(pull + done + 16.5, abs=0.1)
        pulled = pull_seconds(s[1].params["image"], facts(), 0)
        assert abs(pulled / 42.329 - 1) < 0.2  # a line through 1-19 GB
        assert all(x.deadline_seconds >= x.estimated_seconds + 300 for x in s)

    def test_streaming_is_faster(self):
        """The seed's run4: streaming's `Pulled` comes 80+ s sooner on the 19 GB image, and the
        cost moves to the Job's completion (containers start reading lazily)."""
        from experiments.kinds.pulling import completion_seconds, pull_seconds

        ref = steps("pulling", {"layers": [9], "sizes": [19034736629]})[0].params["image"]
        ar = "us-central1-docker.pkg.dev/p/chonks"
        stream = facts(image_streaming=True, image_registry=ar)
        assert pull_seconds(ref, stream, 0) < pull_seconds(ref, facts(), 0) - 80
        assert completion_seconds(ref, stream, 0) > completion_seconds(ref, facts(), 0) + 60

    def test_artifact_registry_mirrors_first(self):
        ar = "us-central1-docker.pkg.dev/p/chonks"
        s = steps("pulling", {"layers": [9], "sizes": self.SIZES}, image_registry=ar)
        assert s[0].name == "mirror-images"
        assert s[0].params["copies"][0] == (
            "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes",
            f"{ar}/container-chonks-run1:9-layers-size-1176249324-bytes",
        )
        assert s[1].params["image"].startswith(ar + "/")

    def test_prime_for_streaming(self):
        ar = "us-central1-docker.pkg.dev/p/chonks"
        s = steps("pulling", {"layers": [9], "sizes": self.SIZES, "prime": True},
                  image_registry=ar, image_streaming=True)
        assert [x.name for x in s[:2]] == ["mirror-images", "prime-images"]
        assert s[1].params["images"] == [x.params["image"] for x in s[2:]]

    def test_explicit_images(self):
        s = steps("pulling", {"images": ["docker.io/library/ubuntu:24.04", "busybox:1.36.1"]})
        assert len(s) == 2 and s[0].name.startswith("pull-ubuntu-") and s[1].name != s[0].name

    def test_pull_count_does_not_depend_on_node_count(self):
        a = steps("pulling", {"layers": [9], "sizes": self.SIZES}, node_count=4)
        b = steps("pulling", {"layers": [9], "sizes": self.SIZES}, node_count=1024)
        assert [x.name for x in a] == [x.name for x in b]


class TestOsu:
    """Pairs on exactly 2 pods once; collectives on every node count; seed-calibrated."""

    def test_matrix(self):
        """One MetricSet per node count, running the whole list (pairs on 2 of its pods)."""
        s = steps("osu", {"benchmarks": ["osu_latency", "osu_allgather"],
                          "node_counts": [4, 64]})
        assert [(x.name, x.params["benchmarks"], x.params["pods"]) for x in s] == [
            ("osu-n4-r1", ["osu_latency", "osu_allgather"], 4),
            ("osu-n64-r1", ["osu_latency", "osu_allgather"], 64)]

    def test_per_node_count_lists(self):
        """The seed ran osu_allreduce only at 4 and 8 nodes."""
        s = steps("osu", {"runs": [{"nodes": 4, "benchmarks": ["osu_barrier", "osu_allreduce"]},
                                   {"nodes": 16, "benchmarks": ["osu_barrier"]}]})
        assert [(x.params["pods"], x.params["benchmarks"]) for x in s] == [
            (4, ["osu_barrier", "osu_allreduce"]), (16, ["osu_barrier"])]

    def test_runs_or_benchmarks_not_both(self):
        k = get_kind("osu")
        with pytest.raises(ValueError, match="give runs, or benchmarks with node_counts"):
            k.Params.model_validate({"benchmarks": ["osu_bw"],
                                     "runs": [{"nodes": 4, "benchmarks": ["osu_bw"]}]})

    def test_seed_times(self):
        """Fitted power law at 64 nodes (seed 15704 s) plus 30 s start, 65 s of sleeps and the
        harness's 12.5 s (recorder 3.5, upload 9)."""
        s = steps("osu", {"benchmarks": ["osu_allgather"], "node_counts": [64]})
        from experiments.kinds.osu import benchmark_seconds

        fitted = benchmark_seconds("osu_allgather", 64)
        assert 0.9 < 15704.303 / fitted < 1.1
        assert s[0].estimated_seconds == pytest.approx(fitted + 95 + 12.5, abs=0.1)

    def test_extrapolates_monotonically(self):
        s = steps("osu", {"benchmarks": ["osu_allreduce"], "node_counts": [4, 8, 16, 32]},
                  node_count=32)
        t = [x.estimated_seconds for x in s]
        from experiments.kinds.osu import benchmark_seconds

        assert t == sorted(t)
        assert t[0] == pytest.approx(benchmark_seconds("osu_allreduce", 4) + 95 + 12.5, abs=0.1)
        assert 0.8 < 109.151 / benchmark_seconds("osu_allreduce", 4) < 1.25

    def test_time_limit_caps_deadline_not_estimate(self):
        """The estimate stays honest (it feeds the cost); the plan reports it as over its cap."""
        s = steps("osu", {"benchmarks": ["osu_allgather"], "node_counts": [64],
                          "time_limit_seconds": 3600})
        full = steps("osu", {"benchmarks": ["osu_allgather"], "node_counts": [64]})
        assert s[0].deadline_seconds == 3600
        assert s[0].estimated_seconds == full[0].estimated_seconds > 3600

    def test_more_nodes_than_the_cluster(self):
        k = get_kind("osu")
        with pytest.raises(ValueError, match=r"node_counts: \[128\] is not allowed"):
            k.steps(k.Params.model_validate({"benchmarks": ["osu_barrier"],
                                             "node_counts": [128]}), facts())


class TestTopology:
    def test_matrix(self):
        """One MiniCluster per design x iteration, every size inside it (as the seed ran)."""
        s = steps("topology", {"max_k": 3, "sizes_gb": [1, 2], "iterations": 5}, node_count=6)
        assert len(s) == 4 * 5
        assert s[0].name == "topo-binomial-n6-r1" and s[-1].name == "topo-kary3-n6-r5"
        assert s[0].params["sizes_bytes"] == [1_000_000_000, 2_000_000_000]

    def test_random_payload_costs_more(self):
        z = steps("topology", {"designs": ["kary:2"], "payload": "zeros"}, node_count=6)[0]
        r = steps("topology", {"designs": ["kary:2"], "payload": "random"}, node_count=6)[0]
        assert r.estimated_seconds > z.estimated_seconds

    def test_fractional_size_file(self):
        from experiments.kinds.topology import payload_file

        s = steps("topology", {"designs": ["binomial"], "sizes_gb": [0.5]}, node_count=4)
        assert s[0].name == "topo-binomial-n4-r1"
        assert payload_file(0.5, "random") == "payload-0p5g.bin"
        assert payload_file(2.0, "image") == "2gb.txt"  # the seed image's /chonks/2gb.txt

    def test_runs_of_smaller_miniclusters(self):
        """The seed's raw-max-6: MiniClusters of 4, 5 and 6 brokers on a 6-node cluster."""
        s = steps("topology", {"runs": [{"nodes": 4, "designs": ["kary:1"]},
                                        {"nodes": 6, "designs": ["kary:1", "kary:2"]}]},
                  node_count=6)
        assert [(x.name, x.params["nodes"]) for x in s] == [
            ("topo-kary1-n4-r1", 4), ("topo-kary1-n6-r1", 6), ("topo-kary2-n6-r1", 6)]
        k = get_kind("topology")
        with pytest.raises(ValueError, match=r"node_counts: \[8\] is not allowed"):
            k.steps(k.Params.model_validate({"runs": [{"nodes": 8, "designs": ["kary:1"]}]}),
                    facts(node_count=6))

    def test_events_are_data(self):
        """The seed's EKS events; the work is the fit of each, per size, for the machine."""
        from experiments.duration_model import minicluster_start, topology_event_seconds

        events = ["create-archive", "distribute-all-nodes", "delete-archive", "clean-all-nodes"]
        (s,) = steps("topology", {"designs": ["kary:1"], "sizes_gb": [1, 2], "events": events,
                                  "payload": "image", "baseline": False, "settle_seconds": 2.0},
                     node_count=6, machine_type="c5a.4xlarge", cloud="eks")
        work = sum(topology_event_seconds("c5a.4xlarge", e, gb, 6) for e in events for gb in (1, 2))
        assert s.work_seconds == pytest.approx(work, abs=0.1)
        # start, recorder 3.5 s, upload 9 s, and the 2 s settles after 3 events per size
        assert s.overhead_seconds == pytest.approx(minicluster_start() + 12.5 + 2 * 3 * 2,
                                                   abs=0.1)

    def test_machine_type_changes_archive_creation(self):
        """The seed: 9.1 s/GB on c5a.4xlarge, 3.9 s/GB on c2d-standard-32."""
        from experiments.duration_model import topology_event_seconds

        eks = topology_event_seconds("c5a.4xlarge", "create-archive", 10, 6)
        gke = topology_event_seconds("c2d-standard-32", "create-archive", 10, 6)
        assert 85 < eks < 100 and 35 < gke < 45

    def test_node_count_changes_distribution(self):
        """The seed's 256-node distributions take 5-7x the 30-node ones per GB."""
        from experiments.duration_model import topology_event_seconds

        at30 = topology_event_seconds("c5a.4xlarge", "distribute-all-nodes", 10, 30)
        at256 = topology_event_seconds("c5a.4xlarge", "distribute-all-nodes", 10, 256)
        at100 = topology_event_seconds("c5a.4xlarge", "distribute-all-nodes", 10, 100)
        assert 4 < at256 / at30 < 8 and at30 < at100 < at256

    def test_event_order_needs_an_archive(self):
        k = get_kind("topology")
        with pytest.raises(ValueError, match="'distribute-all-nodes' .event 1. has no archive"):
            k.Params.model_validate({"events": ["distribute-all-nodes"]})
        with pytest.raises(ValueError, match="'scatter' is not an event"):
            k.Params.model_validate({"events": ["create-archive", "scatter"]})
        with pytest.raises(ValueError, match="baseline: true is not allowed with payload: image"):
            k.Params.model_validate({"payload": "image"})


class TestApps:
    def test_matrix_and_tasks(self):
        s = steps("apps", {"apps": ["amg2023", "lammps"], "node_counts": [1, 4]})
        assert [x.name for x in s] == ["app-amg2023-n1-r1", "app-lammps-n1-r1",
                                       "app-amg2023-n4-r1", "app-lammps-n4-r1"]
        assert s[2].params["tasks"] == 32  # the seed: 32 tasks on 4 nodes (8 cores each)

    def test_strong_scaling_estimate(self):
        s = steps("apps", {"apps": ["amg2023"], "node_counts": [1, 4, 64]})
        assert s[0].estimated_seconds > s[1].estimated_seconds > s[2].estimated_seconds

    def test_mirror_for_artifact_registry(self):
        ar = "us-central1-docker.pkg.dev/p/apps"
        s = steps("apps", {"apps": ["minife"], "node_counts": [2]}, image_registry=ar)
        assert s[0].name == "mirror-images" and s[1].params["image"] == (
            f"{ar}/ensemble-minife:spack-skylake")

    def test_process_grid_matches_the_seed(self):
        from experiments.kinds.apps import process_grid

        assert [process_grid(t) for t in (32, 64, 128, 256, 512, 1024, 2048)] == [
            (4, 2, 4), (4, 4, 4), (4, 8, 4), (8, 4, 8), (8, 8, 8), (8, 16, 8), (16, 8, 16)]


def test_step_names_must_be_unique():
    from experiments.base import Step

    with pytest.raises(ValueError, match="not unique"):
        check_step_names([Step("a", 1, 1), Step("a", 1, 1)])
    with pytest.raises(ValueError, match="DNS-1123"):
        check_step_names([Step("A_b", 1, 1)])
