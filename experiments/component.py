"""The one generic mechanism that turns any kind's ordered steps into Kubernetes resources.

`Experiment` (type token `study:experiments:Experiment`) renders every step with its kind and
chains the steps with `depends_on`, one at a time: step i+1's resources are created only after
step i's recorder Job has completed, and pulumi-kubernetes awaits a `batch/v1` Job until Complete,
so `pulumi up` returns when the last step has been recorded. Each recorder Job's create timeout is
its step's deadline (plus a margin for scheduling); the workload itself carries the deadline too
(`activeDeadlineSeconds` / `deadlineSeconds`), and the recorder deletes it if it is still running.

Resume: every Kubernetes name is derived from the step name alone (no random suffixes, no
timestamps), so a second `pulumi up` after an interruption finds the finished steps' Jobs in its
state unchanged and creates only the missing ones. Workload Jobs skip Pulumi's await
(`pulumi.com/skipAwait`): the recorder waits for them and records failures as data instead of
aborting the run.

Durable results: with an upload target (every cloud stack has one, `infra.results_bucket`),
each recorder is followed by its step's upload Job (`experiments.upload`), and the next step
waits for the upload, so a finished step's results are in the bucket before anything else runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
from pulumi import ComponentResource, CustomTimeouts, ResourceOptions

from core import layout
from core.k8s import create
from core.versions import PYTHON
from experiments.base import ExperimentKind, RenderContext, Step, Workload
from experiments.pernode import PREPULL_STEP, render_prepull
from experiments.upload import UploadTarget, upload_job, uploader_service_account

RECORDER_MARGIN_SECONDS = 180  # the recorder outlives the workload's own deadline by this much
PULUMI_MARGIN_SECONDS = 900  # scheduling, image pulls of the recorder, log collection



def recorder_name(step: str) -> str:
    return f"rec-{step}"


def step_labels(ctx: RenderContext, step: str, role: str) -> dict[str, str]:
    return {**ctx.labels, layout.LABEL_STEP: step, layout.LABEL_ROLE: role}


def results_affinity() -> dict[str, Any]:
    """Schedule next to the event recorder: the results claim is ReadWriteOnce."""
    return {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {
                        "matchLabels": {layout.LABEL_ROLE: layout.ROLE_RESULTS}
                    },
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }


def shared_objects(ctx: RenderContext, results: UploadTarget | None = None
                   ) -> list[dict[str, Any]]:
    """Recorder service account, its namespaced RBAC and the scripts ConfigMap (and the
    uploader's service account, which has no RBAC at all, when results go to a bucket)."""
    here = Path(__file__).resolve().parent
    ns, sa = ctx.namespace, layout.STEP_RECORDER_SA
    meta = {"namespace": ns, "labels": dict(ctx.labels)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": sa, **meta},
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "pods/log", "events"],
                 "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["batch"], "resources": ["jobs"],
                 "verbs": ["get", "list", "watch", "delete"]},
                # The pre-pull is a DaemonSet the recorder deletes.
                {"apiGroups": ["apps"], "resources": ["daemonsets"],
                 "verbs": ["get", "list", "delete"]},
                {"apiGroups": ["flux-framework.org"], "resources": ["miniclusters", "metricsets"],
                 "verbs": ["get", "list", "delete"]},
                # MetricSet steps end with their JobSet, which the recorder watches.
                {"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"],
                 "verbs": ["get", "list", "watch", "delete"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": sa, **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": layout.RECORDER_SCRIPTS, **meta},
            "data": {
                "recorder.py": (here / "recorder.py").read_text(),
                "checks.py": (here / "checks.py").read_text(),
                "upload.sh": (here / "upload.sh").read_text(),
            },
        },
        *([uploader_service_account(results, ctx)] if results is not None else []),
    ]


