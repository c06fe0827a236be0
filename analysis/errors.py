"""Expected analysis failures, as `StudyError`s so the CLI prints one line and no traceback.

`AnalysisError` and `BadInput` are defined beside the kinds' parsers (`experiments.parse_errors`)
and re-exported here, so a parser's refusal and the analysis core's are the same classes.
"""

from __future__ import annotations

from experiments.parse_errors import AnalysisError, BadInput

__all__ = ["AnalysisError", "BadInput", "ExperimentMismatch"]


class ExperimentMismatch(AnalysisError):
    """Runs of different experiment definitions cannot be compared without --force."""

    exit_code = 3
