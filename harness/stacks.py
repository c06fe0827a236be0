"""Find the project and read its stack files the way Pulumi does, without the Pulumi CLI.

`stacks/Pulumi.<stack>.yaml` holds a `config:` map; object values are passed to the program as
JSON text and scalars as strings, exactly as the CLI's language host passes them.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from harness.errors import StudyError


def project_dir() -> Path:
    """The directory holding Pulumi.yaml: $STUDY_PROJECT_DIR, the cwd or a parent, or this repo."""
    env = os.environ.get("STUDY_PROJECT_DIR")
    if env:  # an explicit choice: never fall back silently to another project
        chosen = Path(env)
        if (chosen / "Pulumi.yaml").is_file() and (chosen / "stacks").is_dir():
            return chosen
        msg = f"STUDY_PROJECT_DIR={env}: no Pulumi.yaml and stacks/ there; fix or unset it"
        raise StudyError(msg)
    cwd = Path.cwd().resolve()
    candidates = [cwd, *cwd.parents, Path(__file__).resolve().parent.parent]
    for c in candidates:
        if (c / "Pulumi.yaml").is_file() and (c / "stacks").is_dir():
            return c
    msg = "no study-harness project found (Pulumi.yaml and stacks/); run inside the repository"
    raise StudyError(msg)


def stack_names(root: Path | None = None) -> list[str]:
    root = root or project_dir()
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml")
    )


def stack_file(stack: str, root: Path | None = None) -> Path:
    root = root or project_dir()
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = stack_names(root)
        named = re.search(r"Pulumi\.(.+)\.ya?ml$", stack)  # a stack file's path, not its name
        guess = difflib.get_close_matches(named.group(1) if named else stack, known, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"known: {', '.join(known)}"
        if named:
            hint = f"give the stack's name, not its file; {hint}"
        msg = f"stack '{stack}' not found in {root / 'stacks'}; {hint}"
        raise StudyError(msg)
    return path


def _as_config_value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def read_stack_config(stack: str, root: Path | None = None) -> dict[str, str]:
    """The stack's config as the engine hands it to a program: key -> string (JSON for objects)."""
    path = stack_file(stack, root)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        msg = f"{path.name}: not valid YAML: {_yaml_problem(exc)}"
        raise StudyError(msg) from None
    if not isinstance(doc, dict):
        msg = f"{path.name}: must be a mapping with a 'config:' key, not a {type(doc).__name__}"
        raise StudyError(msg)
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        msg = f"{path.name}: 'config' must be a mapping of keys to values"
        raise StudyError(msg)
    return {str(k): _as_config_value(v) for k, v in config.items()}


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """'line 22, column 5: expected <block end>, ...' instead of PyYAML's multi-line report."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if not problem:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"
