"""The results bucket as a study stack sees it: its name, the run's URL, and the run's identity.

Why here and not in the stack: the bucket is created once per cloud account and project
(`study bucket create STACK`, harness side) and outlives every study, so a stack only *names* it,
deterministically from its spec, and never owns it (a destroy must not take other runs' results
with it). The stack owns only its write access: a binding limited to `<bucket>/<stack>/`.

Run identity under plain `pulumi up`: there is no `study run` process to name the run, so the
cluster does. The first `up` creates the ConfigMap `study-run` holding `run_id`: the id `study
run` passed (`STUDY_RUN_ID`), or else the creation time of the study namespace in UTC
(`20261201T181231Z`), which the API server sets once and every later `up` reads back unchanged.
The ConfigMap also ignores later changes to its data (a plain `up` after `study run` died keeps
`study run`'s id), so every later `up` of the same cluster (a resume) keeps the id, and a new
cluster (after a destroy) gets a new one. Pods read it through
`configMapKeyRef` as `RUN_ID`, and `RESULTS_URL` expands it (Kubernetes dependent environment
variables, `$(RUN_ID)`), so no rendered object carries a value only known at apply time. The
stack exports both (`run_id`, `results_url`) for `study collect`.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from typing import Any

from core.errors import SpecError
from infra.service_accounts import uploader_sa
from infra.spec.results import bucket_name_problem

RUN_ID_ENV = "STUDY_RUN_ID"  # set by `study run`; absent under plain `pulumi up`
RUN_ID = re.compile(r"^\d{8}T\d{6}Z(-\d{1,4})?$")  # study.lifecycle.state.new_run_id's form
RUN_CONFIGMAP = "study-run"
RUN_KEY = "run_id"
RUN_ID_REF = "$(RUN_ID)"  # what RESULTS_URL holds in a pod spec; the kubelet expands it
ACCOUNT_PLACEHOLDER = "<account>"


def run_id_problem(run_id: str) -> str | None:
    if not RUN_ID.match(run_id):
        return f"{RUN_ID_ENV}={run_id!r}: must look like 20261201T181231Z (a UTC time, '-N' ok)"
    return None


def given_run_id() -> str | None:
    """`study run`'s id for this run (validated), or None under plain `pulumi up`."""
    given = os.environ.get(RUN_ID_ENV, "").strip()
    if not given:
        return None
    if problem := run_id_problem(given):
        raise SpecError([problem])
    return given


def run_id_of(created: str | None, given: str | None = None) -> str:
    """`given`, else the namespace's creationTimestamp (RFC 3339) as `20261201T181231Z`."""
    if given:
        return given
    if created:
        when = datetime.fromisoformat(created.replace("Z", "+00:00"))
    else:  # only a mock engine leaves it unset; the real API server always sets it
        when = datetime.now(UTC)
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def scheme(spec) -> str:
    return "gs" if spec.cluster.cloud == "gke" else "s3"


def bucket_name(spec, account: str | None = None) -> str:
    """`study:results.bucket`, else `study-results-<project>` (GKE) or
    `study-results-<account>-<region>` (EKS: S3 names are global and regional buckets avoid
    cross-region transfer). Without `account` an EKS name shows `<account>`."""
    if spec.results.bucket:
        return spec.results.bucket
    c = spec.cluster
    if c.cloud == "gke":
        return f"study-results-{c.project}"
    return f"study-results-{account or ACCOUNT_PLACEHOLDER}-{c.region}"


def checked_bucket_name(spec, account: str | None = None) -> str:
    """The bucket name, or SpecError naming the key, the value and the rule."""
    name = bucket_name(spec, account)
    if ACCOUNT_PLACEHOLDER in name:
        return name  # offline: resolved by the program (and by `study`) from the credentials
    if problem := bucket_name_problem(name):
        key = "study:results.bucket" if spec.results.bucket else "study:cluster.project"
        msg = (f"{key}: the results bucket name {name!r} {problem}; set study:results.bucket "
               "to a valid name")
        raise SpecError([msg])
    return name


