"""The guard's `ResultsStore` through the client libraries: a run's URL in GCS
(google-cloud-storage) or S3 (boto3).

The manifest rule (a step's results count only when MANIFEST.json and every file it lists match)
is `experiments.guard.BucketStore`'s, shared with the in-cluster guard; these classes only say
how to read, write and list. Clients are passed in so tests can use an object store on loopback.
"""

from __future__ import annotations

from typing import Any

from experiments.guard import BucketStore


def _split(url: str, scheme: str) -> tuple[str, str]:
    if not url.startswith(f"{scheme}://") or not url.endswith("/"):
        msg = f"results URL {url!r}: expected {scheme}://BUCKET/STACK/RUN_ID/"
        raise ValueError(msg)
    bucket, _, prefix = url.removeprefix(f"{scheme}://").partition("/")
    return bucket, prefix


class GcsStore(BucketStore):
    def __init__(self, url: str, client: Any = None):
        from google.cloud import storage  # type: ignore[attr-defined]

        self.bucket_name, self.prefix = _split(url, "gs")
        self.client = client or storage.Client()
        self.bucket = self.client.bucket(self.bucket_name)

    def read_object(self, key: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.bucket.blob(self.prefix + key).download_as_bytes()
        except NotFound:
            return None

    def write_object(self, key: str, data: bytes) -> None:
        self.bucket.blob(self.prefix + key).upload_from_string(data)

    def list_keys(self, prefix: str) -> list[str]:
        blobs = self.client.list_blobs(self.bucket_name, prefix=self.prefix + prefix)
        return [b.name.removeprefix(self.prefix) for b in blobs]


class S3Store(BucketStore):
    def __init__(self, url: str, client: Any = None):
        self.bucket, self.prefix = _split(url, "s3")
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client

    def read_object(self, key: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None

    def write_object(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def list_keys(self, prefix: str) -> list[str]:
        out = []
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix)
        for page in pages:
            out += [o["Key"].removeprefix(self.prefix) for o in page.get("Contents", [])]
        return out
