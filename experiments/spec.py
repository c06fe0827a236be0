"""The experiment section of a stack: which kind of study to run and its parameters.

Each kind validates its own parameters (see experiments/registry.py); this module holds only the
envelope every kind shares.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.model import Strict


class ExperimentSpec(Strict):
    kind: str = Field(min_length=1, description="registered experiment kind, e.g. pulling")
    params: dict[str, Any] = Field(default_factory=dict)
    # Overrides the kind's own duration model in the cost estimate.
    estimated_hours: float | None = Field(default=None, gt=0)
