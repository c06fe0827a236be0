"""The real cache-clear script, run under sh with stand-ins for crictl and ctr on PATH.

What the script must get right comes from containerd v2.1.4 (internal/cri/server/images/
image_remove.go: removal drops references, snapshots stay while a container uses them;
core/unpack/unpacker.go: a layer whose chain-ID snapshot exists is not fetched again) and from
the CLIs' exit codes (kubernetes-sigs/cri-tools v1.35.0 cmd/crictl/image.go: `rmi` and
`inspecti` exit 1 for a missing image and for any other error; containerd cmd/ctr: `images ls -q`
prints nothing for a missing image, `images rm` only warns). EKS AL2023 nodes have no crictl
(awslabs/amazon-eks-ami#2163). The stand-ins in stubs/cri_stub.py reproduce those outputs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.reference import normalize
from experiments.kinds.pulling import CLEAR_OK, clear_script

STUB = Path(__file__).resolve().parent / "stubs" / "cri_stub.py"
IMAGE = normalize("ghcr.io/converged-computing/container-chonks-run1:9-layers-size-1176249324-bytes")
CHAINS = [f"sha256:{c * 64}" for c in "abc"]  # top first, as `ctr images usage` lists them
OTHER = "sha256:" + "d" * 64  # another image's snapshot: must survive
DEBIAN = "docker.io/library/debian:12.7-slim"
# The two other names a CRI pull gives the same image (containerd internal/cri/server/images/
# image_pull.go: imageID, repoTag, repoDigest all point at the image's target).
TARGET = "sha256:" + "e" * 64
BY_DIGEST = IMAGE.split(":9-layers")[0] + "@" + TARGET
IMAGE_ID = "sha256:" + "f" * 64
NAMES = (IMAGE, BY_DIGEST, IMAGE_ID)


def state(images=None, containers=None, snapshots=None, faults=(), **extra):
    return {**extra,
        "images": ({**{n: CHAINS for n in NAMES}, DEBIAN: [OTHER]} if images is None
                   else images),
        "targets": {n: TARGET for n in NAMES},
        "chains": {IMAGE: CHAINS},
        "containers": [{"id": "c1", "image": IMAGE}] if containers is None else containers,
        "snapshots": CHAINS + [OTHER] if snapshots is None else snapshots,
        "faults": list(faults),
    }


def run(tmp_path: Path, st: dict, tools=("crictl", "ctr"), images=(IMAGE,), shell="sh"):
    """Run the script as the clear pod does (`sh -c SCRIPT`), with only `tools` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in tools:
        exe = bin_dir / tool
        exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(STUB.parent)!r})\n"
                       f"import cri_stub\ncri_stub.main({tool!r})\n")
        exe.chmod(0o755)
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps(st))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STUB_STATE": str(state_file),
           "NODE_NAME": "node-a"}
    proc = subprocess.run([shell, "-c", clear_script(list(images))], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    calls = state_file.with_suffix(".calls")
    return (proc, json.loads(state_file.read_text()),
            calls.read_text().splitlines() if calls.exists() else [])


@pytest.mark.parametrize("shell", ["sh", "bash"])  # COS and AL2023 hosts: sh is bash; dash here
def test_crictl_removes_exited_containers_then_image_and_proves_snapshots_gone(tmp_path, shell):
    proc, st, calls = run(tmp_path, state(), shell=shell)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == (f"{CLEAR_OK} node=node-a images_removed=1 client=crictl "
                                   f"snapshots_removed=3")
    assert not set(NAMES) & set(st["images"])
    assert st["containers"] == [] and st["snapshots"] == [OTHER]
    assert calls.index("crictl rm c1") < calls.index(f"crictl rmi {IMAGE}")


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_ctr_only_node_clears_with_ctr(tmp_path, shell):
    """AL2023: no crictl; the same proof with ctr in the k8s.io namespace."""
    proc, st, calls = run(tmp_path, state(), tools=("ctr",), shell=shell)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("client=ctr snapshots_removed=3")
    assert IMAGE not in st["images"] and st["containers"] == [] and st["snapshots"] == [OTHER]
    # ctr removes one name at a time: all three names of the CRI pull must go, or the others
    # keep the layers (and a restarted clear would find no `name:tag` left to check).
    assert not set(NAMES) & set(st["images"])
    assert {f"ctr -n k8s.io images rm --sync {n}" for n in NAMES} <= set(calls)
    assert "ctr -n k8s.io containers rm c1" in calls


def test_no_client_fails_closed(tmp_path):
    """The old script turned `crictl: not found` into "absent"; now it is a failure."""
    proc, _, _ = run(tmp_path, state(), tools=())
    assert proc.returncode == 1
    assert proc.stdout.strip() == ("cache-clear: FAIL node=node-a: no ctr on the node: cannot "
                                   "prove the images are gone")
    from experiments.kinds.pulling import CLEAR_FAIL

    assert proc.stdout.startswith(CLEAR_FAIL)  # the line the recorder stops the run on


def test_crictl_without_ctr_fails_closed(tmp_path):
    proc, st, _ = run(tmp_path, state(), tools=("crictl",))
    assert proc.returncode == 1
    assert "no ctr on the node" in proc.stdout
    assert IMAGE in st["images"]  # nothing was removed on a node where nothing can be proven


def test_rmi_failing_fails(tmp_path):
    proc, _, _ = run(tmp_path, state(faults=["rmi_fails"]))
    assert proc.returncode == 1
    assert proc.stdout.strip().endswith(f": crictl rmi {IMAGE} failed")


@pytest.mark.parametrize("tools", [("crictl", "ctr"), ("ctr",)])
def test_image_still_present_fails(tmp_path, tools):
    proc, _, _ = run(tmp_path, state(faults=["rmi_noop"]), tools=tools)
    assert proc.returncode == 1
    assert proc.stdout.strip().endswith(
        f": image {IMAGE} still present after {tools[0]} removed it")


def test_snapshot_still_present_fails(tmp_path):
    """The image reference is gone but its layers are still cached: a re-pull would be warm."""
    proc, st, _ = run(tmp_path, state(faults=["pin"]))
    assert proc.returncode == 1
    assert IMAGE not in st["images"]
    assert proc.stdout.strip().endswith(f": layer snapshot {CHAINS[0]} still present in overlayfs")


@pytest.mark.parametrize("tools", [("crictl", "ctr"), ("ctr",)])
def test_running_container_of_the_image_fails(tmp_path, tools):
    running = [{"id": "c1", "image": IMAGE, "running": True}]
    proc, _, _ = run(tmp_path, state(containers=running), tools=tools)
    assert proc.returncode == 1
    rm = "crictl rm" if tools[0] == "crictl" else "ctr containers rm"
    assert proc.stdout.strip().endswith(f": {rm} c1 failed")


def test_absent_image_is_already_cold(tmp_path):
    """The first repeat: the node never pulled the image."""
    proc, _, _ = run(tmp_path, state(images={}, containers=[], snapshots=[OTHER]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("client=crictl snapshots_removed=0")


@pytest.mark.parametrize("hostile", ["x'; touch PWNED; echo '", "$(touch PWNED)", "`touch PWNED`"])
def test_quoting_holds_for_hostile_values(tmp_path, hostile):
    """Spec validation refuses these; the script must still treat them as one literal word."""
    proc, st, _ = run(tmp_path, state(), images=(hostile, IMAGE))
    assert not (tmp_path / "PWNED").exists()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The hostile words are names no image has; the real image is still cleared.
    assert proc.stdout.strip() == (f"{CLEAR_OK} node=node-a images_removed=1 client=crictl "
                                   f"snapshots_removed=3")
    assert IMAGE not in st["images"]


def test_streaming_node_checks_the_snapshotter_the_image_is_in(tmp_path):
    """GKE image streaming adds the gcfs snapshotter; the proof follows the image there."""
    st = state(snapshotters={"overlayfs": "ok", "gcfs": "ok"}, unpacked_in="gcfs",
               faults=["pin"])
    proc, _, calls = run(tmp_path, st)
    assert proc.returncode == 1
    assert proc.stdout.strip().endswith(f": layer snapshot {CHAINS[0]} still present in gcfs")
    assert "ctr -n k8s.io snapshots --snapshotter gcfs ls" in calls


def test_image_in_no_snapshotter_fails_closed(tmp_path):
    """Listed but unpacked nowhere ctr can see: its snapshots cannot be listed, so no proof."""
    st = state(snapshotters={"overlayfs": "ok", "gcfs": "error"}, unpacked_in="gcfs")
    proc, _, _ = run(tmp_path, st)
    assert proc.returncode == 1
    assert proc.stdout.strip().endswith(
        f": ctr images usage found {IMAGE} in no snapshotter: cannot list its layer snapshots")


def test_a_name_left_behind_fails(tmp_path):
    """Another name of the same image (a tag pushed twice, say) that ctr did not remove keeps
    the layers: the proof names it."""
    st = state()
    st["images"]["ghcr.io/x/y:other"] = CHAINS
    st["targets"]["ghcr.io/x/y:other"] = TARGET
    st["faults"] = ["rm_skips:ghcr.io/x/y:other"]
    proc, _, _ = run(tmp_path, st, tools=("ctr",))
    assert proc.returncode == 1
    assert proc.stdout.strip().endswith(
        ": image still present as ghcr.io/x/y:other after ctr removed it")


SECOND = normalize("ghcr.io/converged-computing/container-chonks-run1:9-layers-size-2770722493-bytes")
SECOND_CHAINS = [f"sha256:{c * 64}" for c in "12"] + [CHAINS[-1]]  # same base layer, bottom


def shared_base_state(**extra):
    """Two studied chonks built on one base image (container-crafter builds them FROM busybox;
    the seed's run1 container-layers.csv lists one shared bottom layer for all of them)."""
    st = state(**extra)
    st["images"][SECOND] = SECOND_CHAINS
    st["chains"][SECOND] = SECOND_CHAINS
    st["snapshots"] = sorted(set(st["snapshots"]) | set(SECOND_CHAINS))
    return st


@pytest.mark.parametrize("tools", [("crictl", "ctr"), ("ctr",)])
def test_every_studied_image_is_cleared_so_a_shared_base_layer_goes_too(tmp_path, tools):
    """Clearing only the step's image leaves the earlier step's image, which holds the shared
    base layer: the next pull would find it (unpacker.go skips it), and the proof fails."""
    proc, st, _ = run(tmp_path, shared_base_state(), tools=tools, images=(IMAGE, SECOND))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == (f"{CLEAR_OK} node=node-a images_removed=2 client={tools[0]} "
                                   f"snapshots_removed=5")
    assert st["snapshots"] == [OTHER]


def test_clearing_one_image_of_two_sharing_a_base_fails_and_names_the_holder(tmp_path):
    """What the previous clear did: the base layer stays, held by the other image."""
    proc, st, _ = run(tmp_path, shared_base_state(), images=(IMAGE,))
    assert proc.returncode == 1
    assert proc.stdout.strip().endswith(
        f": layer snapshot {CHAINS[-1]} still present in overlayfs (held by {SECOND})")


@pytest.mark.parametrize("tools", [("crictl", "ctr"), ("ctr",)])
def test_a_listing_that_fails_during_the_proof_fails_the_clear(tmp_path, tools):
    """The last `ctr images ls` (the proof) fails: that is no proof, never an OK."""
    last = 2 if tools == ("crictl", "ctr") else 3  # ctr lists again before removing names
    proc, _, _ = run(tmp_path, state(faults=[f"ls_fails_from:{last}"]), tools=tools)
    assert proc.returncode == 1
    assert proc.stdout.strip() == "cache-clear: FAIL node=node-a: ctr images ls failed"


@pytest.mark.parametrize("tools", [("crictl", "ctr"), ("ctr",)])
def test_an_image_known_only_by_its_digest_name_is_still_cleared(tmp_path, tools):
    """An interrupted earlier clear removed `name:tag` but not `name@digest` and the config ID:
    the layers are still there, and a pull by tag would find them. The repository's digest
    names are looked for too."""
    st = state()
    del st["images"][IMAGE]
    proc, st, _ = run(tmp_path, st, tools=tools)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == (f"{CLEAR_OK} node=node-a images_removed=1 client={tools[0]} "
                                   f"snapshots_removed=3")
    assert not set(NAMES) & set(st["images"]) and st["snapshots"] == [OTHER]


class TestTheKubeletsGarbageCollectorRacesTheClear:
    """The kubelet deletes a pod object once none of its containers runs and its volumes are
    gone, and removes the exited containers later, by its container GC (kubernetes/kubernetes
    pkg/kubelet/kubelet_pods.go `PodResourcesAreReclaimed`, read at df5f024); its image GC
    removes unused images on its own clock. `crictl rm` then fails on its ContainerStatus call
    (kubernetes-sigs/cri-tools cmd/crictl/container.go `removeContainerCommand`, read at
    v1.36.0-196-gba03eab), `crictl rmi` on `no such image`. What the GC removed is removed: the
    clear goes on, and the ctr proof still decides."""

    @pytest.mark.parametrize("tools", [("crictl", "ctr"), ("ctr",)])
    def test_a_container_gone_between_listing_and_removal_counts_as_removed(self, tmp_path,
                                                                            tools):
        proc, st, calls = run(tmp_path, state(faults=["gc_removes:c1"]), tools=tools)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == (f"{CLEAR_OK} node=node-a images_removed=1 "
                                       f"client={tools[0]} snapshots_removed=3")
        assert st["containers"] == [] and st["snapshots"] == [OTHER]
        rm = "crictl rm c1" if tools[0] == "crictl" else "ctr -n k8s.io containers rm c1"
        assert rm in calls  # it was listed, and its removal failed: the GC had been there

    @pytest.mark.parametrize("tools", [("crictl", "ctr"), ("ctr",)])
    def test_an_image_gone_between_listing_and_removal_counts_as_removed(self, tmp_path, tools):
        proc, st, _ = run(tmp_path, state(faults=[f"image_gc:{IMAGE}"]), tools=tools)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == (f"{CLEAR_OK} node=node-a images_removed=1 "
                                       f"client={tools[0]} snapshots_removed=3")
        assert not set(NAMES) & set(st["images"]) and st["snapshots"] == [OTHER]

    def test_a_failed_removal_of_a_container_still_there_still_fails(self, tmp_path):
        """Only a vanished container counts as removed: one still there (running) fails."""
        running = [{"id": "c1", "image": IMAGE, "running": True}]
        proc, _, calls = run(tmp_path, state(containers=running))
        assert proc.returncode == 1
        assert proc.stdout.strip().endswith(": crictl rm c1 failed")
        assert "crictl inspect c1" in calls

    def test_a_gc_race_cannot_hide_a_warm_layer(self, tmp_path):
        """The container vanished, but something else pins the layers: the proof still fails."""
        proc, _, _ = run(tmp_path, state(faults=["gc_removes:c1", "pin"]))
        assert proc.returncode == 1
        assert proc.stdout.strip().endswith(
            f": layer snapshot {CHAINS[0]} still present in overlayfs")
