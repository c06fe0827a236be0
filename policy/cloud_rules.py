"""Real-cloud rules: what the schemas cannot see, checked over everything a stack renders.

Why: a manifest can be valid against its schema and still never work on a real cluster (a claim
no provisioner serves, two steps sharing an operator's Service, a Docker Hub pull through one NAT
address, a Job that an interrupted `up` cannot adopt). Each rule names the upstream source that
says what the real controller or provider does, so the next reader can check it again at the
versions we pin. The rules run in every `study plan` (and so in every preflight) over the objects
and resource options the real program registers under the mock engine; they apply to stacks a
user writes as much as to the shipped ones. A violation is a plan error carrying the rule's name.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from core.image_lock import image_pin_problems, image_slots, pod_specs, split
from core.layout import LABEL_STEP

SHELLS = {"sh", "bash", "ash", "dash"}
# The Service names the operators use when a step leaves them unset, at the pinned versions:
# flux-operator @1f686fea api/v1alpha2/minicluster_types.go (`+kubebuilder:default="flux-service"`,
# also set in MiniCluster.Validate) and metrics-operator v0.1.13-1 api/v1alpha2
# metricset_types.go (`serviceName` default `ms`). A test compares both with the pinned CRDs.
MINICLUSTER_DEFAULT_SERVICE = "flux-service"
METRICSET_DEFAULT_SERVICE = "ms"
DOCKER_HUB = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}


@dataclass(frozen=True)
class RenderedStack:
    """What a rule sees: the stack's spec, its rendered objects and its registered resources.

    `resources` are `study.mock_engine.Recorded` (type, name, inputs, options); `studied` are
    the images the experiment measures (the subject of a pulling study, exempt from helper-image
    rules); `lock` is the committed image lock, when one is read.
    """

    spec: Any
    manifests: list[dict[str, Any]]
    resources: list[Any] = field(default_factory=list)
    studied: frozenset[str] = frozenset()
    lock: Any = None

    @classmethod
    def of(cls, spec: Any, manifests: list[dict[str, Any]], resources: list[Any]) -> RenderedStack:
        """The stack as `study plan` and the policy pack both see it: studied images read off
        the rendered step recorders."""
        return cls(spec, manifests, resources, studied_images(manifests))


def studied_images(manifests: list[dict[str, Any]]) -> frozenset[str]:
    """The images a pulling study measures: what its step recorders expect to see pulled."""
    out: set[str] = set()
    for obj in manifests:
        if obj.get("kind") != "Job":
            continue
        for c in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for env in c.get("env") or []:
                if env.get("name") == "EXPECT":
                    out.update(json.loads(env.get("value") or "{}").get("pull_images", []))
    return frozenset(out)


@dataclass(frozen=True)
class Rule:
    name: str
    source: str  # where the real behaviour is written: repository, path, version
    doc: str  # what the rule requires and why, in one or two sentences
    check: Callable[[RenderedStack], list[str]]


# --- walking rendered objects -------------------------------------------------------------------


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('name')}"


def containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every container (init, main, ephemeral) of every pod spec in `obj`."""
    for pod in pod_specs(obj):
        for key in ("initContainers", "containers", "ephemeralContainers"):
            yield from pod.get(key) or []
    if obj.get("kind") == "MiniCluster":
        yield from (obj.get("spec") or {}).get("containers") or []


def images(obj: dict[str, Any]) -> Iterator[str]:
    """Every image an object makes a node pull, operator defaults for unset fields included."""
    for _, _, ref in image_slots(obj):
        yield ref


def registry_host(ref: str) -> str:
    """The registry a reference pulls from, normalised the way the container runtimes do
    (distribution/reference normalize.go: no domain means docker.io)."""
    return split(ref)[0]


