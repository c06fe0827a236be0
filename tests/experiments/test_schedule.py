"""The chain's timeline: what the run waits for, step by step (`experiments.schedule`).

Each case is worked by hand from the chain's rules (recorder 7 s, upload 9 s, operators 180 s):
a step's workload is its estimate less its recorder and upload.
"""

from __future__ import annotations

import pytest

from experiments.base import Step, check_step_names
from experiments.schedule import experiment_seconds, place

R, U, OPS = 7.0, 9.0, 180.0


def measured(name: str, estimate: float) -> Step:
    return Step(name, estimate, 10 * estimate, work_seconds=estimate - R - U - 5)


def prep(name: str, estimate: float, needs: tuple[str, ...] = ()) -> Step:
    return Step(name, estimate, 10 * estimate, work_seconds=0.0, preparation=True, needs=needs)


def test_measured_steps_overlap_each_upload_with_the_next_step():
    """Three 100 s steps: 84 s of workload and a 7 s recorder each, each upload hidden behind
    the next workload, and one final upload: 3 x 91 + 9."""
    placed = place([measured(n, 100.0) for n in "abc"], OPS, R, U)
    assert [p.starts for p in placed] == [180.0, 271.0, 362.0]
    assert [p.recorded for p in placed] == [271.0, 362.0, 453.0]
    assert [p.waits for p in placed] == [91.0, 91.0, 100.0]
    assert experiment_seconds(placed) == 3 * 91 + 9


def test_a_recorder_waits_for_the_previous_upload_when_the_workload_is_shorter():
    """A 20 s step (4 s of workload) after a 100 s one: its recorder waits for the upload that
    ends 9 s after the first recorder, 5 s after its own workload."""
    placed = place([measured("a", 100.0), measured("b", 20.0)], OPS, R, U)
    assert placed[1].work_ends == 271.0 + 4
    assert placed[1].recorded == 271.0 + 9 + 7
    assert placed[1].waits == 16 + 9  # its recorder after the upload, then the last upload


def test_preparation_within_the_operators_costs_its_recorder():
    """A 60 s pre-pull (44 s of workload) ends long before the operators: the run waits for its
    recorder only; the first measured step starts after it and waits for its upload's end."""
    placed = place([prep("prepull", 60.0), measured("a", 100.0)], OPS, R, U)
    assert placed[0].starts == 0.0 and placed[0].work_ends == 44.0
    assert placed[0].waits == 7.0
    assert placed[1].starts == 187.0
    assert experiment_seconds(placed) == 7 + 91 + 9


def test_preparation_that_outlasts_the_operators_costs_the_rest():
    """A 316 s mirror (300 s of workload) outlasts the 180 s phase by 120 s."""
    placed = place([prep("mirror-images", 316.0), measured("a", 100.0)], OPS, R, U)
    assert placed[0].waits == 120 + 7
    assert experiment_seconds(placed) == 127 + 91 + 9


def test_a_needed_step_orders_the_workloads_and_preparation_is_recorded_side_by_side():
    """prepull (4 s of workload), mirror (134 s), prime (18 s) after the mirror: prime's workload
    runs from 134 s to 152 s; the three recorders run together once the operators are Ready
    (180 + 7 = 187), so the run waits 7 s for all of them; the first measured step starts then
    and its recorder waits for their uploads (187 + 9 = 196) and its own 84 s of work."""
    steps = [prep("prepull", 20.0), prep("mirror-images", 150.0),
             prep("prime-images", 34.0, needs=("mirror-images",)), measured("a", 100.0)]
    check_step_names(steps)
    placed = place(steps, OPS, R, U)
    assert placed[2].starts == 134.0 and placed[2].work_ends == 152.0
    assert [p.recorded for p in placed[:3]] == [187.0, 187.0, 187.0]
    assert [p.waits for p in placed[:3]] == [7.0, 0.0, 0.0]
    assert placed[3].starts == 187.0 and placed[3].recorded == 187.0 + 84 + 7
    assert experiment_seconds(placed) == 7 + 91 + 9


def test_a_preparation_recorder_that_ends_last_carries_the_wait():
    """A mirror outlasting the operators by 120 s is recorded after the pre-pull: the pre-pull's
    recorder costs 7 s, the mirror's the rest of its workload and its own recorder."""
    steps = [prep("prepull", 20.0), prep("mirror-images", 316.0), measured("a", 100.0)]
    placed = place(steps, OPS, R, U)
    assert [p.recorded for p in placed[:2]] == [187.0, 307.0]
    assert [p.waits for p in placed[:2]] == [7.0, 120.0]
    assert placed[2].starts == 307.0


def test_a_needed_step_a_resumed_run_finished_is_not_waited_for():
    placed = place([prep("prime-images", 34.0, needs=("mirror-images",))], OPS, R, U)
    assert placed[0].starts == 0.0


def test_a_shorter_operators_phase_shows_more_of_the_preparation():
    """With no operators' phase left (a resized campaign member), the mirror's 134 s of
    workload are on the chain: its recorder ends at 141 s, then 91 s and the final upload."""
    steps = [prep("mirror-images", 150.0), measured("a", 100.0)]
    assert experiment_seconds(place(steps, 0.0, R, U)) == 141 + 91 + 9
    assert (experiment_seconds(place(steps, 0.0, R, U))
            - experiment_seconds(place(steps, OPS, R, U))) == 134.0


def test_the_waits_add_up_to_the_experiment():
    steps = [prep("prepull", 20.0), measured("a", 100.0), measured("b", 20.0),
             measured("c", 300.0)]
    placed = place(steps, OPS, R, U)
    assert experiment_seconds(placed) == placed[-1].recorded + U - OPS


@pytest.mark.parametrize("steps, problem", [
    ([prep("prime-images", 30.0, needs=("mirror-images",))], "needs ['mirror-images']"),
    ([Step("a", 10.0, 100.0), Step("b", 10.0, 100.0, needs=("a",))], "only a preparation"),
    ([prep("b", 10.0, needs=("a",)), prep("a", 10.0)], "needs ['a']"),
    ([Step("a", 10.0, 100.0), prep("b", 10.0)], "preparation steps come first"),
])
def test_needs_name_earlier_preparation_steps(steps, problem):
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        check_step_names(steps)
