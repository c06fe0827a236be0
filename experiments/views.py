"""How a kind declares each of its tidy tables as a view of its records (`analysis.records`).

A kind's parser yields rows; each row becomes one record per metric it holds, and the table the
analysis writes is computed back from those records by the pivot declared here. Declaring it
beside the kind's metrics keeps the table's shape and the records' labels in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pivot:
    """How one tidy table is a view of records: which metrics, which labels become columns.

    `columns` is the table's column order and `dtypes` each column's dtype; a column named in
    `metrics` holds that metric's value, one named `metric_column` holds the metric's name
    without `metric_prefix` (a table of many metrics, one per row), one named `unit_column`
    the record's unit, and every other column is a label (`rename` maps a column to its label
    where the column's name would clash with a record field).
    """

    table: str
    columns: tuple[str, ...]
    dtypes: Mapping[str, str]
    metrics: Mapping[str, str] = field(default_factory=dict)  # metric -> column
    metric_column: str | None = None
    metric_prefix: str = ""
    value_column: str = "value"
    unit_column: str | None = None
    rename: Mapping[str, str] = field(default_factory=dict)  # column -> label
    # Columns of the parser's rows that label its records but are not the table's (the step).
    labels_only: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        """The table's columns that are labels of its records."""
        taken = {*self.metrics.values(), self.metric_column, self.unit_column}
        if self.metric_column is not None:
            taken.add(self.value_column)
        return [c for c in self.columns if c not in taken]
