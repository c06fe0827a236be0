"""Read the whole stack configuration inside a Pulumi program (CLI, Automation API or mocks)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import config as runtime_config


def all_config() -> dict[str, Any]:
    """Every config key the engine gave this program (the CLI's env bag plus explicit settings),
    with the user's git-ignored overlay applied as `study plan` applies it (core.stacks), so a
    `pulumi up` builds the project `study plan` showed."""
    import pulumi

    from core.stacks import apply_overlay, check_stack_file

    # Under a plain `pulumi up` the CLI parsed the file (gopkg.in/yaml.v2, where a repeated key
    # silently wins): the harness's own refusals run on it here, before any resource.
    check_stack_file(pulumi.get_stack())
    merged: dict[str, Any] = dict(runtime_config.get_config_env())
    merged.update(runtime_config.CONFIG.get())
    return apply_overlay(merged)
