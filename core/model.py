"""The base of every typed spec model, the stack's and each experiment's.

Why in core: the cluster spec (infra) and the experiment spec (experiments) must refuse the same
inputs the same way, and neither package may import the other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Base for every spec model: unknown keys are errors, values are immutable once loaded.

    Strict types: `node_count: true` or `usd: "5"` are errors rather than 1 node and 5 USD, and
    `.inf` or `.nan` are refused everywhere (an infinite cap is no cap).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