def shell_scripts(obj: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, script) for every `sh -c SCRIPT` a container runs (after nsenter ... -- too)."""
    for c in containers(obj):
        command, args = c.get("command") or [], c.get("args") or []
        if isinstance(command, str) or isinstance(args, str):
            continue  # a MiniCluster's `command` is one string, which flux runs, not a shell
        argv = [*command, *args]
        for i, word in enumerate(argv[:-1]):
            if (
                isinstance(word, str)
                and word.rsplit("/", 1)[-1] in SHELLS
                and argv[i + 1 : i + 2] == ["-c"]
                and i + 2 < len(argv)
            ):
                yield f"{_name(obj)} container {c.get('name')}", str(argv[i + 2])
    if obj.get("kind") == "ConfigMap":
        for key, text in (obj.get("data") or {}).items():
            if isinstance(text, str) and text.startswith(
                ("#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash")
            ):
                yield f"{_name(obj)} key {key}", text


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


# --- the rules ----------------------------------------------------------------------------------


def _pvc_storage_class(stack: RenderedStack) -> list[str]:
    classes: set[str] = {
        name
        for o in stack.manifests
        if o.get("kind") == "StorageClass" and (name := (o.get("metadata") or {}).get("name"))
    }
    installed = sorted(classes)
    claims: list[tuple[str, dict[str, Any]]] = [
        (_name(o), o.get("spec") or {})
        for o in stack.manifests
        if o.get("kind") == "PersistentVolumeClaim"
    ]
    for o in stack.manifests:
        if o.get("kind") == "StatefulSet":
            for t in (o.get("spec") or {}).get("volumeClaimTemplates") or []:
                claims.append(
                    (f"{_name(o)} claim template {t['metadata']['name']}", t.get("spec") or {})
                )
    out = []
    for where, spec in claims:
        sc = spec.get("storageClassName")
        if not sc:
            out.append(
                f"{where} names no storageClassName; the stack installs "
                f"{installed or 'no StorageClass'}"
            )
        elif sc not in classes:
            out.append(
                f"{where} names storageClassName '{sc}', which the stack does not install "
                f"(installed: {installed or 'none'})"
            )
    return out


def _effective_service(obj: dict[str, Any]) -> str | None:
    """The Service name an operator creates for this object's pods, with the CRD defaults."""
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "MetricSet":
        return spec.get("serviceName") or METRICSET_DEFAULT_SERVICE
    if kind == "MiniCluster":
        return (spec.get("network") or {}).get("headlessName") or MINICLUSTER_DEFAULT_SERVICE
    if kind == "Service":
        return (obj.get("metadata") or {}).get("name")
    return None


def _distinct_step_services(stack: RenderedStack) -> list[str]:
    out = []
    owners: dict[tuple[str, str], str] = {}
    for o in stack.manifests:
        name = _effective_service(o)
        if name is None:
            continue
        ns = (o.get("metadata") or {}).get("namespace") or "default"
        key = (ns, name)
        if key in owners:
            out.append(
                f"{_name(o)} and {owners[key]} share the Service '{name}' in namespace "
                f"'{ns}'; the operator creates it only when missing, selecting the first "
                f"one's pods: give each step its own Service name"
            )
        else:
            owners[key] = _name(o)
    for o in stack.manifests:
        if o.get("kind") != "Service":
            continue
        labels = (o.get("metadata") or {}).get("labels") or {}
        step = labels.get(LABEL_STEP)
        selector = (o.get("spec") or {}).get("selector") or {}
        if step is not None and selector.get(LABEL_STEP) != step:
            out.append(
                f"{_name(o)} belongs to step '{step}' but its selector {selector} does not "
                f"select {LABEL_STEP}={step}: it would also select other steps' pods"
            )
    return out


def _helper_image_registry(stack: RenderedStack) -> list[str]:
    out, seen = [], set()
    for o in stack.manifests:
        for ref in images(o):
            if ref in stack.studied or ref in seen:
                continue
            seen.add(ref)
            if registry_host(ref) in DOCKER_HUB:
                out.append(
                    f"{_name(o)} pulls '{ref}' from Docker Hub, whose anonymous pulls are "
                    f"limited per address (all EKS nodes share one NAT address): use "
                    f"mirror.gcr.io/library/..., public.ecr.aws/docker/library/... or the "
                    f"stack's mirror (`study images mirror`)"
                )
    return out


def _needs_quoting(value: str) -> bool:
    return bool(value) and shlex.quote(value) != value


