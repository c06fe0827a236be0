"""A retried `up` never renders a step that already finished.

The step recorders delete their steps' pull Jobs and DaemonSets outside Pulumi (their exited
containers would keep the layer snapshots, containerd internal/cri/server/images/
image_remove.go), so the refresh before a retry drops those objects from the state; rendering
the finished steps again would recreate them and re-run their pulls during a later step.

A finished step's upload runs beside the next step, so a retry may come while it runs: the
step stays skipped, but its upload Job is declared alone and awaited, since Pulumi deletes an
undeclared resource at the end of the update (pulumi/pulumi pkg/resource/deploy/
step_generator.go, `GenerateDeletes`) and re-awaits an unchanged one with init errors (an empty
update "to continue awaiting initialization", same file).
"""

from __future__ import annotations

import signal

from core.layout import RESUME_ENV, UPLOADS_ENV
from study.lifecycle.interfaces import TransientError
from study.lifecycle.pulumi_backend import pending_uploads_of, recorded_steps_of
from study.lifecycle.state import load_state
from tests.doubles.lifecycle import raising
from tests.study.lifecycle.conftest import STACK, STEPS3


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


def _while_uploading(h, step: str, action) -> None:
    """Run `action` once, at the first poll of `up` while `step`'s upload runs beside the next
    step (the window in which its recorder is in the state and its upload is not)."""
    backend, fired = h.world.backend, []

    def act() -> None:
        if not fired and backend.uploads.get(step) == "running":
            fired.append(h.world.clock.now())
            action()

    h.world.faults.add("up.step", act, times=10_000)


ALL_UPLOADED = {"pull-cold": "complete", "pull-warm": "complete", "pull-again": "complete"}


def test_a_retry_while_an_upload_runs_awaits_that_upload(harness):
    """The retry skips the recorded step (its pulls must not run again) but declares its upload
    alone, so Pulumi awaits it instead of deleting it unawaited at the end of the retry."""
    h = harness(steps=list(STEPS3))
    h.world.backend.upload_seconds = 30
    _while_uploading(h, "pull-cold", raising(TransientError("connection reset by peer")))
    out = h.run()
    assert out.exit_code == 0, (out.message, out.details)
    first, retry = h.world.backend.envs
    assert UPLOADS_ENV not in first
    assert (retry[RESUME_ENV], retry[UPLOADS_ENV]) == ("pull-cold", "pull-cold")
    assert h.world.backend.uploads == ALL_UPLOADED


def test_a_retry_after_the_upload_ended_skips_the_step_whole(harness):
    h = harness(steps=list(STEPS3))
    h.world.backend.upload_seconds = 30
    # Hit 71 is 80 s into the second step: the first step's upload ended 50 s before.
    h.world.faults.add("up.step", raising(TransientError("connection reset by peer")),
                       after=70)
    out = h.run()
    assert out.exit_code == 0, (out.message, out.details)
    retry = h.world.backend.envs[1]
    assert retry[RESUME_ENV] == "pull-cold" and UPLOADS_ENV not in retry
    assert h.world.backend.uploads == ALL_UPLOADED


def test_a_resume_on_a_kept_cluster_awaits_the_upload_left_running(harness):
    h = harness(steps=list(STEPS3))
    h.world.backend.upload_seconds = 30
    _while_uploading(h, "pull-cold", h.world.signals.action(signal.SIGINT))
    first = h.run(keep=True)
    assert first.exit_code == 130
    assert load_state(first.run_dir).finished_steps == ["pull-cold"]
    second = h.run(resume=True)
    assert second.exit_code == 0, (second.message, second.details)
    env = h.world.backend.envs[-1]
    assert (env[RESUME_ENV], env[UPLOADS_ENV]) == ("pull-cold", "pull-cold")
    assert h.world.backend.uploads == ALL_UPLOADED


def _job(name, **extra):
    return {"type": "kubernetes:batch/v1:Job",
            "urn": f"urn:pulumi:s::study-harness::study:experiments:Experiment$"
                   f"kubernetes:batch/v1:Job::{name}", **extra}


UPLOADER = {"type": "kubernetes:core/v1:ServiceAccount",
            "urn": f"urn:pulumi:{STACK}::study-harness::study:experiments:Experiment$"
                   f"kubernetes:core/v1:ServiceAccount::{STACK}-experiment-serviceaccount-"
                   f"results-{STACK}"}


def test_pending_uploads_are_recorded_steps_without_a_completed_upload():
    """A completed recorder's upload counts only once pulumi-kubernetes saw it Complete: one
    with `initErrors` (its await cut short), a pending create or none at all (the refresh
    before a retry clears pending creates) is still to be awaited; a failed recorder's step is
    not recorded, so its upload is not asked for (checkpoint format: apitype.DeploymentV3)."""
    dep = {
        "resources": [
            UPLOADER,
            _job("job-rec-a"), _job("job-upload-a"),
            _job("job-rec-b"), _job("job-upload-b", initErrors=["timed out waiting"]),
            _job("job-rec-c"), _job("job-upload-c"),
            _job("job-rec-d"),
            _job("job-rec-e", initErrors=["BackoffLimitExceeded"]),
        ],
        "pending_operations": [{"resource": _job("job-upload-c"), "type": "creating"}],
    }
    assert pending_uploads_of(dep, STACK) == {"b", "c", "d"}


def test_a_program_without_uploads_has_none_pending():
    """No uploader account in the state: the program has no upload target, and a recorded
    step is done with its recorder."""
    dep = {"resources": [_job("job-rec-a"), _job("job-rec-b")]}
    assert pending_uploads_of(dep, STACK) == set()


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
