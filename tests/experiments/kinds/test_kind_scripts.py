"""The shell the topology and apps kinds generate, run for real with stub node tools.

Every value interpolated into a script is one shell word (`shlex.quote`): a hostile value is data,
never a command. `flux` and `curl` are stubs on PATH that log their arguments (the real ones exist
only inside a MiniCluster); bash, sh, head, awk and base64 are the machine's own.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from experiments.base import ClusterFacts, RenderContext
from experiments.kinds import apps, topology

STUB = """#!/bin/sh
printf '%s\\n' "$*" >> "$STUB_LOG"
if [ "$1 $2" = "overlay status" ]; then echo "0 flux-sample-0: full"; fi
exit 0
"""


def ctx(nodes: int = 6, namespace: str = "study-harness") -> RenderContext:
    facts = ClusterFacts(cloud="gke", node_count=nodes, machine_type="c2d-standard-32",
                         vcpus_per_node=8, image_registry="ghcr.io")
    return RenderContext("s", namespace, facts, {"study-harness.io/stack": "s"})


def run_topology(env: dict[str, str], design: str, params: topology.TopologyParams,
                 namespace: str = "study-harness") -> subprocess.CompletedProcess:
    """The topology script for a 6-node MiniCluster of `design`, run by bash; it must exit 0."""
    script = topology.render_script(design, 6, params, namespace)
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    return run


@pytest.fixture
def stubs(tmp_path):
    """A PATH with logging `flux`, `curl` and `python` in front of the real tools."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("flux", "curl", "python"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    log = tmp_path / "calls.log"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STUB_LOG": str(log)}
    return env, log


@pytest.fixture
def scratch():
    """The step script works in /tmp/study-src and /tmp/study-dst, as on a broker; tidy up."""
    before = {p for p in ("/tmp/study-src", "/tmp/study-dst") if Path(p).exists()}
    yield
    for p in {"/tmp/study-src"} - before:
        if Path(p).exists():
            os.rmdir(p)


def test_topology_script_runs_every_event_on_the_design(stubs, scratch, tmp_path):
    env, log = stubs
    mark = tmp_path / "pwned"
    hostile_ns = f"x';touch {mark};'"  # a namespace is free text to render_script
    params = topology.TopologyParams(sizes_gb=[1e-6, 2e-6], purge_target_bytes=1024)
    run = run_topology(env, "kary:2", params, hostile_ns)
    timings = [json.loads(line.split(" ", 1)[1]) for line in run.stdout.splitlines()
               if line.startswith("STUDY-TIMING ")]
    per_size = [
        "generate-payload", "create-archive", "distribute-all-nodes", "clean-all-nodes",
        "distribute-leaf-nodes", "clean-leaf-nodes", "distribute-middle-nodes",
        "distribute-middle-then-leaf-nodes", "clean-middle-nodes", "delete-archive",
        "direct-download-all-nodes", "clean-direct-download"]
    assert [t["event"] for t in timings] == per_size * 2  # every size in one MiniCluster
    assert [t["size_bytes"] for t in timings] == [1000] * 12 + [2000] * 12
    assert {t["rc"] for t in timings} == {0}
    assert {(t["design"], t["nodes"], t["occurrence"]) for t in timings} == {("kary:2", 6, 1)}
    calls = log.read_text().splitlines()
    extract = "flux archive extract --name study -C /tmp/study-dst"
    assert f"exec -r 3,4,5 -x 0 {extract}" in calls  # the design's leaves
    assert f"exec -r 1,2 {extract}" in calls  # its middle level
    assert "exec -r all flux setattr content.purge-target-size 1024" in calls
    assert "archive create --name study --dir /tmp/study-src payload-1e-06g.bin" in calls
    for size in (1000, 2000):
        url = f"http://study-archive-server.{hostile_ns}.svc:8080/{size}"
        assert f"exec -r all -x 0 curl -sSf -o /tmp/study-dst/payload.bin {url}" in calls
    assert not mark.exists()
    assert not any(Path("/tmp/study-src").glob("payload-*"))


def test_topology_script_runs_the_listed_events_from_the_image(stubs, scratch):
    """The seed's GKE order: the archive created three times per size, from /chonks."""
    env, log = stubs
    events = ["create-archive", "distribute-all-nodes", "clean-all-nodes", "delete-archive",
              "create-archive", "distribute-leaf-nodes", "clean-leaf-nodes", "delete-archive"]
    params = topology.TopologyParams(sizes_gb=[1.0, 2.0], payload="image", baseline=False,
                                     events=events)
    run = run_topology(env, "kary:2", params)
    timings = [json.loads(line.split(" ", 1)[1]) for line in run.stdout.splitlines()
               if line.startswith("STUDY-TIMING ")]
    assert [(t["event"], t["occurrence"]) for t in timings] == [
        ("create-archive", 1), ("distribute-all-nodes", 1), ("clean-all-nodes", 1),
        ("delete-archive", 1), ("create-archive", 2), ("distribute-leaf-nodes", 1),
        ("clean-leaf-nodes", 1), ("delete-archive", 2)] * 2
    calls = log.read_text().splitlines()
    creates = [c for c in calls if c.startswith("archive create")]
    assert creates == ["archive create --name study --dir /chonks 1gb.txt"] * 2 + [
        "archive create --name study --dir /chonks 2gb.txt"] * 2
    assert not any("curl" in c for c in calls)


