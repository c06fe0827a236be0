"""One record type: every comparable measurement with its unit, direction and whose it is."""

from __future__ import annotations

from analysis.compare import observations
from analysis.load import load_run
from analysis.records import RECORD_COLUMNS, Record, as_records, records
from analysis.rundir import RunDir


def test_a_runs_records_carry_unit_direction_and_identity(harness_run) -> None:
    data = load_run(RunDir.open(harness_run))
    table = records(data)
    assert list(table.columns) == RECORD_COLUMNS
    counts = table.groupby(["metric", "unit", "direction"]).size().to_dict()
    assert counts == {("osu_wall_seconds", "s", "lower"): 22, ("pull_seconds", "s", "lower"): 8,
                      ("time_to_started_seconds", "s", "lower"): 8,
                      ("topology_seconds", "s", "lower"): 26}
    first = as_records(table)[0]
    assert first == Record("pull_seconds", 6.959, "s", {
        "key": "9-layers-size-1176249324-bytes", "stack": "gke-small", "run_id": "r-0001",
        "run": "r-0001", "step": "pull-small", "node": "gke-test-cluster-default-pool-9de60b8d-084f",
        "image": "9-layers-size-1176249324-bytes"})
    topo = as_records(table[table["metric"] == "topology_seconds"])[0]
    assert topo.labels == {"key": "create-archive size_gb=1 kary-1-5", "stack": "gke-small",
                           "run_id": "r-0001", "run": "r-0001", "step": None, "node": None,
                           "image": None}


def test_compare_observations_are_a_view_of_the_records(harness_run) -> None:
    data = load_run(RunDir.open(harness_run))
    obs = observations(data)
    table = records(data)
    assert obs.to_dict("records") == table[["metric", "key", "value"]].to_dict("records")
