"""What runs on the cluster: the stack's operators, then its experiment, all through one provider.

Order: the study namespace and the nodes held at size -> operators (each Ready: Deployments are
awaited) -> the experiment's measured steps, one at a time (`experiments.component`). The
experiment's preparation steps (pre-pull, mirror, priming pull) need no operator: their workloads
start beside the operators' installation, and only their recorders wait for the operators. An
Artifact Registry stack also gets its repository here, so the mirror step has somewhere to copy
to.

Exports: `operators` (name -> version), `steps` (step names in run order), `experiment` (kind,
params, per-step estimate and deadline) and `experiment_deadline_seconds`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pulumi
from pulumi import ResourceOptions

from core import layout, sdk


def _artifact_repository(spec, labels: dict[str, Any]):
    """The stack's Docker repository when its images live in Artifact Registry, else None."""
    from experiments.images import is_artifact_registry

    registry = getattr(spec.cluster, "image_registry", "")
    if spec.experiment is None or not is_artifact_registry(registry):
        return None
    artifactregistry = sdk.package("pulumi_gcp.artifactregistry", "repository")
    host, project, repo = registry.split("/")[:3]
    return artifactregistry.Repository(
        "study-images",
        project=project,
        location=host.removesuffix("-docker.pkg.dev"),
        repository_id=repo,
        format="DOCKER",
        labels=labels,
        # Images outlive one cluster; never delete a repository someone may share.
        opts=ResourceOptions(retain_on_delete=True),
    )


def completed_steps(steps: Sequence[Any] = ()) -> set[str]:
    """Steps a resumed or retried `study run` already finished: the program renders the rest.

    `study run` passes them in `layout.RESUME_ENV`: on `--resume` the steps an earlier attempt
    finished and collected, on a retried `up` also the steps recorded in the state. When they
    finished on a cluster that is gone (`layout.RESUME_NEW_NODES_ENV`), a node-local step of
    `steps` (`Step.node_local`: the pre-pull, whose images were in the old nodes' caches) is not
    among them: the new nodes need it. A plain `pulumi up` sees none and renders every step
    (the finished ones are unchanged in its state).
    """
    done = {s.strip() for s in os.environ.get(layout.RESUME_ENV, "").split(",") if s.strip()}
    if os.environ.get(layout.RESUME_NEW_NODES_ENV):
        done -= {s.name for s in steps if s.node_local}
    return done


def uploads_to_await() -> set[str]:
    """Completed steps whose upload Job Pulumi has not seen complete (`layout.UPLOADS_ENV`)."""
    return {s.strip() for s in os.environ.get(layout.UPLOADS_ENV, "").split(",") if s.strip()}


def pending_uploads(experiment, skipped: Sequence[Any], ctx, results) -> list[str]:
    """The upload Job, alone, of each skipped step `study run` says is still uploading.

    A retried `up` skips the steps recorded in the state, but a step's upload runs beside the
    next step: skipping it whole would leave its in-state upload Job undeclared, and Pulumi
    deletes an undeclared resource without awaiting it, so a failed or never-started upload would
    go unnoticed. Declared again (same parent, same name, so the same URN), Pulumi awaits it:
    an update of one whose await was cut short (`initErrors`: an unchanged resource with them
    gets an empty update "to continue awaiting initialization", pulumi/pulumi
    pkg/resource/deploy/step_generator.go), a create (adopting the Job if it
    exists, `upsert_existing_objects`) of one whose pending create the refresh dropped. The step's
    workload and recorder stay undeclared: its pulls are over and must not run again. Every
    object the Job uses (the uploader account, the scripts) is in the state already, since the
    step's recorder waited for them. Unlike a step's own upload, no later recorder waits for it;
    `up` still fails if it does.
    """
    from experiments.component import declare_upload

    wanted = uploads_to_await()
    if results is None or not wanted:
        return []
    out = []
    for step in skipped:
        if step.name in wanted:
            declare_upload(step, results, ctx, experiment, [])
            out.append(step.name)
    return out


def deploy(stack: str, spec, provider, namespace, labels: dict[str, Any],
           results=None, after: Sequence[pulumi.Resource] = ()) -> None:
    """Operators, then the experiment's steps; the steps also wait for `after` (the nodes held
    at their declared size)."""
    from core.versions import OPERATORS
    from infra.estimate import (
        cluster_facts,
        experiment_deadline_seconds,
        experiment_params,
        experiment_steps,
    )
    from infra.operators.install import install_operators

    k8s_opts = ResourceOptions(provider=provider, depends_on=[namespace])
    operators = install_operators(list(spec.operators), k8s_opts)
    pulumi.export("operators", {n: OPERATORS[n].version for n in operators})
    if spec.experiment is None:
        pulumi.export("steps", [])
        return
    from experiments.base import RenderContext
    from experiments.component import Experiment

    kind, params = experiment_params(spec)
    steps = experiment_steps(spec)
    done = completed_steps(steps)
    ctx = RenderContext(
        stack=stack,
        namespace=layout.NAMESPACE,
        cluster=cluster_facts(spec),
        labels={
            layout.LABEL_STACK: stack,
            layout.LABEL_EXPERIMENT: spec.study,
            layout.LABEL_KIND: kind.name,
        },
    )
    # What every step needs; the operators are what only measured steps and recorders need.
    needs: list[pulumi.Resource] = [namespace, *after]
    repo = _artifact_repository(spec, labels)
    if repo is not None:
        needs.append(repo)
    experiment = Experiment(
        f"{stack}-experiment",
        kind,
        params,
        [s for s in steps if s.name not in done],
        ctx,
        ResourceOptions(provider=provider, depends_on=needs),
        results=results,
        operators=list(operators.values()),
    )
    awaited = pending_uploads(experiment, [s for s in steps if s.name in done], ctx, results)
    pulumi.export("steps", [s.name for s in steps])
    pulumi.export("skipped_steps", [s.name for s in steps if s.name in done])
    pulumi.export("pending_uploads", awaited)
    pulumi.export("experiment_deadline_seconds", experiment_deadline_seconds(spec))
    pulumi.export(
        "experiment",
        {
            "kind": kind.name,
            "params": params.model_dump(mode="json"),
            "steps": [
                {"name": s.name, "estimated_seconds": s.estimated_seconds,
                 "deadline_seconds": s.deadline_seconds, "preparation": s.preparation}
                for s in steps
            ],
        },
    )