def _quoted_scripts(stack: RenderedStack) -> list[str]:
    """A stack value inside a generated script must appear as one shell word (shlex.quote).

    A script that *is* a stack value (a user's own `sh -c` command) is the user's to write and is
    not judged. Generated scripts must tokenise (comments allowed): an unbalanced quote there
    means an interpolated value broke out of its quoting.
    """
    values = {v for o in stack.manifests for v in images(o)}
    experiment = getattr(stack.spec, "experiment", None)
    if experiment is not None:
        values |= set(_strings(getattr(experiment, "params", {}) or {}))
    risky = sorted(v for v in values if _needs_quoting(v) and len(v) > 1)
    out = []
    for o in stack.manifests:
        for where, script in shell_scripts(o):
            if script in values:
                continue
            if not where.startswith("ConfigMap"):
                try:
                    shlex.split(script, comments=True)
                except ValueError as exc:
                    out.append(
                        f"{where}: the script does not parse as shell words ({exc}): "
                        f"an interpolated value broke its quoting"
                    )
                    continue
            for v in risky:
                if v not in script:
                    continue
                quoted = shlex.quote(v)
                if "'" in v or script.count(v) != script.count(quoted):
                    out.append(
                        f"{where}: the value {v!r} is interpolated without shell quoting "
                        f"(shlex.quote)"
                    )
    return out


def _step_resources(stack: RenderedStack) -> Iterator[Any]:
    for r in stack.resources:
        if not r.type.startswith("kubernetes:"):
            continue
        labels = ((r.inputs.get("metadata") or {}).get("labels")) or {}
        if LABEL_STEP in labels:
            yield r


def _step_timeouts(stack: RenderedStack) -> list[str]:
    out = []
    for r in _step_resources(stack):
        t = (getattr(r, "options", None) or {}).get("customTimeouts") or {}
        if not t.get("create") or not t.get("update"):
            out.append(
                f"{r.type.rsplit(':', 1)[-1]} '{r.name}' has custom timeouts {t or 'none'}; "
                f"a step resource needs both create and update"
            )
        elif t["create"] != t["update"]:
            out.append(
                f"{r.type.rsplit(':', 1)[-1]} '{r.name}' has update timeout {t['update']} "
                f"but create timeout {t['create']}: a resumed up awaits an update as long "
                f"as the create it replaces"
            )
    return out


def _resume_upsert(stack: RenderedStack) -> list[str]:
    out = []
    for r in stack.resources:
        upsert = r.inputs.get("upsertExistingObjects")
        if r.type == "pulumi:providers:kubernetes" and upsert not in (True, "true"):
            out.append(
                f"Kubernetes provider '{r.name}' does not set upsert_existing_objects: a "
                f"resumed up fails with 'already exists' on objects created before a kill"
            )
    return out


RESULTS_URL = re.compile(r"^(gs|s3)://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([a-z0-9][a-z0-9-]*)/"
                         r"\$\(RUN_ID\)/$")


def _env(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e.get("name"): e for c in containers(job) for e in c.get("env") or []}


def _durable_results(stack: RenderedStack) -> list[str]:
    """Every recorded step has an upload Job writing to one `<bucket>/<stack>/$(RUN_ID)/` as the
    stack's own uploader service account (a shared name is trusted in every cluster of a GKE
    project), the cloud grants that account writes to that prefix only, and the stack owns no
    bucket."""
    from experiments.upload import LABEL_UPLOADS
    from infra.results_bucket import RUN_CONFIGMAP, RUN_KEY
    from infra.service_accounts import uploader_sa

    jobs = [o for o in stack.manifests if o.get("kind") == "Job"]
    role = f"{LABEL_STEP.rsplit('/', 1)[0]}/role"
    recorded = [(o.get("metadata") or {}).get("labels", {}).get(LABEL_STEP) for o in jobs
                if (o.get("metadata") or {}).get("labels", {}).get(role) == "recorder"]
    if not recorded:
        return []
    uploads = {(o.get("metadata") or {}).get("labels", {}).get(LABEL_UPLOADS): o for o in jobs
               if LABEL_UPLOADS in ((o.get("metadata") or {}).get("labels") or {})}
    out = [f"step {s}: no upload Job, so its results live only on the cluster's volume"
           for s in recorded if s not in uploads]
    targets = set()
    for job in [uploads[k] for k in sorted(uploads)]:
        env, pod = _env(job), next(iter(pod_specs(job)), {})
        url = str((env.get("RESULTS_URL") or {}).get("value") or "")
        m = RESULTS_URL.match(url)
        if m is None:
            out.append(f"{_name(job)}: RESULTS_URL {url!r} is not gs://|s3://BUCKET/STACK/"
                       "$(RUN_ID)/")
        else:
            targets.add(m.groups())
            want = uploader_sa(m.group(3))
            if pod.get("serviceAccountName") != want:
                out.append(f"{_name(job)}: runs as {pod.get('serviceAccountName')!r}, not "
                           f"{want}, the stack's own account and the only one the bucket "
                           "grant is bound to")
        ref = ((env.get("RUN_ID") or {}).get("valueFrom") or {}).get("configMapKeyRef") or {}
        if (ref.get("name"), ref.get("key")) != (RUN_CONFIGMAP, RUN_KEY):
            out.append(f"{_name(job)}: RUN_ID does not come from ConfigMap {RUN_CONFIGMAP} "
                       f"key {RUN_KEY}, so a resumed up could write under another run")
    if len(targets) > 1:
        out.append(f"upload Jobs write to more than one place: {sorted(targets)}")
    for scheme, bucket, stack_name in sorted(targets)[:1]:
        out += _writer_grants(stack, scheme, bucket, stack_name, uploader_sa(stack_name))
    return out


