"""`study run` and friends: bring a stack up, watch it, collect its evidence, always tear it down.

Modules: `interfaces` (the seams), `run` (orchestrator), `stages` (the stages and the moves
between them), `verdict` (how a run ends), `retries` (tenacity on the injected clock),
`stack_config` (the one read of a stack's config), `destroy` (retrying destroy + leftover
check), `collect` (results directory), `state` (run-state.json), `ledger` (`study runs`),
`janitor` (expired stacks), the real backends (`pulumi_backend`, `gcp_inventory`, `aws_inventory`,
`k8s_reader`). Their in-memory twins for tests live in `tests/doubles/`.
"""
