"""Tables round-trip through Parquet and CSV with their types."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
from seed_data import RUN1_4, RUN4_4

from analysis.pipeline import load_runs
from analysis.tables import combine, pull_medians, write_table


def test_parquet_keeps_types_and_csv_keeps_rows(tmp_path) -> None:
    (data,) = load_runs([RUN1_4])
    pulls = data.table("pulls")
    parquet, csv = write_table(pulls, tmp_path, "pulls")
    back = pq.read_table(parquet).to_pandas()
    # Text columns are Python objects in the table and come back as pandas' own string dtype;
    # every other column (timestamps with their UTC zone, nullable integers) keeps its dtype.
    changed = {c: (str(pulls[c].dtype), str(back[c].dtype)) for c in pulls.columns
               if pulls[c].dtype != back[c].dtype}
    assert set(changed.values()) == {("object", "str")}
    assert "pulling_at" not in changed
    pd.testing.assert_frame_equal(back.astype(dict.fromkeys(changed, object)), pulls)
    assert len(pd.read_csv(csv)) == len(pulls)


def test_combined_tables_and_medians() -> None:
    datas = load_runs([RUN1_4, RUN4_4])
    tables = combine(datas)
    assert set(tables["pulls"]["run"]) == {"run1-4", "run4-4"}
    medians = pull_medians(tables["pulls"]).set_index(["run", "image"])
    pulls = tables["pulls"]
    small = pulls[(pulls["run"] == "run4-4") & (pulls["image"] == "9-layers-size-1176249324-bytes")]
    got = medians.loc[("run4-4", "9-layers-size-1176249324-bytes")]
    assert got["median_pull_seconds"] == small["pull_seconds"].median() and got["n"] == 4