def _writer_grants(stack: RenderedStack, scheme: str, bucket: str, name: str,
                   sa: str) -> list[str]:
    res = list(stack.resources)
    owned = [r.name for r in res if r.type in ("gcp:storage/bucket:Bucket", "aws:s3/bucket:Bucket",
                                               "aws:s3/bucketV2:BucketV2")
             and bucket in (r.inputs.get("name"), r.inputs.get("bucket"))]
    out = [f"the stack owns the results bucket {bucket} ({', '.join(owned)}): a destroy would "
           "delete every run's results"] if owned else []
    member_of = f"[study-harness/{sa}]"
    if scheme == "gs":
        from infra.clusters.gke import (
            object_prefix,
            results_account_id,
            results_read_condition,
        )

        prefix = f'resource.name.startsWith("{object_prefix(bucket, name)}")'
        # The uploader's grants; the guard's own (read, and its records) are the guard rule's.
        writer = f"serviceAccount:{results_account_id(name)}@"
        grants = [r for r in res if r.type == "gcp:storage/bucketIAMMember:BucketIAMMember"
                  and r.inputs.get("bucket") == bucket
                  and str(r.inputs.get("member", "")).startswith(writer)]
        # Creating under the prefix, and reading there for `cp --no-clobber`'s check.
        allowed = {"roles/storage.objectCreator": prefix, "roles/storage.objectViewer":
                   results_read_condition(bucket, name, "")["expression"]}
        if not any(g.inputs.get("role") == "roles/storage.objectCreator" for g in grants):
            out.append(f"no write grant on gs://{bucket} for the uploader")
        for g in grants:
            cond = (g.inputs.get("condition") or {}).get("expression")
            role = g.inputs.get("role")
            if role in allowed and cond == allowed[role]:
                continue
            want = role if role == "roles/storage.objectViewer" else "roles/storage.objectCreator"
            out.append(f"{g.name}: grants {role} where {cond!r}; only {want} where "
                       f"{allowed[want]} is allowed")
        if not any(r.type == "gcp:serviceaccount/iAMMember:IAMMember"
                   and r.inputs.get("role") == "roles/iam.workloadIdentityUser"
                   and str(r.inputs.get("member", "")).endswith(member_of) for r in res):
            out.append(f"no Workload Identity binding for study-harness/{sa}")
        return out
    arn = f"arn:aws:s3:::{bucket}/{name}/*"
    if not any(r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"
               and (r.inputs.get("namespace"), r.inputs.get("serviceAccount"))
               == ("study-harness", sa) for r in res):
        out.append(f"no EKS Pod Identity association for study-harness/{sa}")
    writers = [r for r in res if r.type == "aws:iam/role:Role" and any(
        arn in str(p.get("policy")) for p in r.inputs.get("inlinePolicies") or [])]
    if not writers:
        out.append(f"no role allows s3:PutObject on {arn}")
    for w in writers:
        for p in w.inputs.get("inlinePolicies") or []:
            for st in json.loads(p.get("policy") or "{}").get("Statement", []):
                if (st.get("Action"), st.get("Resource")) != ("s3:PutObject", arn):
                    out.append(f"{w.name}: allows {st.get('Action')} on {st.get('Resource')}; "
                               f"only s3:PutObject on {arn} is allowed")
    return out


