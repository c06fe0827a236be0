"""Expected failures. Library code raises these; only the CLI turns them into exit codes."""

from __future__ import annotations


class StudyError(Exception):
    """A failure the user can act on: printed as one line, no traceback."""

    exit_code = 1


class SpecError(StudyError):
    """The stack's configuration is invalid; carries every problem found, one line each."""

    exit_code = 1

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class CheckFailed(StudyError):
    """A plan, budget, quota or validity check did not pass."""

    exit_code = 3
