"""Reading nested resource properties as the engine sees them (camelCase keys, dotted paths).

Shared by the offline plan (which settings to show) and the policy pack (where labels live).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dig(props: Mapping[str, Any], dotted: str) -> Any:
    """props['a']['b'] for 'a.b'; None when any step is missing or not a mapping."""
    cur: Any = props
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur
