"""The one generic mechanism that turns any kind's ordered steps into Kubernetes resources.

`Experiment` (type token `study:experiments:Experiment`) renders every step with its kind and
chains the steps with `depends_on`: a measured step's resources are created only after the
previous step's recorder Job has completed, and pulumi-kubernetes awaits a `batch/v1` Job until
Complete, so measured steps run one at a time and `pulumi up` returns when the last step has been
recorded and uploaded. Each recorder Job's create timeout is its step's deadline (plus a margin
for scheduling); the workload itself carries the deadline too (`activeDeadlineSeconds` /
`deadlineSeconds`), and the recorder deletes it if it is still running.

Preparation beside the operators: a step that measures nothing (`Step.preparation`: the pre-pull,
the registry mirror, the priming pull) has its workload created as soon as what it really needs
exists: the namespace, the nodes held at size and the Artifact Registry repository (what
`infra.workloads` hands the component), and the workloads of the earlier preparation steps it
`needs`. Those workloads are awaited by Pulumi (a DaemonSet until every node's pod is Ready, a
Job until Complete), so "needs" means finished, and a preparation that fails stops `pulumi up`
instead of leaving a measured step to fail on a missing image. Only the measured steps, the
recorders and the kind's shared `prepare` resources wait for the operators, since every
recorder mounts the results volume the event recorder (an operator) holds, and that recorder
lists the events the API server still holds when it starts (tests/experiments/test_chain.py
names the upstream source). The preparation steps' recorders then run side by side (they record
work that measured nothing, so no order among them matters); the first measured step starts when
all of them have finished, and its recorder waits for all their uploads.

Uploads off the measured path: with an upload target (every cloud stack has one,
`infra.results_bucket`), each recorder is followed by its step's upload Job
(`experiments.upload`). Step i+1's workload starts when step i's recorder has finished, while
step i's upload runs; step i+1's recorder (and so everything after it) waits for step i's upload,
and Pulumi awaits the last upload before `up` returns. So a step's results are in the bucket at
most one step late, and a failed upload still stops the run, one step later.

Does the upload perturb the next step? It runs on the results node (next to the event recorder,
whose volume it reads) while the next step starts there and on every other node. It pulls
nothing: its CLI image is pre-pulled on every node with the helper images
(`experiments.pernode.with_prepull`). What it adds on that one node is a CLI process (100m CPU
requested) and egress of the step's files to the bucket, `events.jsonl` (every event so far)
the largest. A pulling step starts with each pull pod's cache clear (its init container, 4 s in
the duration model), so the upload (9 s there) overlaps the first seconds of one node's pull of
N, as egress beside the pull's registry ingress and disk writes: it can only make that node's
pull slower, never pass a warm pull for a cold one. The seed's own loop had the same neighbour:
its event exporter's log streamed off one node (`kubectl logs -f`) through every pull.
A MiniCluster or MetricSet step begins with the operator's pods starting and Flux or sshd
bootstrapping (the MiniCluster start alone is about 40 s in the seed data), before any timed
event, and the upload has ended by then.

Resume: every Kubernetes name is derived from the step name alone (no random suffixes, no
timestamps), so a second `pulumi up` after an interruption finds the finished steps' Jobs in its
state unchanged and creates only the missing ones. A finished step whose upload was still running
when `up` stopped is skipped but its upload Job is declared again on its own, so Pulumi awaits it
instead of deleting it (`infra.workloads.pending_uploads`). Measured workload Jobs skip
Pulumi's await (`pulumi.com/skipAwait`): the recorder waits for them and records failures as data
instead of aborting the run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi import ComponentResource, CustomTimeouts, ResourceOptions

from core import layout
from core.k8s import batch_job, create
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
                # The pre-pull is a DaemonSet the recorder deletes; it watches every object it
                # deletes until it is gone (without `watch` it falls back to 1 s polls).
                {"apiGroups": ["apps"], "resources": ["daemonsets"],
                 "verbs": ["get", "list", "watch", "delete"]},
                {"apiGroups": ["flux-framework.org"], "resources": ["miniclusters", "metricsets"],
                 "verbs": ["get", "list", "watch", "delete"]},
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
    pod = {
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
            {"name": "results", "persistentVolumeClaim": {"claimName": layout.RESULTS_PVC}},
            {"name": "scripts", "configMap": {"name": layout.RECORDER_SCRIPTS}},
        ],
    }
    # Retries: the API server may blip, a node may go. A retry resumes from the phase the
    # attempt before it recorded (experiments/recorder.py), and a stop fails the Job through
    # this limit: no podFailurePolicy, whose Failed reason pulumi-kubernetes' Job await does not
    # report (see the recorder's docstring).
    return batch_job(name, ctx.namespace, labels, pod, backoffLimit=2)


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


def declare_upload(step: Step, results: UploadTarget, ctx: RenderContext,
                   parent: pulumi.Resource, after: Sequence[pulumi.Resource]) -> pulumi.Resource:
    """Step `step`'s upload Job, a child of the Experiment `parent` (so its URN is the same
    whether the whole step is declared or, on a retried `up`, its upload alone), after `after`
    and what the upload target needs, with the step's own timeouts (a resumed up may update it).
    """
    return create(
        upload_job(step.name, results, ctx, results_affinity()),
        ResourceOptions(parent=parent, depends_on=[*after, *results.depends_on],
                        custom_timeouts=step_timeouts(step)),
    )


class Experiment(ComponentResource):
    """A kind's steps as Kubernetes resources: preparation beside the operators, then the
    measured steps one after another, each upload overlapping the next step's start.

    `opts.depends_on` is what every step needs (namespace, nodes, repository); `operators` is
    what only the measured steps and the recorders wait for.
    """

    def __init__(
        self,
        name: str,
        kind: ExperimentKind,
        params: Any,
        steps: list[Step],
        ctx: RenderContext,
        opts: ResourceOptions | None = None,
        results: UploadTarget | None = None,
        operators: Sequence[pulumi.Resource] = (),
    ):
        super().__init__("study:experiments:Experiment", name, None, opts)
        shared = [
            create(o, ResourceOptions(parent=self),
                   f"{name}-{o['kind'].lower()}-{o['metadata']['name']}")
            for o in shared_objects(ctx, results)
        ]
        gate: list[pulumi.Resource] = [*shared, *operators]  # every recorder's, at least
        previous: list[pulumi.Resource] = list(gate)
        prepare = getattr(kind, "prepare", None)  # resources every step shares (e.g. a server)
        if prepare is not None:
            previous += prepare(params, ctx, ResourceOptions(parent=self, depends_on=gate))
        self.recorders: list[pulumi.Resource] = []
        self.uploads: list[pulumi.Resource] = []
        self.workloads: dict[str, list[pulumi.Resource]] = {}
        last_upload: list[pulumi.Resource] = []
        start = list(previous)  # what a preparation step's recorder waits for besides its work
        prepared: list[pulumi.Resource] = []  # preparation recorders (the first measured waits)
        prepared_uploads: list[pulumi.Resource] = []
        for step in steps:
            timeouts = step_timeouts(step)
            if step.preparation:
                # Beside the operators: only what the step needs (a needed step a resumed run
                # already finished is not rendered, so there is nothing to wait for).
                after = [r for n in step.needs for r in self.workloads.get(n, [])]
            else:
                if prepared:  # the first measured step: after every preparation is recorded
                    previous, last_upload = prepared, prepared_uploads
                    prepared, prepared_uploads = [], []
                after = previous
            step_opts = ResourceOptions(parent=self, depends_on=after, custom_timeouts=timeouts)
            if step.name == PREPULL_STEP:  # generic: the kind only names its helper images
                wl = render_prepull(step, ctx, step_opts)
            else:
                wl = kind.render(step, params, ctx, step_opts)
            self.workloads[step.name] = list(wl.resources)
            # Preparation measures nothing, so its recorders run side by side once the results
            # volume is there; a measured step's recorder runs in turn, after the upload before.
            rec_after = start if step.preparation else [*previous, *last_upload]
            rec = create(
                recorder_job(step, step_kind(kind, step, params, ctx), wl, ctx),
                ResourceOptions(
                    parent=self,
                    depends_on=[*rec_after, *wl.resources],
                    custom_timeouts=timeouts,
                ),
            )
            self.recorders.append(rec)
            if step.preparation:
                prepared.append(rec)
            else:
                previous = [rec]
            if results is not None:
                # The upload takes its CLI's start and a few files. The next step's workload
                # does not wait for it; the next recorder does.
                up = declare_upload(step, results, ctx, self, [rec, *shared])
                self.uploads.append(up)
                if step.preparation:
                    prepared_uploads.append(up)
                else:
                    last_upload = [up]
        self.register_outputs({"steps": [s.name for s in steps]})