# stack -> its bucket as `wire` resolved it in this program run (on EKS the name needs the
# account, which only the program's AWS provider can tell).
_RESOLVED: dict[str, str] = {}


def results_url(spec, run_id: str, stack: str | None = None, bucket: str | None = None) -> str:
    """`gs://BUCKET/STACK/RUN_ID/` or `s3://BUCKET/STACK/RUN_ID/` (with a trailing slash).

    In the program, pass `RUN_ID_REF` as `run_id`: pods get the id from the run's ConfigMap;
    after `wire`, the bucket is the one it resolved for the stack.
    """
    if stack is None:
        import pulumi

        stack = pulumi.get_stack()
    name = bucket or _RESOLVED.get(stack) or checked_bucket_name(spec)
    return f"{scheme(spec)}://{name}/{stack}/{run_id}/"


def results_env(spec, stack: str, bucket: str) -> list[dict[str, Any]]:
    """RUN_ID (from the run's ConfigMap) then RESULTS_URL, for any in-cluster component."""
    return [
        {"name": "RUN_ID",
         "valueFrom": {"configMapKeyRef": {"name": RUN_CONFIGMAP, "key": RUN_KEY}}},
        {"name": "RESULTS_URL", "value": results_url(spec, RUN_ID_REF, stack, bucket)},
    ]


def run_identity(namespace, labels: dict[str, str], opts):
    """The ConfigMap holding the run id; its data never changes after the first `up`."""
    from pulumi import ResourceOptions

    from core import sdk
    from core.layout import NAMESPACE

    core = sdk.package("pulumi_kubernetes.core.v1", "ConfigMap")
    given = given_run_id()
    run_id = namespace.metadata.apply(
        lambda m: run_id_of(getattr(m, "creation_timestamp", None) if m else None, given)
    )
    return core.ConfigMap(
        "study-run",
        metadata={"name": RUN_CONFIGMAP, "namespace": NAMESPACE, "labels": labels},
        data={RUN_KEY: run_id},
        opts=ResourceOptions.merge(opts, ResourceOptions(ignore_changes=["data"])),
    )


def eks_account(provider) -> str:
    """The AWS account the stack runs in (its bucket name needs it)."""
    import pulumi
    import pulumi_aws as aws

    return aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=provider)).account_id


def wire(stack: str, spec, cluster, namespace, labels: dict[str, str]):
    """Run identity, bucket write access for the stack's own uploader service account
    (`infra.service_accounts.uploader_sa`: the cloud identity is bound to it and to nothing
    else), exports; returns the upload target."""
    import pulumi
    from pulumi import ResourceOptions

    from core.layout import NAMESPACE
    from experiments.upload import UploadTarget

    k8s_labels = {f"study-harness.io/{k}": v for k, v in labels.items()}
    identity = run_identity(
        namespace, k8s_labels,
        ResourceOptions(provider=cluster.provider, depends_on=[namespace]),
    )
    ksa = uploader_sa(stack)
    if spec.cluster.cloud == "gke":
        from infra.clusters.gke import results_writer

        bucket = checked_bucket_name(spec)
        annotations, grants = results_writer(stack, spec.cluster, bucket, NAMESPACE, ksa,
                                             cluster, namespace)
        region = ""
    else:
        from infra.clusters.eks import results_writer as eks_writer

        bucket = checked_bucket_name(spec, eks_account(cluster.aws_provider))
        grants = eks_writer(stack, bucket, NAMESPACE, ksa, cluster, namespace)
        annotations, region = {}, spec.cluster.region
    _RESOLVED[stack] = bucket
    run_id = identity.data.apply(lambda d: (d or {}).get(RUN_KEY, ""))
    pulumi.export("run_id", run_id)
    pulumi.export("results_bucket", f"{scheme(spec)}://{bucket}")
    pulumi.export("results_url", run_id.apply(lambda r: results_url(spec, r, stack, bucket)))
    return UploadTarget(
        cloud=spec.cluster.cloud, bucket=bucket, stack=stack, env=results_env(spec, stack, bucket),
        service_account=ksa, sa_annotations=annotations, region=region,
        depends_on=[identity, *grants],
    )
