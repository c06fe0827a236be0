"""The guard reads the bucket through the CLIs as a reader that may list its stack's prefix only.

Amazon S3 answers a GetObject / HeadObject of a key that does not exist with 403 AccessDenied,
not 404, unless the caller holds s3:ListBucket on the bucket (Amazon S3 API reference,
GetObject and HeadObject, "Permissions"; aws/aws-cli#2041 shows `aws s3 cp` printing
"An error occurred (403) when calling the HeadObject operation: Forbidden"). The guard's role
may list only under its stack (`infra.guard.eks_policy`), so it must never read a key it has not
listed: a step not yet uploaded is "not in the bucket", not an error that stops the guard from
reaching the deadline.
"""

from __future__ import annotations

import hashlib
import json

from experiments.guard import CliStore, GuardError

URL = "s3://study-results-1/eks-2-smoke/20261201T181231Z/"
ROOT = "eks-2-smoke/20261201T181231Z/"


class S3WithoutBucketList:
    """`aws s3 cp KEY -` and `aws s3api list-objects-v2` over a dict of objects, answering a
    read of a missing key as S3 does for this reader."""

    def __init__(self, objects: dict[str, bytes]):
        self.objects, self.reads = objects, []

    def __call__(self, args: list[str], _stdin: bytes | None) -> bytes:
        if args[:3] == ["aws", "s3", "cp"] and args[4] == "-":
            key = args[3].removeprefix("s3://study-results-1/")
            self.reads.append(key)
            if key not in self.objects:
                msg = ("aws s3 cp failed (1): fatal error: An error occurred (403) when calling "
                       "the HeadObject operation: Forbidden")
                raise GuardError(msg)
            return self.objects[key]
        if args[:3] == ["aws", "s3api", "list-objects-v2"]:
            prefix = args[args.index("--prefix") + 1]
            return json.dumps({"Contents": [{"Key": k} for k in sorted(self.objects)
                                            if k.startswith(prefix)]}).encode()
        raise AssertionError(args)


def uploaded(step: str) -> dict[str, bytes]:
    files = {"log.txt": b"ok\n",
             "status.json": json.dumps({"finished_at": "2026-12-01T18:30:00+00:00"}).encode()}
    manifest = {"files": {n: {"sha256": hashlib.sha256(d).hexdigest(), "bytes": len(d)}
                          for n, d in files.items()}}
    out = {f"{ROOT}steps/{step}/{n}": d for n, d in files.items()}
    out[f"{ROOT}steps/{step}/MANIFEST.json"] = json.dumps(manifest).encode()
    return out


def test_a_step_not_yet_uploaded_is_not_in_the_bucket_and_nothing_unlisted_is_read():
    s3 = S3WithoutBucketList(uploaded("pull-a-r1"))
    store = CliStore(URL, run=s3)
    assert store.has_step_results("pull-b-r1") is False
    assert store.has_step_results("pull-a-r1") is True
    assert sorted(s3.reads) == [f"{ROOT}steps/pull-a-r1/{n}"
                                for n in ("MANIFEST.json", "log.txt", "status.json")]


def test_a_manifest_whose_file_is_not_listed_does_not_count():
    objects = uploaded("pull-a-r1")
    del objects[f"{ROOT}steps/pull-a-r1/log.txt"]
    s3 = S3WithoutBucketList(objects)
    assert CliStore(URL, run=s3).has_step_results("pull-a-r1") is False
    assert f"{ROOT}steps/pull-a-r1/log.txt" not in s3.reads
