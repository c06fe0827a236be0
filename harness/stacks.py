"""Find the project and read its stack files the way Pulumi does, without the Pulumi CLI.

`stacks/Pulumi.<stack>.yaml` holds a `config:` map; object values are passed to the program as
JSON text and scalars as strings, exactly as the CLI's language host passes them.
"""

from __future__ import annotations

import difflib
import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from harness.errors import StudyError


def project_dir() -> Path:
    """The directory holding Pulumi.yaml: $STUDY_PROJECT_DIR, the cwd or a parent, or this repo."""
    env = os.environ.get("STUDY_PROJECT_DIR")
    candidates = [Path(env)] if env else []
    cwd = Path.cwd().resolve()
    candidates += [cwd, *cwd.parents, Path(__file__).resolve().parent.parent]
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
        guess = difflib.get_close_matches(stack, known, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"known: {', '.join(known)}"
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
        msg = f"{path.name}: not valid YAML: {exc}".replace("\n", " ")
        raise StudyError(msg) from None
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        msg = f"{path.name}: 'config' must be a mapping of keys to values"
        raise StudyError(msg)
    return {str(k): _as_config_value(v) for k, v in config.items()}
