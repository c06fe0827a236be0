"""A retried `up` never renders a step that already finished.

The step recorders delete their steps' pull Jobs and DaemonSets outside Pulumi (their exited
containers would keep the layer snapshots, containerd internal/cri/server/images/
image_remove.go), so the refresh before a retry drops those objects from the state; rendering
the finished steps again would recreate them and re-run their pulls during a later step.
"""

from __future__ import annotations

from core.layout import RESUME_ENV
from study.lifecycle.interfaces import TransientError
from study.lifecycle.pulumi_backend import recorded_steps_of
from tests.doubles.lifecycle import raising
from tests.study.lifecycle.conftest import STEPS3


def test_a_retry_after_a_finished_step_resumes_after_it(harness):
    h = harness(steps=list(STEPS3))
    # Pulumi awaits the recorders in 10 s polls: hit 65 is inside the second step.
    h.world.faults.add("up.step", raising(TransientError("connection reset by peer")),
                       after=65)
    out = h.run()
    assert out.exit_code == 0, (out.message, out.details)
    envs = h.world.backend.envs
    assert len(envs) == 2
    assert RESUME_ENV not in envs[0]
    assert envs[1][RESUME_ENV] == "pull-cold"


def test_recorded_steps_are_completed_recorders_only():
    """pulumi-kubernetes keeps a Job whose await failed with `initErrors`; a pending create is
    listed in `pending_operations` (Pulumi checkpoint format, apitype.DeploymentV3)."""
    def job(name, **extra):
        return {"type": "kubernetes:batch/v1:Job",
                "urn": f"urn:pulumi:s::study-harness::study:experiments:Experiment$"
                       f"kubernetes:batch/v1:Job::{name}", **extra}

    dep = {
        "resources": [
            job("job-rec-prepull"),
            job("job-rec-pull-a-r1"),
            job("job-rec-pull-b-r1", initErrors=["timed out waiting to be Ready"]),
            job("job-rec-pull-c-r1"),
            job("job-pull-a-r1"),
            {"type": "kubernetes:core/v1:ConfigMap", "urn": "urn:x::job-rec-fake"},
        ],
        "pending_operations": [{"resource": job("job-rec-pull-c-r1"), "type": "creating"}],
    }
    assert recorded_steps_of(dep) == {"prepull", "pull-a-r1"}
