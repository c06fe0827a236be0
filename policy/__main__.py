"""The study-harness policy pack: `pulumi up -s STACK --policy-pack policy`.

Constructing `PolicyPack` starts the analyzer server and blocks, so nothing imports this module;
the rules live in `policy/policies.py` and are unit-tested there. Every rule is mandatory: a
violation stops the update before the resource is created.
"""

import sys
from pathlib import Path

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

# The pack runs from this directory; the rules reuse the harness's own knowledge (infra.*).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policy.policies import POLICIES, STACK_POLICIES  # noqa: E402

PolicyPack(
    name="study-harness",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        *(ResourceValidationPolicy(name=name, description=description, validate=validate)
          for name, description, validate in POLICIES),
        *(StackValidationPolicy(name=name, description=description, validate=validate)
          for name, description, validate in STACK_POLICIES),
    ],
)
