"""Why a kind's parser cannot use its input, as `StudyError`s so the CLI prints one line.

They live beside the parsers (each kind's `parse` module) rather than in `analysis`, which
imports the kinds: the layer below cannot import the one above it. `analysis.errors` re-exports
them, so analysis code and its callers catch one class.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import StudyError


class AnalysisError(StudyError):
    """Input the analysis cannot use; the message names the file or key, the value and the fix."""


class BadInput(AnalysisError):
    """A file or key holds a value we cannot interpret."""

    def __init__(self, where: str | Path, value: object, allowed: str):
        self.where = str(where)
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{where}: got {shown}; expected {allowed}")
