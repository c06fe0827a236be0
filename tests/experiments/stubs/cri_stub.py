"""Stand-ins for `crictl` and `ctr` over a JSON state file, with the real CLIs' output and exit codes.

Read from kubernetes-sigs/cri-tools v1.35.0 cmd/crictl/image.go, container.go, util.go and
containerd v2.1.4 cmd/ctr/commands/{images,containers,snapshots}:
- `crictl inspecti X`: JSON and exit 0; a missing image is `no such image "X" present`, exit 1.
- `crictl rmi X`: `Deleted: X`, exit 0; a missing image is `no such image X`, exit 1.
- `crictl ps -a -q --image X`: container IDs whose image resolves to X's; none (exit 0) when X
  is missing. `crictl rm ID` asks ContainerStatus first (container.go `removeContainerCommand`):
  a missing container is `getting container status "ID": ... not found`, a running one `container
  "ID" is running, please stop it first`, both exit 1. `crictl inspect ID`: JSON and exit 0; a
  missing container is `get container status: ... not found`, exit 1.
- `ctr images ls -q name==X`: X or nothing, exit 0. `ctr images ls`: `REF TYPE DIGEST SIZE
  PLATFORMS LABELS`, one row per name. `ctr images rm [--sync] X` removes that one name and
  prints X; a missing image only warns, exit 0.
- A CRI pull stores one image under three names with one target (internal/cri/server/images/
  image_pull.go: the loop over imageID, repoTag, repoDigest): state `targets` maps each name to
  its target digest; `crictl rmi` removes every name of the image (image_remove.go, the loop over
  image.References), `ctr images rm` only the name it is given. `ctr images usage X`: `KEY SIZE INODES` then one chain ID
  per layer snapshot, top first; exit 1 when X is missing.
- `ctr snapshots ls`: `KEY PARENT KIND` then one row per snapshot; a CRI container's rootfs is
  an Active snapshot keyed by the container ID whose parent is the image's top chain ID
  (internal/cri/opts/container.go WithNewSnapshot; CRI sets no image name on the container).
- `ctr containers rm ID` removes the container and its snapshot; it fails while a task runs and
  for a missing container. `ctr containers info ID`: JSON, exit 0; a missing one exits 1.
containerd's garbage collector removes a snapshot once no image and no container holds it; the
`pin` fault keeps them (something else holds them), `rmi_fails` and `rmi_noop` break removal,
`rm_skips:<name>` makes `ctr images rm` leave that one name, `ls_fails_from:<n>` makes the
n-th and later `ctr images ls` fail.
The kubelet's garbage collectors run beside the clear (container GC removes a deleted pod's
exited containers, image GC unused images): `gc_removes:<id>` removes container <id> just
before a `crictl rm`/`ctr containers rm` of it arrives, `image_gc:<name>` every name of that
image just before a `crictl rmi`/`ctr images rm` of it.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

STATE = Path(os.environ["STUB_STATE"])


def say(text: str, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


def load() -> dict:
    return json.loads(STATE.read_text())


def save(st: dict) -> None:
    STATE.write_text(json.dumps(st))


def log(tool: str) -> None:
    with open(STATE.with_suffix(".calls"), "a") as f:
        f.write(" ".join([tool, *sys.argv[1:]]) + "\n")


def target(st: dict, ref: str) -> str:
    """The image's target digest (a name not in `targets` is an image of its own)."""
    return st.get("targets", {}).get(ref) or "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


def gc(st: dict) -> None:
    """Drop snapshots no image or container holds (unless a fault pins them)."""
    if "pin" in st.get("faults", []):
        return
    held = {c for img in st["images"].values() for c in img}
    held |= {c for ct in st["containers"] for c in st["chains"].get(ct["image"], [])}
    st["snapshots"] = [s for s in st["snapshots"] if s in held]


def kubelet_gc(st: dict, kind: str, key: str) -> None:
    """What the kubelet's garbage collector removed just before this call (a fault)."""
    if f"{kind}:{key}" not in st.get("faults", []):
        return
    if kind == "gc_removes":
        st["containers"] = [c for c in st["containers"] if c["id"] != key]
    elif key in st["images"]:
        mine = target(st, key)
        for name in [n for n in st["images"] if target(st, n) == mine]:
            del st["images"][name]
    gc(st)
    save(st)


def fatal(msg: str) -> None:
    say(f'level=fatal msg="{msg}"', err=True)
    sys.exit(1)


