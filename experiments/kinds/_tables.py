"""What the kinds' results share when they read back the tables they made.

Why: a run without a recorded experiment definition is described from its tables, and every kind
lists the distinct values of one column of one table the same way; one copy keeps them alike.
"""

from __future__ import annotations

from typing import Any


def distinct(tables: dict[str, Any], table: str, column: str) -> list[Any] | None:
    """The sorted distinct values of `table[column]`; None when the run has no such rows."""
    frame = tables.get(table)
    if frame is None or frame.empty:
        return None
    return sorted(frame[column].unique())
