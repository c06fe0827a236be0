"""The upload Job that copies a finished step's results to the results bucket.

Why a Job of its own, after the step's recorder: the recorder (standard library only, in a
python image) writes the files and their MANIFEST.json on the results volume; uploading needs the
cloud's own client, which lives in the cloud's CLI image (`upload.sh` runs `gcloud storage cp` or
`aws s3 cp`; no hand-written request signing). A failed upload is retried by the Job without
re-running the recorder. The next step's workload starts beside it and the next step's recorder
waits for it (`experiments.component`), so a step's results are in the bucket at most one step
late and a failed upload stops the run one step later. The pod runs as the stack's own
uploader service account (`results-<stack>`, infra.service_accounts: a name shared by every stack
would, on GKE, let any cluster of the project act as every stack's writer), the only one the
cloud identity is bound to and one without any Kubernetes RBAC, with the results volume
read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import layout
from core.versions import AWS_CLI, GCLOUD

UPLOAD_FILES = ("log.txt", "status.json", "checks.json", "events.jsonl")
MANIFEST = "MANIFEST.json"
# Which step an upload Job carries. Not the step label: an upload is no part of the step's
# workload, and stopping the experiment (which deletes the step-labelled Jobs) must leave it
# running so a finished step's results still leave the cluster.
LABEL_UPLOADS = f"{layout.LABEL_PREFIX}/uploads"


@dataclass(frozen=True)
class UploadTarget:
    """Where and as whom a stack's steps upload (built by `infra.results_bucket.wire`)."""

    cloud: str  # gke | eks
    bucket: str
    stack: str
    env: list[dict[str, Any]]  # RUN_ID and RESULTS_URL
    service_account: str  # the stack's uploader KSA, the one the cloud identity trusts
    sa_annotations: dict[str, str] = field(default_factory=dict)
    region: str = ""  # EKS: the bucket's region, for the CLI
    depends_on: list[Any] = field(default_factory=list)  # run identity and the write grants

    @property
    def image(self) -> str:
        return uploader_image(self.cloud)


def uploader_image(cloud: str) -> str:
    """The cloud's own CLI image the upload runs (pre-pulled with the helper images, so the
    upload beside the next step's start never pulls it cold on the results node)."""
    return (GCLOUD if cloud == "gke" else AWS_CLI).ref


def upload_name(step: str) -> str:
    return f"upload-{step}"


def uploader_service_account(target: UploadTarget, ctx) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": target.service_account, "namespace": ctx.namespace,
                            "labels": dict(ctx.labels)}
    if target.sa_annotations:
        meta["annotations"] = dict(target.sa_annotations)
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


def upload_job(step: str, target: UploadTarget, ctx, affinity: dict[str, Any]) -> dict[str, Any]:
    """The Job running `upload.sh` for `step`, next to the results volume (ReadWriteOnce)."""
    from core.k8s import batch_job

    labels = {**ctx.labels, LABEL_UPLOADS: step, layout.LABEL_ROLE: "upload"}
    env = [
        *target.env,
        {"name": "STEP", "value": step},
        {"name": "RESULTS_DIR", "value": layout.RESULTS_MOUNT},
    ]
    if target.cloud == "gke":
        env.append({"name": "CLOUDSDK_CORE_DISABLE_PROMPTS", "value": "1"})
    else:
        env.append({"name": "AWS_REGION", "value": target.region})
    pod = {
        # The token stays mounted (Workload Identity on GKE has been reported to fail without
        # it, argoproj/argo-workflows #12781); the account has no Kubernetes RBAC, so the token
        # can do nothing in the cluster.
        "serviceAccountName": target.service_account,
        "affinity": affinity,
        "containers": [
            {
                "name": "upload",
                "image": target.image,
                "command": ["sh", f"{layout.RECORDER_MOUNT}/upload.sh"],
                "env": env,
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                "volumeMounts": [
                    {"name": "results", "mountPath": layout.RESULTS_MOUNT, "readOnly": True},
                    {"name": "scripts", "mountPath": layout.RECORDER_MOUNT},
                ],
            }
        ],
        "volumes": [
            {"name": "results", "persistentVolumeClaim": {"claimName": layout.RESULTS_PVC}},
            {"name": "scripts", "configMap": {"name": layout.RECORDER_SCRIPTS}},
        ],
    }
    # The identity may take a minute to propagate after creation.
    return batch_job(upload_name(step), ctx.namespace, labels, pod, backoffLimit=4)
