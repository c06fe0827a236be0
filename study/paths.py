"""Names the harness joins into file paths, each checked to be one harmless path component.

A stack name becomes `stacks/Pulumi.<stack>.yaml`, `plan-out/<stack>/` and `results/<stack>/`;
a run id `results/<stack>/<run-id>/`; a step name read back from a cluster `steps/<step>/`.
Anything else (a slash, `..`, a NUL, an empty string) would write or read outside those
directories, so it is refused in one line naming the value and what is allowed.
"""

from __future__ import annotations

import re

from core.errors import StudyError

# Pulumi's own rule for stack names, minus the names "." and ".." it lets through
# (pulumi/pulumi pkg/backend/filestate/backend.go, validateStackName: ^[A-Za-z0-9_.-]{1,100}$).
STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
STACK_ALLOWED = ("letters, digits, '-', '_' and '.', starting with a letter or digit, at most "
                 "100 characters (Pulumi's stack names)")
# What study.lifecycle.state.new_run_id makes: a UTC timestamp, and a counter within a second.
RUN_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z(-[0-9]{1,4})?")  # ASCII digits only
RUN_ID_ALLOWED = "a run id as `study runs` lists them, e.g. 20261122T120000Z or 20261122T120000Z-2"
# A step name is a Kubernetes name (experiments.base.check_step_names).
STEP_NAME = re.compile(r"[a-z]([a-z0-9-]{0,46}[a-z0-9])?")
STEP_ALLOWED = "a DNS-1123 label of at most 48 characters"


def _checked(what: str, value: str, pattern: re.Pattern[str], allowed: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        msg = f"{what} {value!r}: not allowed; {allowed}"
        raise StudyError(msg)
    return value


def stack_name(value: str, what: str = "stack") -> str:
    """`value` if it is a stack name safe to join into a path, else a one-line StudyError."""
    return _checked(what, value, STACK_NAME, STACK_ALLOWED)


def run_id(value: str, what: str = "--run-id") -> str:
    return _checked(what, value, RUN_ID, RUN_ID_ALLOWED)


def step_name(value: str, what: str = "step") -> str:
    return _checked(what, value, STEP_NAME, STEP_ALLOWED)


def is_stack_name(value: str) -> bool:
    return isinstance(value, str) and STACK_NAME.fullmatch(value) is not None


def is_step_name(value: str) -> bool:
    return isinstance(value, str) and STEP_NAME.fullmatch(value) is not None
