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


class LifecycleError(StudyError):
    """A backend or cloud call failed; subclasses say whether retrying can help."""


class TransientError(LifecycleError):
    """Worth retrying with backoff (GKE 'operation ... in progress', AWS DependencyViolation)."""


class PermanentError(LifecycleError):
    """Retrying will not help (permission denied, invalid program, quota exceeded)."""


def ensure_dir(path, option: str):
    """Create the output directory `path` (given as `option`), or a StudyError saying why not."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and not path.is_dir():
        msg = f"{option} {path}: exists and is not a directory; pass a directory"
        raise StudyError(msg)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"{option} {path}: cannot create the directory ({exc.strerror or exc})"
        raise StudyError(msg) from None
    return path
