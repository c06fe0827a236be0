"""Stand-ins for `gcloud` and `aws` over a directory: the subcommands the guard calls, with the
real CLIs' JSON shapes, exit codes and not-found messages.

- `gcloud storage cat|cp -|ls` and `aws s3 cp`, `aws s3api list-objects-v2` over
  `$CLOUD_STUB_DIR/objects/<bucket>/<key>`. A missing object: gcloud exits 1 with
  "ERROR: (gcloud.storage.cat) The following URLs matched no objects or files:", an empty `ls`
  with "One or more URLs matched no objects."; `aws s3 cp` exits 1 with "fatal error: An error
  occurred (404) when calling the HeadObject operation: Key ... does not exist";
  `list-objects-v2` of an empty prefix prints {} (no `Contents`), as the AWS API omits it.
- GKE: `container clusters describe` (createTime), `container node-pools describe`
  (instanceGroupUrls), `compute instance-groups managed describe` (targetSize),
  `container clusters resize --num-nodes N`. EKS: `eks describe-cluster` (cluster.createdAt),
  `eks describe-nodegroup` (nodegroup.scalingConfig), `eks update-nodegroup-config
  --scaling-config minSize=..,maxSize=..,desiredSize=..` (EKS refuses maxSize < 1).
The pool lives in `$CLOUD_STUB_DIR/pool.json` ({"created", "min", "max", "desired"}); every call
is appended to `calls.jsonl`; `fail` in pool.json makes the scaling call exit 1.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(os.environ["CLOUD_STUB_DIR"])
POOL = ROOT / "pool.json"


def die(msg: str, code: int = 1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def obj(url: str) -> Path:
    return ROOT / "objects" / url.split("://", 1)[1]


def opt(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def pool() -> dict:
    return json.loads(POOL.read_text())


def out(data) -> None:
    sys.stdout.write(json.dumps(data))


def gcloud(args: list[str]) -> None:
    if args[:2] == ["storage", "cat"]:
        p = obj(args[2])
        if not p.is_file():
            die(f"ERROR: (gcloud.storage.cat) The following URLs matched no objects or files:\n{args[2]}")
        sys.stdout.buffer.write(p.read_bytes())
    elif args[:3] == ["storage", "cp", "-"]:
        p = obj(args[3])
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(sys.stdin.buffer.read())
    elif args[:2] == ["storage", "ls"]:
        d = obj(args[2])
        names = sorted(f for f in d.iterdir() if f.is_file()) if d.is_dir() else []
        if not names:
            die("ERROR: (gcloud.storage.ls) One or more URLs matched no objects.")
        sys.stdout.write("".join(f"{args[2]}{f.name}\n" for f in names))
    elif args[:3] == ["container", "clusters", "describe"]:
        out({"name": args[3], "createTime": pool()["created"], "status": "RUNNING"})
    elif args[:3] == ["container", "node-pools", "describe"]:
        zone, project = opt(args, "--zone"), opt(args, "--project")
        out({"name": args[3], "instanceGroupUrls": [
            f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}/"
            f"instanceGroupManagers/gke-{opt(args, '--cluster')}-{args[3]}-grp"]})
    elif args[:4] == ["compute", "instance-groups", "managed", "describe"]:
        out({"name": args[4], "targetSize": pool()["desired"]})
    elif args[:3] == ["container", "clusters", "resize"]:
        state = pool()
        if state.get("fail"):
            die("ERROR: (gcloud.container.clusters.resize) PERMISSION_DENIED: Required "
                "'container.clusters.update' permission")
        state["desired"] = int(opt(args, "--num-nodes"))
        POOL.write_text(json.dumps(state))
    else:
        die(f"stub gcloud: unsupported {args}", 2)


def aws(args: list[str]) -> None:
    if args[:2] == ["s3", "cp"] and args[3] == "-":
        p = obj(args[2])
        if not p.is_file():
            key = args[2].split("/", 3)[3]
            die("fatal error: An error occurred (404) when calling the HeadObject operation: "
                f'Key "{key}" does not exist')
        sys.stdout.buffer.write(p.read_bytes())
    elif args[:3] == ["s3", "cp", "-"]:
        p = obj(args[3])
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(sys.stdin.buffer.read())
    elif args[:2] == ["s3api", "list-objects-v2"]:
        bucket, prefix = opt(args, "--bucket"), opt(args, "--prefix")
        base = ROOT / "objects" / bucket
        keys = sorted(str(f.relative_to(base)) for f in base.rglob("*") if f.is_file()) \
            if base.is_dir() else []
        hits = [{"Key": k} for k in keys if k.startswith(prefix)]
        out({"Contents": hits} if hits else {})
    elif args[:2] == ["eks", "describe-cluster"]:
        out({"cluster": {"name": opt(args, "--name"), "createdAt": pool()["created"],
                         "status": "ACTIVE"}})
    elif args[:2] == ["eks", "describe-nodegroup"]:
        s = pool()
        out({"nodegroup": {"nodegroupName": opt(args, "--nodegroup-name"), "scalingConfig": {
            "minSize": s["min"], "maxSize": s["max"], "desiredSize": s["desired"]}}})
    elif args[:2] == ["eks", "update-nodegroup-config"]:
        state = pool()
        if state.get("fail"):
            die("An error occurred (AccessDeniedException) when calling the "
                "UpdateNodegroupConfig operation")
        cfg = dict(kv.split("=") for kv in opt(args, "--scaling-config").split(","))
        if int(cfg["maxSize"]) < 1:
            die("An error occurred (InvalidParameterException): maxSize must be at least 1")
        state.update(min=int(cfg["minSize"]), max=int(cfg["maxSize"]),
                     desired=int(cfg["desiredSize"]))
        POOL.write_text(json.dumps(state))
    else:
        die(f"stub aws: unsupported {args}", 2)


def main(tool: str) -> None:
    with (ROOT / "calls.jsonl").open("a") as f:
        f.write(json.dumps([tool, *sys.argv[1:]]) + "\n")
    (gcloud if tool == "gcloud" else aws)(sys.argv[1:])
