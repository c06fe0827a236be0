"""Where a run's evidence lives inside the cluster, so it survives a disconnected laptop.

The experiment writes here and `study collect` reads from here; this module is the one contract
between them. Everything sits on one PersistentVolumeClaim in the study namespace:

    /results/events/events.jsonl          every Kubernetes Event (the event recorder's file sink)
    /results/steps/<step>/log.txt         the step's own output
    /results/steps/<step>/status.json     {step, kind, status, started_at, finished_at, ...}

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
