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


# --- Records are what parsers yield; the tidy tables are views of them ----------------------

IDENTITY = {"stack": "gke-small", "run_id": "r-0001", "run": "r-0001"}


def _first(table, name: str) -> dict:
    """The first record of one table, without the labels other tables' records add."""
    rows = table[table["table"] == name]
    return {k: v for k, v in rows.iloc[0].to_dict().items() if not _blank(v)}


def _blank(value) -> bool:
    import pandas as pd

    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def test_each_kinds_records_carry_metric_unit_direction_and_labels(harness_run) -> None:
    import pandas as pd

    from analysis.records import LONG_COLUMNS, combined_records

    table = combined_records([load_run(RunDir.open(harness_run))])
    assert list(table.columns[:len(LONG_COLUMNS)]) == LONG_COLUMNS
    counts = (table.groupby(["table", "metric", "unit", "direction"], observed=True).size()
              .to_dict())
    assert counts == {
        ("osu_metrics", "osu_avg_latency_us", "us", "lower"): 41,
        ("osu_metrics", "osu_avg_ms", "ms", "lower"): 1,
        ("osu_metrics", "osu_bandwidth_mb_s", "MB/s", "higher"): 115,
        ("osu_metrics", "osu_compute_us", "us", "lower"): 1,
        ("osu_metrics", "osu_latency_us", "us", "lower"): 190,
        ("osu_metrics", "osu_max_ms", "ms", "lower"): 1,
        ("osu_metrics", "osu_mb_s", "MB/s", "higher"): 23,
        ("osu_metrics", "osu_messages_s", "messages/s", "higher"): 23,
        ("osu_metrics", "osu_min_ms", "ms", "lower"): 1,
        ("osu_metrics", "osu_overall_us", "us", "lower"): 1,
        ("osu_metrics", "osu_overlap_pct", "%", "higher"): 1,
        ("osu_metrics", "osu_pure_comm_us", "us", "lower"): 1,
        ("osu_wall", "osu_wall_seconds", "s", "lower"): 22,
        ("pulls", "pull_seconds", "s", "lower"): 10,
        ("pulls", "pull_seconds_waiting", "s", "lower"): 10,
        ("pulls", "time_to_started_seconds", "s", "lower"): 10,
        ("topology", "topology_seconds", "s", "lower"): 26,
    }
    utc = "UTC"
    assert _first(table, "pulls") == {
        "table": "pulls", "observation": 0, "metric": "pull_seconds", "value": 0.998,
        "unit": "s", "direction": "lower", **IDENTITY,
        "node": "gke-test-cluster-default-pool-9de60b8d-nkdg",
        "image": "kube-state-metrics:v2.7.0-gke.64", "nodes": 4,
        "image_ref": "us-central1-artifactregistry.gcr.io/gke-release/gke-release/"
                     "kube-state-metrics:v2.7.0-gke.64@sha256:9b7f4be917b3a3c68ae75b47efa0081f"
                     "23e163d7c94de053bffb0b2884763cdf",
        "role": "system", "size_bytes": 12923526, "compressed_bytes": 12923526,
        "namespace": "gke-managed-cim", "pod": "kube-state-metrics-0",
        "container": "kube-state-metrics", "init_container": False, "cached": False,
        "message_format": "size",
        "scheduled_at": pd.Timestamp("2024-11-10 06:09:14", tz=utc),
        "pulling_at": pd.Timestamp("2024-11-10 06:09:16", tz=utc),
        "pulled_at": pd.Timestamp("2024-11-10 06:09:18", tz=utc),
        "created_at": pd.Timestamp("2024-11-10 06:09:18", tz=utc),
        "started_at": pd.Timestamp("2024-11-10 06:09:18", tz=utc)}
    studied = table[(table["table"] == "pulls") & (table["role"] == "studied")]
    assert sorted(set(studied["step"].dropna())) == ["pull-small"]
    assert _first(table, "osu_wall") == {
        "table": "osu_wall", "observation": 0, "metric": "osu_wall_seconds", "value": 48.187,
        "unit": "s", "direction": "lower", **IDENTITY, "step": "osu", "nodes": 4,
        "benchmark": "osu_get_acc_latency", "np": 2, "complete": True}
    assert _first(table, "osu_metrics") == {
        "table": "osu_metrics", "observation": 0, "metric": "osu_latency_us", "value": 186.57,
        "unit": "us", "direction": "lower", **IDENTITY, "step": "osu", "nodes": 4,
        "size_bytes": 1,
        "benchmark": "osu_get_acc_latency", "np": 2}
    assert _first(table, "topology") == {
        "table": "topology", "observation": 0, "metric": "topology_seconds", "value": 4.016,
        "unit": "s", "direction": "lower", **IDENTITY, "step": "topology-kary-1", "nodes": 5,
        "uid": "kary-1-5",
        "topology": "kary-1", "iteration": 3, "event": "create-archive", "size_gb": 1,
        "tree_depth": 4, "max_fanout": 1}


