"""The experiment section of a stack: which kind of study to run and its parameters.

A union discriminated by `kind`: the kind named picks the parameter model (its `Params`, from
the registry, so a kind registered later, a test's own included, is a member too), and the
parameters are validated against it when the stack is loaded, not when it is priced. Errors
name `study:experiment.params.<key>` like every other key. `params` keeps what the stack file
wrote (provenance and `compare-stacks` show the user's words); `typed` is the validated model
the kind plans and renders from.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, PrivateAttr, ValidationInfo, field_validator

from core.model import Strict


class ExperimentSpec(Strict):
    kind: str = Field(min_length=1, description="registered experiment kind, e.g. pulling")
    params: dict[str, Any] = Field(default_factory=dict)
    # Overrides the kind's own duration model in the cost estimate.
    estimated_hours: float | None = Field(default=None, gt=0)
    _typed: BaseModel | None = PrivateAttr(default=None)

    @field_validator("kind")
    @classmethod
    def _registered(cls, v: str) -> str:
        from experiments.registry import get_kind

        try:
            get_kind(v)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        return v

    @field_validator("params")
    @classmethod
    def _kind_params(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        """The kind's own model validates them (its errors arrive under `params`)."""
        kind = info.data.get("kind")
        if kind is not None:  # an unknown kind is reported on `kind`
            params_model(kind).model_validate(v)
        return v

    def model_post_init(self, context: Any, /) -> None:
        self._typed = params_model(self.kind).model_validate(self.params)

    @property
    def typed(self) -> BaseModel:
        """The validated parameters, an instance of the kind's `Params`."""
        assert self._typed is not None  # set when the spec is built
        return self._typed


def params_model(kind: str) -> type[BaseModel]:
    from experiments.registry import get_kind

    return get_kind(kind).Params
