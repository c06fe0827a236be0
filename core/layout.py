"""Where a run's evidence lives inside the cluster, so it survives a disconnected laptop.

The experiment writes here and `study collect` reads from here; this module is the one contract
between them. Everything sits on one PersistentVolumeClaim in the study namespace:

    /results/events/events.jsonl          every Kubernetes Event (the event recorder's file sink)
    /results/steps/<step>/log.txt         the step's own output
    /results/steps/<step>/status.json     {step, kind, status, started_at, finished_at, ...}
    /results/steps/<step>/pods.json       [{name, node, phase, started_at}] (the step's pods)

status.json also carries `checks` (experiments.checks verdicts: pulls, pods_per_node, overlay,
each with `valid`, `completeness` and `problems`) and `timings` (the STUDY-TIMING lines).

Step names are DNS-1123 labels; statuses are `pending`, `running`, `succeeded`, `failed`,
`invalid` (ran, but a validity check failed) and `deadline` (stopped at its deadline).
"""

from __future__ import annotations

NAMESPACE = "study-harness"
RESULTS_PVC = "study-results"
RESULTS_MOUNT = "/results"
EVENTS_FILE = f"{RESULTS_MOUNT}/events/events.jsonl"
STEPS_DIR = f"{RESULTS_MOUNT}/steps"

# Labels on every object the experiment creates (selection for collection and cleanup).
LABEL_PREFIX = "study-harness.io"
LABEL_STACK = f"{LABEL_PREFIX}/stack"
LABEL_STEP = f"{LABEL_PREFIX}/step"
LABEL_EXPERIMENT = f"{LABEL_PREFIX}/experiment"

STEP_STATUSES = ("pending", "running", "succeeded", "failed", "invalid", "deadline")


def step_dir(step: str) -> str:
    return f"{STEPS_DIR}/{step}"


# --- the experiment renderer's names; the names above are the collector's contract ------------
LABEL_ROLE = f"{LABEL_PREFIX}/role"  # results | workload | cache-clear | recorder | mirror | server
LABEL_KIND = f"{LABEL_PREFIX}/kind"
ROLE_RESULTS = "results"  # the event recorder pod: the one pod that always mounts the PVC
EVENT_RECORDER = "study-event-recorder"
STEP_RECORDER_SA = "study-step-recorder"
RECORDER_SCRIPTS = "study-recorder-scripts"  # ConfigMap: recorder.py + checks.py, at /recorder
RECORDER_MOUNT = "/recorder"
STEP_PODS_FILE = "pods.json"  # /results/steps/<step>/pods.json: pod -> node, phase, times
TIMING_PREFIX = "STUDY-TIMING "  # a machine-readable timing line in a step log: prefix + JSON


def step_status_file(step: str) -> str:
    return f"{step_dir(step)}/status.json"


def step_log_file(step: str) -> str:
    return f"{step_dir(step)}/log.txt"


# `study run` tells the program which steps are done (comma-separated step names), so it renders
# only the rest: on `--resume` the steps an earlier attempt finished and collected, on a retried
# `up` also those recorded in the state. A step that stopped the run is never among them.
RESUME_ENV = "STUDY_COMPLETED_STEPS"
# Set ("1") when those steps finished on a cluster that is gone: the nodes are new, so a step
# whose work lives on the nodes (`experiments.base.Step.node_local`, the pre-pull) runs again.
# Unset for an `up` on the cluster the steps ran on (a retried `up`, a kept cluster, plain
# `pulumi up`), where every completed step stays done.
RESUME_NEW_NODES_ENV = "STUDY_RESUME_ON_NEW_NODES"
# Completed steps (among RESUME_ENV's) whose upload Job Pulumi has not yet seen complete: the
# program renders that Job alone, so Pulumi awaits it instead of deleting it as a step it no
# longer declares (an `up` retried while the upload ran beside the next step).
UPLOADS_ENV = "STUDY_PENDING_UPLOADS"