def test_topology_script_settles_after_each_event_but_create(stubs, scratch, tmp_path):
    """settle_seconds: the seed's EKS script slept 2 s after distribute, delete and clean."""
    env, log = stubs
    sleep_log = tmp_path / "sleeps.log"
    (Path(env["PATH"].split(":")[0]) / "sleep").write_text(
        f"#!/bin/sh\necho \"$1\" >> {shlex.quote(str(sleep_log))}\n")
    (Path(env["PATH"].split(":")[0]) / "sleep").chmod(0o755)
    events = ["create-archive", "distribute-all-nodes", "delete-archive", "clean-all-nodes"]
    params = topology.TopologyParams(sizes_gb=[1.0], payload="image", baseline=False,
                                     events=events, settle_seconds=2.0)
    run_topology(env, "kary:1", params)
    assert sleep_log.read_text().splitlines() == ["2", "2", "2"]


def test_topology_pre_command_writes_the_script(tmp_path, monkeypatch):
    """The MiniCluster's `pre` decodes exactly the rendered script (run with sh, cwd moved)."""
    import core.k8s
    import experiments.component  # noqa: F401  (binds the real `create` before the patch)

    monkeypatch.setattr(core.k8s, "create", lambda obj, opts, name=None: obj)
    kind = topology.Topology()
    params = topology.TopologyParams(designs=["kary:2"], sizes_gb=[1.0])
    step = kind.steps(params, ctx().cluster)[0]
    obj = kind.render(step, params, ctx(), None).resources[0]
    (container,) = obj["spec"]["containers"]
    pre = container["commands"]["pre"].replace("/tmp/study-topology.sh", "study-topology.sh")
    subprocess.run(["sh", "-c", pre], cwd=tmp_path, check=True, timeout=30)
    want = topology.render_script("kary:2", 6, params, "study-harness")
    assert (tmp_path / "study-topology.sh").read_text() == want
    assert obj["spec"]["flux"]["container"]["image"] == topology.FLUX_VIEW


def test_archive_server_boot_writes_each_payload_then_serves(stubs, tmp_path, monkeypatch):
    env, log = stubs
    serve = tmp_path / "srv dir;touch pwned"  # quoting, not luck, keeps this one path
    ready = tmp_path / "ready"
    monkeypatch.setattr(topology, "SERVE_DIR", str(serve))
    monkeypatch.setattr(topology, "READY_FILE", str(ready))
    params = topology.TopologyParams(sizes_gb=[0.000001, 0.000002], payload="zeros")
    pod = topology.server_objects(params, ctx())[0]
    cmd = pod["spec"]["containers"][0]["command"]
    assert cmd[:2] == ["sh", "-c"]
    run = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in serve.iterdir()) == ["1000", "2000"]
    assert (serve / "2000").read_bytes() == b"\0" * 2000
    assert ready.exists() and not (tmp_path / "pwned").exists()
    assert log.read_text().splitlines() == [f"-m http.server --directory {serve} 8080"]
    probe = pod["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    assert probe == ["test", "-f", str(ready)]


def test_apps_command_is_the_flux_submit_words(monkeypatch):
    """The MiniCluster command is split into words by the operator's script: the grid is three."""
    import core.k8s
    import experiments.component  # noqa: F401  (binds the real `create` before the patch)

    monkeypatch.setattr(core.k8s, "create", lambda obj, opts, name=None: obj)
    kind = apps.Apps()
    params = kind.Params(apps=["amg2023"], node_counts=[4])
    step = kind.steps(params, ctx(nodes=4).cluster)[-1]
    obj = kind.render(step, params, ctx(nodes=4), None).resources[0]
    words = shlex.split(obj["spec"]["containers"][0]["command"])
    i = words.index("-P")
    assert words[i:i + 4] == ["-P", "4", "2", "4"]  # 32 tasks, the seed's grid



def test_topology_script_output_is_what_the_parser_reads(stubs, scratch):
    """End to end: the rendered script's own stdout, parsed by the kind's parser, gives one row
    per timed event, on the MiniCluster's node count and design, with the sizes in whole GB."""
    from experiments.kinds.topology.parse import parse_topology_log, topology_rows

    env, _ = stubs
    events = ["create-archive", "distribute-all-nodes", "clean-all-nodes", "delete-archive"]
    params = topology.TopologyParams(sizes_gb=[1.0, 2.0], payload="image", baseline=False,
                                     events=events)
    run = run_topology(env, "kary:2", params)
    parsed = parse_topology_log(run.stdout, "step.log")
    assert parsed.problems == []
    rows = topology_rows(parsed, None, 1, None)
    assert [(r["uid"], r["event"], r["size_gb"]) for r in rows] == [
        ("kary-2-6", e, size) for size in (1, 2) for e in events]
    assert all(isinstance(r["time_seconds"], float) for r in rows)
