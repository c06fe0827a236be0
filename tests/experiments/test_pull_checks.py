"""Validity checks of the pulling study: a pull too fast to be cold, and a clear on every node.

Thresholds come from the seed (converged-computing/container-chonks fa06749,
experiments/pulling/metadata): cold pulls on GKE runs 1-3 never exceeded 196 MB/s of
uncompressed layers; run4 (image streaming, GKE gcfs snapshotter) "pulled" the 19 GB chonk in
about 0.6 s. A warm re-pull looks like run4: containerd v2.1 core/unpack/unpacker.go skips
every layer whose chain-ID snapshot exists and fetches only manifest and config.
"""

from __future__ import annotations

from pathlib import Path

from experiments import checks

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "experiments"
RUN1 = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes"
RUN4 = ("us-central1-docker.pkg.dev/llnl-flux/converged-computing/container-chonks:"
        "9-layers-size-19034736629-bytes")


def events(name: str) -> list[dict]:
    with open(FIX / name, "rb") as f:
        return checks.read_events(f)


def test_go_durations():
    assert checks.go_seconds("6.959s") == 6.959
    assert checks.go_seconds("627ms") == 0.627
    assert checks.go_seconds("1m2.5s") == 62.5
    assert checks.go_seconds("12µs") == 12e-6
    assert checks.go_seconds("fast") is None


def test_seed_cold_pulls_are_plausible():
    """run1, 4 nodes: 1.18 GB of zero layers (3.4 MB compressed) in 6.8-7.7 s each."""
    res = checks.check_pull_speed(events("run1-4-size-1176249324.jsonl"), {RUN1: 1176249324})
    assert res["valid"] is True
    assert (res["pulls"], res["too_fast"], res["unjudged"]) == (4, 0, 0)


def test_seed_streamed_pulls_are_too_fast_for_a_cold_cache():
    """run4's image-streaming pulls: 19 GB in 523-648 ms is tens of GB/s, far above 2 GB/s."""
    res = checks.check_pull_speed(events("run4-16-size-19034736629-pulled.jsonl"),
                                  {RUN4: 19034736629})
    assert res["valid"] is False
    assert (res["pulls"], res["too_fast"]) == (4, 4)
    assert res["problems"][0].startswith("too fast for a cold pull on gke-")
    assert "(limits 1250 and 2000 MB/s): its layers were cached" in res["problems"][0]
    assert res["problems"][1] == "4 pulls too fast for a cold cache in all"


def test_compressed_rule_applies_without_a_known_uncompressed_size():
    """Without the chonk tag only the network rule applies: 20.7 MB in 0.6 s is plausible."""
    res = checks.check_pull_speed(events("run4-16-size-19034736629-pulled.jsonl"), {RUN4: None})
    assert res["valid"] is True
    ev = dict(events("run4-16-size-19034736629-pulled.jsonl")[0])
    ev["message"] = ev["message"].replace("Image size: 20726499", "Image size: 2072649900")
    res = checks.check_pull_speed([ev], {RUN4: None})
    assert (res["valid"], res["too_fast"]) == (False, 1)


def test_pull_without_image_size_cannot_be_judged():
    ev = next(e for e in events("run1-4-size-1176249324.jsonl")
              if e["reason"] == "Pulled" and "chonks" in e["message"])
    old = dict(ev, message=ev["message"].split(" in ")[0] + " in 6.959s")  # kubelet < 1.30
    res = checks.check_pull_speed([old], {RUN1: 1176249324})
    assert (res["valid"], res["unjudged"]) == (False, 1)


def test_clears_must_cover_every_pulling_pod_and_all_n():
    recs = [{"pod": "p1", "node": "n1", "ok": True}, {"pod": "p2", "node": "n2", "ok": True},
            {"pod": "p3", "node": "n3", "ok": False}]
    res = checks.check_clears(recs, {"p1": "n1", "p2": "n2", "p3": "n3"}, 3)
    assert res["valid"] is False
    assert res["problems"] == [
        "1 pod(s) pulled without their own cache-clear record, e.g. p3 on n3",
        "cache cleared on 2 distinct nodes; expected 3",
        "cache clear failed in 1 pod(s), e.g. p3 on n3: no 'cache-clear: OK' in its log",
    ]
    assert res["failed_clears"] == 0  # no FAIL line: nothing says the node cannot clear
    ok = checks.check_clears([{"pod": f"p{i}", "node": f"n{i}", "ok": True} for i in (1, 2, 3)],
                             {"p1": "n1", "p2": "n2"}, 3)
    assert ok["valid"] is True and ok["cleared_nodes"] == 3


