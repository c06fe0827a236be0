"""Config overrides a campaign member applies on top of its base stack file, as stack config.

A campaign runs one stack at several node counts on one cluster: each member's `pulumi up` is
the base stack's config with a few keys replaced, handed to the program in the environment
(`STUDY_CONFIG_OVERRIDES`, JSON) and applied by the one stack reader (`core.stacks`), so the
program, the plan and the preflight all see the member's config, and no tracked stack file is
rewritten (provenance keeps recording a clean tree). Only the keys a sweep changes may be
overridden; anything else is refused in one line.
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import StudyError

OVERRIDES_ENV = "STUDY_CONFIG_OVERRIDES"
# key -> the sub-keys that may be replaced (None: the whole value, or removed with null)
ALLOWED: dict[str, tuple[str, ...] | None] = {
    "study:cluster": ("node_count",),
    "study:budget": ("usd", "max_hours"),
    "study:ttl": None,
    "study:experiment": None,
    "study:operators": None,
    "study:quota": None,
}


def check(overrides: Any) -> dict[str, Any]:
    """The overrides, or StudyError naming the first key that may not be overridden."""
    if not isinstance(overrides, dict):
        msg = f"{OVERRIDES_ENV}: must be a JSON object of config keys, not {overrides!r:.60}"
        raise StudyError(msg)
    for key, value in overrides.items():
        if key not in ALLOWED:
            msg = (f"{OVERRIDES_ENV}: {key}: may not be overridden; allowed: "
                   f"{', '.join(ALLOWED)}")
            raise StudyError(msg)
        subs = ALLOWED[key]
        if subs is None:
            continue
        if not isinstance(value, dict):
            msg = f"{OVERRIDES_ENV}: {key}: must be an object of {', '.join(subs)}"
            raise StudyError(msg)
        extra = [k for k in value if k not in subs]
        if extra:
            msg = (f"{OVERRIDES_ENV}: {key}.{extra[0]}: may not be overridden; allowed: "
                   f"{', '.join(subs)}")
            raise StudyError(msg)
    return overrides


def apply(config: dict[str, str], overrides: dict[str, Any]) -> dict[str, str]:
    """`config` (key -> string, JSON for objects) with `overrides` merged in: sub-keys replace
    sub-keys of an object value, whole values replace (or, when null, remove) the key."""
    out = dict(config)
    for key, value in check(overrides).items():
        if ALLOWED[key] is not None:
            base = out.get(key)
            merged = json.loads(base) if isinstance(base, str) and base.startswith("{") else {}
            merged.update(value)
            out[key] = json.dumps(merged)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value if isinstance(value, str) else json.dumps(value)
    return out


def from_environment(environ: dict[str, str] | Any) -> dict[str, Any]:
    """The overrides set for this process ({} when none)."""
    text = environ.get(OVERRIDES_ENV)
    if not text:
        return {}
    try:
        return check(json.loads(text))
    except json.JSONDecodeError as exc:
        msg = f"{OVERRIDES_ENV}: not JSON ({exc.msg} at {exc.pos})"
        raise StudyError(msg) from None


def to_environment(overrides: dict[str, Any]) -> dict[str, str]:
    return {OVERRIDES_ENV: json.dumps(check(overrides), sort_keys=True)}
