"""Where a study's results outlive its cluster: the results bucket (`study:results`).

One bucket per cloud account and project, created once (`study bucket create STACK`) and never
owned by a study stack; every stack names it deterministically (`infra.results_bucket`), so a
destroyed cluster's results stay findable by anyone holding the stack file. `bucket` overrides the
derived name (a bucket your group already has); `retention_days` is the lifecycle rule applied
when `study bucket create` makes the bucket (runs older than that are deleted).
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import Field, field_validator

from infra.spec.common import Strict

# The intersection of GCS and S3 bucket-name rules, so one name rule serves both clouds: 3-63
# lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (GCS
# "Bucket naming requirements"; Amazon S3 user guide, "General purpose bucket naming rules").
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # fullmatch: `$` lets "\n" by
RESERVED = (("goog", "prefix"), ("xn--", "prefix"), ("sthree-", "prefix"),
            ("-s3alias", "suffix"), ("--ol-s3", "suffix"))


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a bucket name both clouds accept, or None."""
    if not BUCKET_NAME.fullmatch(name):
        return ("must be 3-63 lowercase letters, digits, '-' or '.', starting and ending with a "
                "letter or digit")
    if ".." in name or ".-" in name or "-." in name:
        return "must not contain '..', '.-' or '-.'"
    try:
        ipaddress.ip_address(name)
        return "must not look like an IP address"
    except ValueError:
        pass
    if "google" in name:  # GCS "Bucket naming requirements": nor close misspellings (g00gle)
        return "must not contain 'google' (reserved by Cloud Storage)"
    for word, where in RESERVED:
        if (name.startswith(word) if where == "prefix" else name.endswith(word)):
            return f"must not {'start' if where == 'prefix' else 'end'} with '{word}' (reserved)"
    return None


class ResultsSpec(Strict):
    """The results bucket a study stack writes to and `study collect` reads first."""

    # None: `study-results-<project>` on GKE, `study-results-<account>-<region>` on EKS.
    bucket: str | None = None
    retention_days: int = Field(default=365, ge=1, le=3650, description="runs older are deleted")

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, v: str | None) -> str | None:
        if v is not None and (problem := bucket_name_problem(v)):
            raise ValueError(problem)
        return v