def _image_pins(stack: RenderedStack) -> list[str]:
    return image_pin_problems(stack.manifests, stack.lock, stack.studied)


def _cluster_cloud(stack: RenderedStack) -> str | None:
    types = {r.type for r in stack.resources}
    if "gcp:container/cluster:Cluster" in types:
        return "gke"
    if "aws:eks/cluster:Cluster" in types:
        return "eks"
    return None


def _cluster_name(stack: RenderedStack) -> str:
    """The cluster's name, which is the stack's (infra.clusters)."""
    for r in stack.resources:
        if r.type in ("gcp:container/cluster:Cluster", "aws:eks/cluster:Cluster"):
            return str(r.inputs.get("name") or "")
    return ""


def _guard(stack: RenderedStack) -> list[str]:
    from core.layout import NAMESPACE
    from infra.guard import GUARD_NAME
    from infra.service_accounts import guard_sa

    cloud = _cluster_cloud(stack)
    if cloud is None:
        return []
    where = f"{NAMESPACE}/{GUARD_NAME}"
    ksa = guard_sa(_cluster_name(stack))
    where_sa = f"{NAMESPACE}/{ksa}"

    def named(kind: str, name: str = GUARD_NAME) -> dict[str, Any] | None:
        for obj in stack.manifests:
            meta = obj.get("metadata") or {}
            if obj.get("kind") == kind and meta.get("name") == name and \
                    meta.get("namespace") == NAMESPACE:
                return obj
        return None

    cron = named("CronJob")
    if cron is None:
        return [f"no CronJob {where}: nothing scales the nodes to zero at the deadline when the "
                "run's process dies or nobody runs one (keep study:guard.enabled true)"]
    out = []
    pod = cron.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template", {}).get(
        "spec", {})
    if pod.get("serviceAccountName") != ksa or named("ServiceAccount", ksa) is None:
        out.append(f"CronJob {where} runs as {pod.get('serviceAccountName')!r}, not the "
                   f"stack's own ServiceAccount {where_sa}: a name shared by stacks is trusted "
                   "in every cluster of a GKE project")
    env = {e.get("name"): e.get("value") for c in pod.get("containers", [])
           for e in c.get("env") or []}
    scheme = "gs://" if cloud == "gke" else "s3://"
    url = env.get("RESULTS_URL") or ""
    if not url.startswith(scheme):
        out.append(f"CronJob {where} has no results bucket (RESULTS_URL {url!r}, expected "
                   f"{scheme}BUCKET/STACK/RUN_ID/): its records would be lost with the cluster")
    member = f"[{where_sa}]"
    if cloud == "gke":
        bound = any(r.type == "gcp:serviceaccount/iAMMember:IAMMember"
                    and r.inputs.get("role") == "roles/iam.workloadIdentityUser"
                    and str(r.inputs.get("member", "")).endswith(member) for r in stack.resources)
        sa = named("ServiceAccount", ksa) or {}
        annotated = "iam.gke.io/gcp-service-account" in (
            (sa.get("metadata") or {}).get("annotations") or {})
        if not (bound and annotated):
            out.append(f"ServiceAccount {where_sa} is not bound to a Google service account "
                       "(Workload Identity: roles/iam.workloadIdentityUser for "
                       f"PROJECT.svc.id.goog{member} and the iam.gke.io/gcp-service-account "
                       "annotation): the guard could not scale the node pool")
    else:
        bound = any(r.type == "aws:eks/podIdentityAssociation:PodIdentityAssociation"
                    and r.inputs.get("serviceAccount") == ksa
                    and r.inputs.get("namespace") == NAMESPACE for r in stack.resources)
        if not bound:
            out.append(f"ServiceAccount {where_sa} has no EKS Pod Identity association: the guard "
                       "could not scale the node group")
    return out


