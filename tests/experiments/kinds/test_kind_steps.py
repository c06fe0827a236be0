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
        # seed run1: 7.1 s (1.18 GB) and 38.6 s (6.84 GB) median pulls, plus 75 s of overhead
        s = steps("pulling", {"layers": [9], "sizes": [1176249324, 6836726027]})
        assert 75 + 6 < s[0].estimated_seconds < 75 + 9
        assert 75 + 36 < s[1].estimated_seconds < 75 + 43
        assert all(x.deadline_seconds >= x.estimated_seconds + 300 for x in s)

    def test_streaming_is_faster(self):
        cold = steps("pulling", {"layers": [9], "sizes": [19034736629]})[0]
        ar = "us-central1-docker.pkg.dev/p/chonks"
        warm = steps("pulling", {"layers": [9], "sizes": [19034736629]}, image_streaming=True,
                     image_registry=ar)[-1]
        assert warm.estimated_seconds < cold.estimated_seconds - 80

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
        s = steps("osu", {"benchmarks": ["osu_latency", "osu_allgather"],
                          "node_counts": [4, 64]})
        assert [(x.params["benchmark"], x.params["pods"]) for x in s] == [
            ("osu_latency", 2), ("osu_allgather", 4), ("osu_allgather", 64)]

    def test_seed_times(self):
        """Fitted power law at 64 nodes (seed 15704 s) plus 30 s start and 65 s of sleeps."""
        s = steps("osu", {"benchmarks": ["osu_allgather"], "node_counts": [64]})
        assert s[0].estimated_seconds == pytest.approx(16192.4 + 95, abs=0.5)

    def test_extrapolates_monotonically(self):
        s = steps("osu", {"benchmarks": ["osu_allreduce"], "node_counts": [4, 8, 16, 32]},
                  node_count=32)
        t = [x.estimated_seconds for x in s]
        assert t == sorted(t) and t[0] == pytest.approx(109.151 + 95, abs=0.1)

    def test_time_limit_caps_deadline_not_estimate(self):
        """The estimate stays honest (it feeds the cost); the plan reports it as over its cap."""
        s = steps("osu", {"benchmarks": ["osu_allgather"], "node_counts": [64],
                          "time_limit_seconds": 3600})
        assert s[0].deadline_seconds == 3600
        assert s[0].estimated_seconds == pytest.approx(16287.4, abs=0.5)

    def test_more_nodes_than_the_cluster(self):
        k = get_kind("osu")
        with pytest.raises(ValueError, match=r"node_counts: \[128\] is not allowed"):
            k.steps(k.Params.model_validate({"benchmarks": ["osu_barrier"],
                                             "node_counts": [128]}), facts())


class TestTopology:
    def test_matrix(self):
        s = steps("topology", {"max_k": 3, "sizes_gb": [1, 2], "iterations": 5}, node_count=6)
        assert len(s) == 4 * 2 * 5
        assert s[0].name == "topo-binomial-1g-r1" and s[-1].name == "topo-kary3-2g-r5"
        assert s[0].params["size_bytes"] == 1_000_000_000

    def test_random_payload_costs_more(self):
        z = steps("topology", {"designs": ["kary:2"], "payload": "zeros"}, node_count=6)[0]
        r = steps("topology", {"designs": ["kary:2"], "payload": "random"}, node_count=6)[0]
        assert r.estimated_seconds > z.estimated_seconds

    def test_fractional_size_name(self):
        s = steps("topology", {"designs": ["binomial"], "sizes_gb": [0.5]}, node_count=4)
        assert s[0].name == "topo-binomial-0p5g-r1"


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
