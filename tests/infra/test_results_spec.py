"""`study:results` and the names a stack derives from it: one line per bad value, before any
cloud call, naming the key, the value and what is allowed."""

from __future__ import annotations

import pytest

from core.errors import SpecError
from infra.results_bucket import (
    RUN_ID_ENV,
    checked_bucket_name,
    given_run_id,
    results_env,
    results_url,
    run_id_of,
)
from infra.spec import load_spec
from tests.conftest import sections, to_config


def spec_of(stack: str, **changes):
    sec = sections(stack)
    sec.update(changes)
    return load_spec(to_config(sec))


class TestBucketConfig:
    """A bucket name both clouds accept (GCS and S3 naming rules), or one line saying why not."""

    @pytest.mark.parametrize(("bucket", "why"), [
        ("Bad_Name", "must be 3-63 lowercase letters, digits, '-' or '.', starting and ending "
                     "with a letter or digit"),
        ("goog-results", "must not start with 'goog' (reserved)"),
        ("a..b", "must not contain '..', '.-' or '-.'"),
        ("192.168.5.4", "must not look like an IP address"),
        ("results-s3alias", "must not end with '-s3alias' (reserved)"),
    ])
    def test_bad_override(self, bucket, why):
        with pytest.raises(SpecError) as err:
            spec_of("gke-2-smoke", results={"bucket": bucket})
        assert err.value.problems == [f"study:results.bucket: {bucket!r} is not allowed; {why}"]

    def test_retention_must_be_a_positive_number_of_days(self):
        with pytest.raises(SpecError) as err:
            spec_of("gke-2-smoke", results={"retention_days": 0})
        assert err.value.problems == [
            "study:results.retention_days: 0 is not allowed; input should be greater than or "
            "equal to 1"]

    def test_every_valid_project_derives_a_valid_bucket_name(self):
        """The spec refuses a project id outside GCP's pattern before a bucket name is derived
        (6-30 characters: `study-results-` + 30 stays within 63), so the derived name needs no
        check of its own; the longest project id still derives a valid one."""
        sec = sections("gke-2-smoke")
        sec["cluster"]["project"] = "a" + "b1-" * 9 + "cd"  # 30 characters
        spec = load_spec(to_config(sec))
        assert checked_bucket_name(spec) == f"study-results-{sec['cluster']['project']}"
        sec["cluster"]["project"] = "My_Project"
        with pytest.raises(SpecError) as err:
            load_spec(to_config(sec))
        assert err.value.problems == [
            "study:cluster.project: 'My_Project' is not allowed; a GCP project id is 6-30 "
            "lowercase letters, digits or '-', starting with a letter and not ending with '-'"]

    def test_names_per_cloud(self):
        gke, eks = spec_of("gke-2-smoke"), spec_of("eks-2-smoke")
        assert checked_bucket_name(gke) == "study-results-study-harness-sandbox"
        assert checked_bucket_name(eks, "123456789012") == "study-results-123456789012-us-east-2"
        assert checked_bucket_name(eks) == "study-results-<account>-us-east-2"  # offline
        assert checked_bucket_name(spec_of("eks-2-smoke", results={"bucket": "ours"})) == "ours"


class TestRunUrl:
    """The contract with the in-cluster components: `gs|s3://BUCKET/STACK/RUN_ID/`, the run id
    from the run's ConfigMap, expanded by the kubelet (`$(RUN_ID)`)."""

    def test_url_per_cloud(self):
        assert results_url(spec_of("gke-2-smoke"), "20261201T181231Z", "gke-2-smoke") == (
            "gs://study-results-study-harness-sandbox/gke-2-smoke/20261201T181231Z/")
        assert results_url(spec_of("eks-2-smoke"), "R", "eks-2-smoke", "b") == (
            "s3://b/eks-2-smoke/R/")

    def test_env_defines_run_id_before_the_url_that_expands_it(self):
        env = results_env(spec_of("gke-2-smoke"), "gke-2-smoke", "b")
        assert env == [
            {"name": "RUN_ID",
             "valueFrom": {"configMapKeyRef": {"name": "study-run", "key": "run_id"}}},
            {"name": "RESULTS_URL", "value": "gs://b/gke-2-smoke/$(RUN_ID)/"},
        ]

    def test_run_id_is_study_runs_else_the_namespace_creation_time(self):
        assert run_id_of("2026-12-01T18:12:31Z") == "20261201T181231Z"
        assert run_id_of("2026-12-01T18:12:31Z", "20261130T090000Z-2") == "20261130T090000Z-2"

    def test_a_bad_study_run_id_is_one_line(self, monkeypatch):
        monkeypatch.setenv(RUN_ID_ENV, "x; rm -rf /")
        with pytest.raises(SpecError) as err:
            given_run_id()
        assert err.value.problems == [
            "STUDY_RUN_ID='x; rm -rf /': must look like 20261201T181231Z (a UTC time, '-N' ok)"]
        monkeypatch.delenv(RUN_ID_ENV)
        assert given_run_id() is None