def crictl(args: list[str]) -> None:
    st = load()
    cmd, rest = args[0], args[1:]
    if cmd == "inspecti":
        ref = rest[-1]
        if ref not in st["images"]:
            fatal(f'no such image "{ref}" present')
        say(json.dumps({"status": {"id": "sha256:" + "0" * 64, "repoTags": [ref]}}))
    elif cmd == "rmi":
        ref = rest[-1]
        kubelet_gc(st, "image_gc", ref)
        if "rmi_fails" in st.get("faults", []):
            fatal(f"error of removing image \"{ref}\": rpc error: code = Unknown")
        if ref not in st["images"]:
            fatal(f"no such image {ref}")
        if "rmi_noop" not in st.get("faults", []):
            mine = target(st, ref)
            for name in [n for n in st["images"] if target(st, n) == mine]:
                del st["images"][name]
            gc(st)
        save(st)
        say(f"Deleted: {ref}")
    elif cmd == "ps":  # --image resolves to the image, then matches containers by image ID
        ref = rest[rest.index("--image") + 1]
        if ref in st["images"]:
            for c in st["containers"]:
                if target(st, c["image"]) == target(st, ref):
                    say(c["id"])
    elif cmd == "rm":
        for cid in rest:
            kubelet_gc(st, "gc_removes", cid)
            ct = next((c for c in st["containers"] if c["id"] == cid), None)
            if ct is None:
                fatal(f'getting container status "{cid}": rpc error: code = NotFound desc = an '
                      f'error occurred when try to find container "{cid}": not found')
            if ct.get("running"):
                fatal(f'container "{cid}" is running, please stop it first')
            st["containers"].remove(ct)
            say(cid)
        save(st)
    elif cmd == "inspect":
        cid = rest[-1]
        ct = next((c for c in st["containers"] if c["id"] == cid), None)
        if ct is None:
            fatal(f'get container status: rpc error: code = NotFound desc = an error occurred '
                  f'when try to find container "{cid}": not found')
        say(json.dumps({"status": {"id": cid, "state": "CONTAINER_RUNNING" if ct.get("running")
                                   else "CONTAINER_EXITED"}}))
    else:
        fatal(f"stub crictl: unsupported {args}")


def ctr(args: list[str]) -> None:
    st = load()
    if args[:2] == ["plugins", "ls"]:  # global, not namespaced; tabwriter columns
        say("TYPE                            ID        PLATFORMS      STATUS    ")
        for sn, status in st.get("snapshotters", {"overlayfs": "ok", "native": "ok"}).items():
            say(f"io.containerd.snapshotter.v1    {sn:<9} linux/amd64    {status}        ")
        say("io.containerd.grpc.v1           cri       linux/amd64    ok        ")
        return
    if args[:2] == ["-n", "k8s.io"]:
        args = args[2:]
    else:
        fatal("stub ctr: the CRI namespace is k8s.io")
    snapshotter = "overlayfs"
    if "--snapshotter" in args:
        i = args.index("--snapshotter")
        snapshotter = args[i + 1]
        args = args[:i] + args[i + 2:]
    group, rest = args[0], args[1:]
    if group == "images" and rest[0] == "ls" and len(rest) == 1:
        st["listings"] = st.get("listings", 0) + 1
        save(st)
        limits = [int(f.split(":")[1]) for f in st.get("faults", [])
                  if f.startswith("ls_fails_from:")]
        if any(st["listings"] >= n for n in limits):
            say("ctr: failed to list images: rpc error: code = Unavailable", err=True)
            sys.exit(1)
        say("REF TYPE DIGEST SIZE PLATFORMS LABELS ")
        for name in st["images"]:
            say(f"{name} application/vnd.oci.image.index.v1+json {target(st, name)} 1.2 GiB "
                f"linux/amd64 io.cri-containerd.image=managed ")
    elif group == "images" and rest[0] == "ls":
        name = rest[-1].split("==", 1)[1]
        if name in st["images"]:
            say(name)
    elif group == "images" and rest[0] == "usage":
        ref = rest[-1]
        if ref not in st["images"]:
            say(f"ctr: failed to ensure if image {ref} exists: image \"{ref}\": not found",
                  err=True)
            sys.exit(1)
        if snapshotter != st.get("unpacked_in", "overlayfs"):
            say(f"ctr: image {ref} isn't unpacked in snapshotter {snapshotter}", err=True)
            sys.exit(1)
        say("KEY SIZE INODES ")
        for c in st["images"][ref]:
            say(f"{c} 1.2 GiB 3 ")
    elif group == "images" and rest[0] == "rm":
        ref = rest[-1]
        kubelet_gc(st, "image_gc", ref)
        if ref in st["images"]:
            skip = "rmi_noop" in st.get("faults", []) or f"rm_skips:{ref}" in st.get("faults", [])
            if not skip:
                del st["images"][ref]
                gc(st)
            save(st)
            say(ref)
        else:
            say(f'level=warning msg="{ref}: image not found"', err=True)
    elif group == "snapshots" and rest[0] == "ls":
        say("KEY PARENT KIND ")
        if snapshotter == st.get("unpacked_in", "overlayfs"):
            for s in st["snapshots"]:
                say(f"{s}  Committed ")
            for c in st["containers"]:  # a CRI container's rootfs: key = ID, parent = top layer
                chains = st["chains"].get(c["image"], [])
                if chains and chains[0] in st["snapshots"]:
                    say(f"{c['id']} {chains[0]} Active ")
    elif group == "containers" and rest[0] == "rm":
        kubelet_gc(st, "gc_removes", rest[1])
        ct = next((c for c in st["containers"] if c["id"] == rest[1]), None)
        if ct is None:
            say(f'ctr: container "{rest[1]}" in namespace "k8s.io": not found', err=True)
            sys.exit(1)
        if ct.get("running"):
            say(f"ctr: cannot delete a non stopped container: {rest[1]}", err=True)
            sys.exit(1)
        st["containers"].remove(ct)
        save(st)
    elif group == "containers" and rest[0] == "info":
        ct = next((c for c in st["containers"] if c["id"] == rest[1]), None)
        if ct is None:
            say(f'ctr: container "{rest[1]}" in namespace "k8s.io": not found', err=True)
            sys.exit(1)
        say(json.dumps({"ID": ct["id"], "Image": ct["image"]}))
    else:
        fatal(f"stub ctr: unsupported {args}")


def main(tool: str) -> None:
    log(tool)
    {"crictl": crictl, "ctr": ctr}[tool](sys.argv[1:])


if __name__ == "__main__":
    main(Path(sys.argv[0]).name)