def recorder_job(step: Step, kind: str, wl: Workload, ctx: RenderContext) -> dict[str, Any]:
    """The Job that waits for a step, saves its logs and status, and runs its validity checks."""
    name = recorder_name(step.name)
    labels = step_labels(ctx, step.name, "recorder")
    env = {
        "STEP": step.name,
        "KIND": kind,
        "NAMESPACE": ctx.namespace,
        "WAIT_FOR": json.dumps(wl.wait_for),
        "OWNERS": json.dumps(wl.owners),
        "POD_SELECTOR": wl.pod_selector,
        "DEADLINE_SECONDS": str(int(step.deadline_seconds + RECORDER_MARGIN_SECONDS)),
        "EXPECT": json.dumps(wl.expect, sort_keys=True),
        "RESULTS_DIR": layout.RESULTS_MOUNT,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ctx.namespace, "labels": labels},
        "spec": {
            "backoffLimit": 2,  # the API server may blip; recording is idempotent
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": layout.STEP_RECORDER_SA,
                    "affinity": results_affinity(),
                    "containers": [
                        {
                            "name": "recorder",
                            "image": PYTHON.ref,
                            "command": ["python", f"{layout.RECORDER_MOUNT}/recorder.py"],
                            "env": [{"name": k, "value": v} for k, v in env.items()],
                            "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
                            "volumeMounts": [
                                {"name": "results", "mountPath": layout.RESULTS_MOUNT},
                                {"name": "scripts", "mountPath": layout.RECORDER_MOUNT},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "results",
                         "persistentVolumeClaim": {"claimName": layout.RESULTS_PVC}},
                        {"name": "scripts", "configMap": {"name": layout.RECORDER_SCRIPTS}},
                    ],
                },
            },
        },
    }


def step_kind(kind: ExperimentKind, step: Step, params: Any, ctx: RenderContext) -> str:
    """The kind recorded in a step's status: a composite kind (smoke) names its member's."""
    member_of = getattr(kind, "member_of", None)
    if member_of is None or step.name == PREPULL_STEP:  # the study's own step, not a member's
        return kind.name
    return member_of(step, params, ctx.cluster)


def pulumi_timeout(step: Step) -> str:
    return f"{int(step.deadline_seconds + RECORDER_MARGIN_SECONDS + PULUMI_MARGIN_SECONDS)}s"


def step_timeouts(step: Step) -> CustomTimeouts:
    """Create and update timeouts of a step's resources, equal.

    A resumed `up` may update an object it created before a hard kill but never saved in the
    state; pulumi-kubernetes awaits an update like a create but with its own timeout, 10 minutes
    by default (provider/pkg/await/await.go), which would cut a long step short.
    """
    t = pulumi_timeout(step)
    return CustomTimeouts(create=t, update=t)


class Experiment(ComponentResource):
    """A kind's steps as Kubernetes resources, run strictly one after another."""

    def __init__(
        self,
        name: str,
        kind: ExperimentKind,
        params: Any,
        steps: list[Step],
        ctx: RenderContext,
        opts: ResourceOptions | None = None,
        results: UploadTarget | None = None,
    ):
        super().__init__("study:experiments:Experiment", name, None, opts)
        shared = [
            create(o, ResourceOptions(parent=self),
                   f"{name}-{o['kind'].lower()}-{o['metadata']['name']}")
            for o in shared_objects(ctx, results)
        ]
        previous: list[pulumi.Resource] = list(shared)
        prepare = getattr(kind, "prepare", None)  # resources every step shares (e.g. a server)
        if prepare is not None:
            previous += prepare(params, ctx, ResourceOptions(parent=self, depends_on=previous))
        self.recorders: list[pulumi.Resource] = []
        for step in steps:
            timeouts = step_timeouts(step)
            step_opts = ResourceOptions(parent=self, depends_on=previous, custom_timeouts=timeouts)
            if step.name == PREPULL_STEP:  # generic: the kind only names its helper images
                wl = render_prepull(step, ctx, step_opts)
            else:
                wl = kind.render(step, params, ctx, step_opts)
            rec = create(
                recorder_job(step, step_kind(kind, step, params, ctx), wl, ctx),
                ResourceOptions(
                    parent=self,
                    depends_on=[*previous, *wl.resources],
                    custom_timeouts=timeouts,
                ),
            )
            self.recorders.append(rec)
            previous = [rec]
            if results is not None:
                # The step's own timeouts, like every resource of the step (a resumed up may
                # update it); the upload itself takes a CLI image pull and a few files.
                previous = [rec, create(
                    upload_job(step.name, results, ctx, results_affinity()),
                    ResourceOptions(parent=self, depends_on=[rec, *shared, *results.depends_on],
                                    custom_timeouts=timeouts),
                )]
        self.register_outputs({"steps": [s.name for s in steps]})