def test_another_pods_clear_on_the_same_node_proves_nothing():
    """A clear proves the cache cold only for the pull in its own pod, which the kubelet starts
    after it (kuberuntime_manager.go SyncPod): p2's pull on n1 is unproven though p1 cleared n1."""
    recs = [{"pod": "p1", "node": "n1", "ok": True}, {"pod": "p3", "node": "n2", "ok": True}]
    res = checks.check_clears(recs, {"p1": "n1", "p2": "n1", "p3": "n2"}, 2)
    assert res["valid"] is False
    assert res["problems"] == [
        "1 pod(s) pulled without their own cache-clear record, e.g. p2 on n1"]


def test_a_failed_clear_is_named_with_its_fail_line():
    recs = [{"pod": "p1", "node": "n1", "ok": True},
            {"pod": "p2", "node": "n2", "ok": False, "failed": True,
             "fail": "cache-clear: FAIL node=n2: ctr images ls failed"}]
    res = checks.check_clears(recs, {"p1": "n1", "p2": "n2"}, 2)
    assert res["failed_clears"] == 1
    assert res["problems"][-1] == (
        "cache clear failed in 1 pod(s), e.g. p2 on n2: cache-clear: FAIL node=n2: ctr images "
        "ls failed")


def test_a_retried_clear_proves_nothing():
    """containerd CRI gives one pull three names (internal/cri/server/images/image_pull.go); a
    failed first attempt may leave the layers while removing the name the retry looks for, and
    a restarted init container's log shows only its last attempt. Only a first attempt counts."""
    recs = [{"pod": "p1", "node": "n1", "ok": True, "restarts": 0},
            {"pod": "p2", "node": "n2", "ok": True, "restarts": 1}]
    res = checks.check_clears(recs, {"p1": "n1", "p2": "n2"}, 2)
    assert res["valid"] is False
    assert res["problems"] == [
        "cache clear retried after a failure in 1 pod(s), e.g. p2 on n2: a retry cannot prove "
        "the cache cold",
        "1 pod(s) pulled without their own cache-clear record, e.g. p2 on n2",
        "cache cleared on 1 distinct nodes; expected 2",
    ]


def test_a_locked_studied_image_is_cleared_and_checked_by_the_reference_the_pod_runs(
        monkeypatch):
    """Once `study images lock` has a digest for a studied image, every object runs it as
    `name:tag@digest` (core.k8s.create). containerd stores such a pull under
    `name@digest` only (ParseDockerRef drops the tag), and the kubelet's events name the image as
    the pod spec does: the clear and the expectations must use that same reference."""
    import json

    from core import image_lock
    from study.plan import make_plan

    source = "ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes"
    digest = "sha256:" + "a" * 64
    lock = image_lock.ImageLock({source: image_lock.LockEntry(digest, "2026-12-01T00:00:00Z",
                                                              ("gke-4-nightly",))})
    monkeypatch.setattr(image_lock, "committed", lambda: lock)
    plan = make_plan("gke-4-nightly")
    pinned = f"{source}@{digest}"
    pulls = [o for o in plan.manifests if o["kind"] == "Job"
             and o["metadata"]["name"].startswith("pull-")]
    assert {o["spec"]["template"]["spec"]["containers"][0]["image"] for o in pulls} == {pinned}
    stored = "ghcr.io/converged-computing/container-chonks-run1@" + digest
    assert pulls
    for job in pulls:
        (clear,) = [c for c in job["spec"]["template"]["spec"]["initContainers"]
                    if c["name"] == "clear"]
        assert clear["command"][-1].startswith(f"IMGS={stored}\n")
    recorders = [o for o in plan.manifests if o["kind"] == "Job"
                 and o["metadata"]["name"].startswith("rec-pull-")]
    for rec in recorders:
        env = {e["name"]: e["value"]
               for e in rec["spec"]["template"]["spec"]["containers"][0]["env"]}
        expect = json.loads(env["EXPECT"])
        assert expect["pull_images"] == [pinned]
        assert expect["pull_speed"] == {pinned: 1176249324}
