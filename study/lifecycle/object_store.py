"""The results bucket through the clouds' own client libraries: create it once, list, read.

Why here: the bucket outlives every study stack, so no stack owns it; `study bucket create` (and
`study run`'s preflight, on first use) makes it with the settings an operator of a group's
account expects: versioning on (an overwrite or delete keeps the old version), a lifecycle rule
deleting runs older than `study:results.retention_days` (and old versions after 30 days), the
harness's labels, and no public access (GCS public access prevention with uniform bucket-level
access, which the stacks' prefix-conditioned IAM grants need; S3 Block Public Access, all four
settings). An existing bucket is left as it is and its settings are reported when they fall
short. `study collect` reads through the same classes; tests point them at object stores on
loopback (moto's S3 server, a GCS emulator). Nothing here imports a cloud SDK at module level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from study.lifecycle.interfaces import LifecycleError

NONCURRENT_DAYS = 30  # old versions (overwritten or deleted objects) are kept this long


@dataclass(frozen=True)
class BucketSettings:
    """What `ensure` applies to a new bucket."""

    location: str  # GCS location or AWS region
    retention_days: int
    labels: dict[str, str] = field(default_factory=dict)
    project: str | None = None  # GCS: the project that owns (and pays for) the bucket


class ObjectStore(Protocol):
    """One bucket: `url` is `gs://NAME` or `s3://NAME`."""

    url: str

    def ensure(self, settings: BucketSettings) -> list[str]:
        """Create the bucket if missing; what was done or what falls short, one line each."""
        ...

    def exists(self) -> bool: ...

    def list(self, prefix: str) -> list[str]:
        """Object names under `prefix` (full names)."""
        ...

    def read(self, name: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        ...


def harness_labels(owner: str) -> dict[str, str]:
    """Labels of the shared bucket: whose, and what for. Never `stack` or `expires-at`: the
    janitor destroys what carries those, and the bucket belongs to no one stack."""
    return {"managed-by": "study-harness", "purpose": "study-results", "owner": owner}


class GcsStore:
    """A GCS bucket through google-cloud-storage."""

    def __init__(self, bucket: str, client: Any = None, project: str | None = None):
        import google.cloud.storage as storage

        self.name = bucket
        self.url = f"gs://{bucket}"
        self.client = client or storage.Client(project=project)

    def _wrap(self, exc: Exception, what: str) -> LifecycleError:
        return LifecycleError(f"{self.url}: {what}: {type(exc).__name__}: {exc}")

    def exists(self) -> bool:
        try:
            return bool(self.client.bucket(self.name).exists())
        except Exception as exc:  # noqa: BLE001 - one line naming the bucket
            raise self._wrap(exc, "cannot look it up") from None

    def ensure(self, settings: BucketSettings) -> list[str]:
        if self.exists():
            return self._shortfalls()
        bucket = self.client.bucket(self.name)
        bucket.versioning_enabled = True
        bucket.labels = dict(settings.labels)
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.iam_configuration.public_access_prevention = "enforced"
        bucket.add_lifecycle_delete_rule(age=settings.retention_days)
        bucket.add_lifecycle_delete_rule(is_live=False, days_since_noncurrent_time=NONCURRENT_DAYS)
        try:
            self.client.create_bucket(bucket, project=settings.project,
                                      location=settings.location)
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, "cannot create it") from None
        return [f"created {self.url} in {settings.location}: versioning on, runs deleted after "
                f"{settings.retention_days} days, public access prevented"]

    def _shortfalls(self) -> list[str]:
        bucket = self.client.get_bucket(self.name)
        out = []
        if not bucket.versioning_enabled:
            out.append(f"{self.url} exists with versioning off: an overwritten result is lost")
        iam = bucket.iam_configuration
        if not iam.uniform_bucket_level_access_enabled:
            out.append(f"{self.url} exists without uniform bucket-level access: the stacks' "
                       "prefix-conditioned write grants need it")
        if iam.public_access_prevention != "enforced":
            out.append(f"{self.url} exists without public access prevention enforced")
        return out

    def list(self, prefix: str) -> list[str]:
        try:
            return [b.name for b in self.client.list_blobs(self.name, prefix=prefix)]
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, f"cannot list {prefix}") from None

    def read(self, name: str) -> bytes | None:
        from google.api_core.exceptions import NotFound

        try:
            return self.client.bucket(self.name).blob(name).download_as_bytes()
        except NotFound:
            return None
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, f"cannot read {name}") from None


class S3Store:
    """An S3 bucket through boto3."""

    def __init__(self, bucket: str, region: str, client: Any = None):
        import boto3

        self.name = bucket
        self.url = f"s3://{bucket}"
        self.region = region
        self.client = client or boto3.client("s3", region_name=region)

    def _wrap(self, exc: Exception, what: str) -> LifecycleError:
        return LifecycleError(f"{self.url}: {what}: {type(exc).__name__}: {exc}")

    @staticmethod
    def _code(exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.name)
            return True
        except Exception as exc:  # noqa: BLE001
            if self._code(exc) in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise self._wrap(exc, "cannot look it up") from None

    def ensure(self, settings: BucketSettings) -> list[str]:
        if self.exists():
            return self._shortfalls()
        c, name = self.client, self.name
        try:
            kwargs: dict[str, Any] = {"Bucket": name}
            if settings.location != "us-east-1":  # S3 refuses the constraint for its default
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.location}
            c.create_bucket(**kwargs)
            c.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
            })
            c.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            c.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [{
                "ID": "old-runs",
                "Status": "Enabled",
                "Filter": {"Prefix": ""},
                "Expiration": {"Days": settings.retention_days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_DAYS},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            }]})
            c.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [
                {"Key": k, "Value": v} for k, v in sorted(settings.labels.items())
            ]})
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, "cannot create it") from None
        return [f"created {self.url} in {settings.location}: versioning on, runs deleted after "
                f"{settings.retention_days} days, public access blocked"]

    def _shortfalls(self) -> list[str]:
        c, out = self.client, []
        if c.get_bucket_versioning(Bucket=self.name).get("Status") != "Enabled":
            out.append(f"{self.url} exists with versioning off: an overwritten result is lost")
        try:
            block = c.get_public_access_block(Bucket=self.name)["PublicAccessBlockConfiguration"]
        except Exception as exc:  # noqa: BLE001
            if self._code(exc) != "NoSuchPublicAccessBlockConfiguration":
                raise self._wrap(exc, "cannot read its public access block") from None
            block = {}
        if not (block and all(block.values())):
            out.append(f"{self.url} exists without all four Block Public Access settings")
        return out

    def list(self, prefix: str) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, f"cannot list {prefix}") from None

    def read(self, name: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.name, Key=name)["Body"].read()
        except Exception as exc:  # noqa: BLE001
            if self._code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._wrap(exc, f"cannot read {name}") from None


def aws_account(region: str) -> str:
    """The account of the credentials in use (the EKS bucket's name carries it)."""
    import boto3

    return str(boto3.client("sts", region_name=region).get_caller_identity()["Account"])


def store_for(spec) -> ObjectStore:
    """The stack's results bucket with the real clients (credentials from the environment)."""
    from infra.results_bucket import checked_bucket_name

    c = spec.cluster
    if c.cloud == "gke":
        return GcsStore(checked_bucket_name(spec), project=c.project)
    account = None if spec.results.bucket else aws_account(c.region)
    return S3Store(checked_bucket_name(spec, account), c.region)


def settings_for(spec) -> BucketSettings:
    c = spec.cluster
    return BucketSettings(location=c.region, retention_days=spec.results.retention_days,
                          labels=harness_labels(spec.owner),
                          project=getattr(c, "project", None))
