"""When each step runs on the chain `experiments.component` builds, and what the run waits for.

Why a model of its own: the plan's experiment time must be what `pulumi up` really waits for,
not the sum of the steps run alone. The chain, in the component's terms:

* a preparation step's workload starts as soon as what it needs exists (the namespace, the
  nodes, the earlier preparation steps it `needs`), beside the operators' installation;
* every recorder waits for the operators (the results volume is the event recorder's) and for
  its own workload; the preparation steps' recorders run side by side, a measured step's
  recorder after the recorder before it and the upload(s) before that one;
* a measured step's workload starts when the previous step's recorder has finished; that step's
  upload runs meanwhile;
* `pulumi up` returns after the last step's upload.

Each step's estimate is the step run alone (workload, recorder, upload); the harness's recorder
and upload figures are taken back out of it here. Times are seconds after the operators' phase
began (what `infra.provisioning` charges as `operators`), so the experiment's time is when the
last upload ends less that phase: a preparation step costs the run only its recorder, plus
whatever of its workload outlasts the operators.
"""

from __future__ import annotations

from dataclasses import dataclass

from experiments.base import Step


@dataclass(frozen=True)
class Placed:
    """One step on the chain: when its workload starts and ends, when its recorder ends, and
    `waits`, the seconds the run waits because of it (its recorder's end less the previous
    step's; the last step also carries the final upload). The steps' `waits` add up to the
    experiment's time."""

    step: Step
    starts: float
    work_ends: float
    recorded: float
    waits: float


def place(steps: list[Step] | tuple[Step, ...], beside_seconds: float, recorder: float,
          upload: float) -> list[Placed]:
    """Every step on the chain, in run order.

    `beside_seconds`: how long the operators take to be Ready after preparation may start (the
    operators' phase on a new cluster; less on a resized one, whose nodes come late).
    `recorder`, `upload`: the harness's own figures per step (`experiments.duration_model`).
    """
    out: list[Placed] = []
    work_ends: dict[str, float] = {}
    cursor = beside_seconds  # the last recorder's end; the operators' Ready to begin with
    upload_ends = 0.0  # the uploads the next measured recorder waits for
    last_upload = 0.0  # the latest upload's end: `pulumi up` returns after it
    for s in steps:
        work = max(0.0, s.estimated_seconds - recorder - upload)
        if s.preparation:
            # Steps it needs that a resumed run already finished are not waited for.
            starts = max([0.0, *(work_ends[n] for n in s.needs if n in work_ends)])
            ends = starts + work
            # Its recorder waits for the operators and its own workload only: preparation
            # recorders run side by side.
            recorded = max(beside_seconds, ends) + recorder
            upload_ends = max(upload_ends, recorded + upload)
        else:
            starts = cursor
            ends = starts + work
            recorded = max(cursor, ends, upload_ends) + recorder
            upload_ends = recorded + upload
        work_ends[s.name] = ends
        waits = max(0.0, recorded - cursor)
        out.append(Placed(s, starts, ends, recorded, waits))
        cursor = max(cursor, recorded)
        last_upload = max(last_upload, recorded + upload)
    if out:
        last = out[-1]
        out[-1] = Placed(last.step, last.starts, last.work_ends, last.recorded,
                         last.waits + last_upload - cursor)
    return out


def experiment_seconds(placed: list[Placed]) -> float:
    """From the operators' Ready to the last upload's end."""
    return sum(p.waits for p in placed)