RULES: list[Rule] = [
    Rule(
        "pvc-storage-class",
        "kubernetes/kubernetes plugin/pkg/admission/storage/storageclass/setdefault/admission.go "
        "(a claim without a class gets the default, if any); Amazon EKS user guide, 'Storage "
        "classes' (clusters from 1.30 on have no default class; gp2 needs the EBS CSI driver)",
        "Every PersistentVolumeClaim names a StorageClass that the stack itself installs.",
        _pvc_storage_class,
    ),
    Rule(
        "image-pinned",
        "opencontainers/distribution-spec spec.md (a tag is mutable, a digest is content); "
        "flux-framework/flux-operator .github/workflows/release.yaml (main builds are :latest)",
        "Every image is pinned by digest in the image lock, or is a released tag of an "
        "official registry.",
        _image_pins,
    ),
    Rule(
        "distinct-step-services",
        "converged-computing/metrics-operator controllers/metric/service.go v0.1.13-1 and "
        "flux-framework/flux-operator controllers/flux/service.go @1f686fea (the headless "
        "Service is created only when missing, selecting the first object's pods)",
        "No two step objects share a Service (MetricSet serviceName, MiniCluster headlessName, "
        "or a Service), and a step's Service selects only that step's pods.",
        _distinct_step_services,
    ),
    Rule(
        "helper-image-registry",
        "distribution/distribution reference/normalize.go (no domain means docker.io); Docker "
        "documentation, 'Docker Hub usage and limits' (anonymous pulls limited per IPv4 address)",
        "Every image other than the studied ones comes from a registry without anonymous "
        "per-address pull limits.",
        _helper_image_registry,
    ),
    Rule(
        "quoted-scripts",
        "POSIX Shell Command Language 2.2 Quoting; Python shlex.quote",
        "Every value from the stack that is interpolated into a generated shell script is "
        "quoted with shlex.quote, and every `sh -c` script parses as shell words.",
        _quoted_scripts,
    ),
    Rule(
        "step-timeouts",
        "pulumi/pulumi-kubernetes provider/pkg/await/await.go v4.34 (awaits use the resource's "
        "customTimeouts, 10 minutes by default, for creates and updates alike)",
        "Every step resource has create and update custom timeouts, equal, so a resumed up "
        "that updates a half-created step waits as long as its create would.",
        _step_timeouts,
    ),
    Rule(
        "durable-results",
        "GKE documentation, 'Authenticate to Google Cloud APIs from GKE workloads' (Workload "
        "Identity Federation, GSA variant) and 'Workload Identity Federation for GKE', "
        "'Identity sameness' (one pool per project); pulumi-gcp 10.2 pulumi_gcp/storage/"
        "bucket_iam_member.py (IAM condition on a bucket member); Amazon EKS user "
        "guide, 'EKS Pod Identity', and hashicorp/terraform-provider-aws website/docs/r/"
        "eks_pod_identity_association.html.markdown",
        "Every recorded step has an upload Job writing to the results bucket under "
        "<stack>/<run-id>/ as the stack's own uploader service account (results-<stack>), whose "
        "cloud identity may write that prefix only (no keys); the stack never owns the bucket.",
        _durable_results,
    ),
    Rule(
        "resume-upsert",
        "pulumi/pulumi-kubernetes provider/pkg/await/await.go (a create of an object that "
        "exists fails with 'already exists' unless upsertExistingObjects is set, v4.32-v4.34)",
        "Every Kubernetes provider sets upsert_existing_objects, so an up after a hard kill "
        "adopts the objects created but not yet recorded in the state.",
        _resume_upsert,
    ),
    Rule(
        "guard",
        "kubernetes/kubernetes pkg/controller/cronjob/cronjob_controllerv2.go (a CronJob runs "
        "with no client connected); Workload Identity Federation for GKE, 'Link Kubernetes "
        "ServiceAccounts to IAM' and 'Identity sameness'; Amazon EKS user guide, 'EKS Pod "
        "Identity'",
        "Every cluster runs the guard CronJob as the stack's own ServiceAccount (guard-<stack>), "
        "bound to a cloud identity, with the results bucket to record to, so the nodes stop at "
        "the deadline however the cluster came up.",
        _guard,
    ),
]


def check(stack: RenderedStack, rules: list[Rule] | None = None) -> list[str]:
    """Every violation, as `rule <name>: <problem>`, in rule order."""
    return [
        f"rule {r.name}: {p}" for r in (RULES if rules is None else rules) for p in r.check(stack)
    ]