def test_app_records_carry_the_apps_own_unit_and_fom_name() -> None:
    from seed_data import STREAMING

    from analysis.records import combined_records

    table = combined_records([load_run(RunDir.open(STREAMING))])
    source = ("us_central1_docker_pkg_dev_llnl_flux_converged_computing_ensemble_amg2023_"
              "spack_skylake-f82c1339.log")
    identity = {"run": "streaming-4"}
    assert _first(table, "app_times") == {
        "table": "app_times", "observation": 0, "metric": "app_seconds", "value": 23.4,
        "unit": "s", "direction": "lower", **identity, "app": "amg", "kind": "fluxsubmit",
        "source": source}
    assert _first(table, "app_fom") == {
        "table": "app_fom", "observation": 0, "metric": "app_fom", "value": 21602710.0,
        "unit": "nnz_AP/s", "direction": "higher", **identity, "app": "amg", "fom": "fom",
        "source": source}


def test_every_kind_table_is_its_view_of_the_records(harness_run) -> None:
    """Tables rebuilt from the records written to disk equal the tables the run loaded."""
    import pandas as pd

    from analysis.records import combined_records, view
    from analysis.tables import write_table
    from experiments.kinds.osu.results import OSU_METRICS_VIEW, OSU_WALL_VIEW
    from experiments.kinds.pulling.results import PULLS_VIEW
    from experiments.kinds.topology.results import TOPOLOGY_VIEW

    data = load_run(RunDir.open(harness_run))
    out = harness_run.parent / "written"
    write_table(combined_records([data]), out, "records")
    for source in (pd.read_parquet(out / "records.parquet"), combined_records([data])):
        for pivot in (PULLS_VIEW, OSU_WALL_VIEW, OSU_METRICS_VIEW, TOPOLOGY_VIEW):
            table = view(source, pivot)
            expected = data.tables[pivot.table]
            if "run" not in pivot.columns:
                expected = expected.drop(columns="run")
            pd.testing.assert_frame_equal(table, expected)


def test_a_view_of_records_missing_a_metric_leaves_its_column_blank(harness_run) -> None:
    """Without time-to-Started records, the pulls view has that column NaN, nothing else lost."""
    import numpy as np
    import pandas as pd

    from analysis.records import combined_records, view
    from experiments.kinds.pulling.results import PULLS_VIEW

    data = load_run(RunDir.open(harness_run))
    recs = combined_records([data])
    table = view(recs[recs["metric"] != "time_to_started_seconds"], PULLS_VIEW)
    expected = data.tables["pulls"].assign(time_to_started_seconds=np.nan)
    pd.testing.assert_frame_equal(table, expected)


def test_a_view_of_records_without_any_of_its_metrics_is_the_empty_table() -> None:
    import pandas as pd

    from analysis.records import to_records, view
    from experiments.kinds.topology.parse import frame
    from experiments.kinds.topology.results import TOPOLOGY_VIEW

    empty = frame([])
    table = view(to_records(empty, TOPOLOGY_VIEW), TOPOLOGY_VIEW)
    pd.testing.assert_frame_equal(table, empty)
    assert list(table.columns) == list(TOPOLOGY_VIEW.columns)


def test_a_rows_missing_value_stays_a_record_and_comes_back_blank() -> None:
    """A timed event cut short (no `real` line) is a NaN record; the view shows it blank."""
    import pandas as pd

    from analysis.records import to_records, view
    from experiments.kinds.topology.parse import frame
    from experiments.kinds.topology.results import TOPOLOGY_VIEW

    rows = frame([{"uid": "kary-2-6", "topology": "kary-2", "iteration": 0, "nodes": 6,
                   "event": "create-archive", "size_gb": 1, "time_seconds": None,
                   "tree_depth": 2, "max_fanout": 2}])
    recs = to_records(rows, TOPOLOGY_VIEW)
    assert recs["value"].isna().tolist() == [True]
    pd.testing.assert_frame_equal(view(recs, TOPOLOGY_VIEW), rows)


def test_records_csv_is_the_text_pandas_writes_for_the_records(harness_run) -> None:
    """The CSV formats each distinct timestamp once; the text is what pandas writes for all."""
    import pandas as pd

    from analysis.records import combined_records, write_records

    data = load_run(RunDir.open(harness_run))
    out = harness_run.parent / "written"
    write_records([data], out)
    expected = combined_records([data]).to_csv(index=False)
    assert (out / "records.csv").read_text() == expected
    back = pd.read_parquet(out / "records.parquet")
    assert back["value"].tolist() == combined_records([data])["value"].tolist()
