"""Pulumi entry point: read the stack's spec, wire components, export outputs (infra.program)."""

from infra.program import main

main()
