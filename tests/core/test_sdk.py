"""core.sdk: a generated SDK package with only the resource modules a program uses.

The mechanism is tested on a small package laid out exactly as pulumi codegen lays them out (so
each test controls what is already imported), and on the real SDKs in fresh processes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core import sdk

ROOT = Path(__file__).resolve().parents[2]

RESOURCE = """
import fakesdk
fakesdk.EXECUTED.append(__name__)
from . import outputs
from ._inputs import *
__all__ = ["{cls}", "{cls}Args"]
class {cls}Args:
    pass
class {cls}:
    args = {cls}Args
    out = outputs.{cls}Status
"""


@pytest.fixture
def fakesdk(tmp_path, monkeypatch):
    """`fakesdk.svc` with resources alpha, beta, gamma, as pulumi-language-python generates it."""
    root = tmp_path / "fakesdk"
    svc = root / "svc"
    svc.mkdir(parents=True)
    (root / "__init__.py").write_text(
        "EXECUTED = []\nimport pulumi._utils\nsvc = pulumi._utils.lazy_import('fakesdk.svc')\n"
    )
    names = {"alpha": "Alpha", "beta": "Beta", "gamma": "Gamma"}
    (svc / "__init__.py").write_text(
        "import fakesdk\nfakesdk.EXECUTED.append(__name__)\n"
        + "".join(f"from .{m} import *\n" for m in names)
        + "from ._inputs import *\nfrom . import outputs\n"
    )
    (svc / "_inputs.py").write_text('__all__ = ["SharedArgs"]\nclass SharedArgs:\n    pass\n')
    (svc / "outputs.py").write_text(
        "from . import outputs\n"  # generated outputs modules import themselves this way
        + "".join(f"class {c}Status:\n    pass\n" for c in names.values())
    )
    for module, cls in names.items():
        (svc / f"{module}.py").write_text(textwrap.dedent(RESOURCE.format(cls=cls)))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "fakesdk" or m.startswith("fakesdk.")]:
        del sys.modules[name]


@pytest.mark.usefixtures("fakesdk")
def test_only_the_named_resource_modules_run_and_their_names_are_exported():
    import fakesdk

    svc = sdk.package("fakesdk.svc", "alpha")
    assert fakesdk.EXECUTED == ["fakesdk.svc.alpha"]  # neither the package __init__ nor beta
    assert sdk.is_partial(svc)
    assert svc.Alpha.__name__ == "Alpha" and svc.AlphaArgs is svc.Alpha.args
    assert svc.SharedArgs.__name__ == "SharedArgs"  # _inputs star-exported, as __init__ does
    assert svc.outputs.AlphaStatus is svc.Alpha.out
    assert sys.modules["fakesdk.svc"] is svc and fakesdk.svc is svc  # replaced the lazy stand-in


@pytest.mark.usefixtures("fakesdk")
def test_asking_again_adds_modules_to_the_same_package():
    import fakesdk

    first = sdk.package("fakesdk.svc", "alpha")
    again = sdk.package("fakesdk.svc", "alpha", "beta")
    assert again is first
    assert fakesdk.EXECUTED == ["fakesdk.svc.alpha", "fakesdk.svc.beta"]
    assert again.Beta.__name__ == "Beta"


@pytest.mark.usefixtures("fakesdk")
def test_anything_else_completes_the_package_with_the_same_classes():
    import fakesdk

    svc = sdk.package("fakesdk.svc", "alpha")
    alpha = svc.Alpha
    assert svc.Gamma.__name__ == "Gamma"  # not asked for: the real __init__ runs now
    assert not sdk.is_partial(svc)
    assert fakesdk.EXECUTED == [
        "fakesdk.svc.alpha",
        "fakesdk.svc",
        "fakesdk.svc.beta",
        "fakesdk.svc.gamma",
    ]  # alpha was not executed twice
    assert svc.Alpha is alpha
    with pytest.raises(AttributeError, match="'fakesdk.svc' has no attribute 'Delta'"):
        _ = svc.Delta


@pytest.mark.usefixtures("fakesdk")
def test_a_package_already_imported_whole_is_returned_as_it_is():
    import fakesdk.svc

    assert fakesdk.svc.Gamma  # first use loads the lazy package whole
    whole = sys.modules["fakesdk.svc"]
    assert sdk.package("fakesdk.svc", "alpha") is whole
    assert not sdk.is_partial(whole)
    assert fakesdk.EXECUTED.count("fakesdk.svc") == 1


@pytest.mark.usefixtures("fakesdk")
def test_a_reference_taken_to_the_lazy_stand_in_is_the_package_itself():
    from fakesdk import svc as early  # the SDK's lazy module, not loaded yet

    svc = sdk.package("fakesdk.svc", "alpha")
    assert early is svc
    assert early.Alpha is svc.Alpha
    assert early.Beta.__name__ == "Beta"  # completing through the early reference works too


def test_an_unknown_package_is_a_module_not_found_error():
    with pytest.raises(ModuleNotFoundError):
        sdk.package("pulumi_gcp.no_such_service", "thing")


def _modules_after(code: str) -> list[str]:
    """The pulumi_* modules loaded by `code` in a fresh interpreter."""
    script = code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    return [m for m in json.loads(out.splitlines()[-1]) if m.startswith("pulumi_")]


@pytest.mark.parametrize(
    ("stack", "wanted", "unwanted"),
    [
        (
            "gke-64-localssd",
            ["pulumi_gcp.compute.network", "pulumi_gcp.container.node_pool"],
            ["pulumi_gcp.compute.autoscaler", "pulumi_kubernetes.core.v1.Binding", "pulumi_aws"],
        ),
        (
            "eks-6-topology",
            ["pulumi_aws.ec2.vpc", "pulumi_aws.eks.node_group", "pulumi_aws.iam.role"],
            ["pulumi_aws.ec2.ami", "pulumi_aws.iam.user", "pulumi_gcp"],
        ),
    ],
)
def test_a_plan_loads_only_the_resource_modules_it_declares(stack, wanted, unwanted, tmp_path):
    loaded = _modules_after(
        "from pathlib import Path; from study.plan import make_plan; "
        f"assert make_plan({stack!r}, Path({str(tmp_path)!r})).resources"
    )
    assert set(wanted) <= set(loaded)
    assert not set(unwanted) & set(loaded)


def test_the_real_sdk_completes_on_demand_with_identical_classes():
    code = textwrap.dedent(
        """
        from core import sdk
        compute = sdk.package("pulumi_gcp.compute", "network")
        network = compute.Network
        assert sdk.is_partial(compute) and compute.NetworkArgs.__name__ == "NetworkArgs"
        firewall = compute.Firewall
        from pulumi_gcp.compute.firewall import Firewall
        from pulumi_gcp.compute import Network
        assert firewall is Firewall and network is Network and not sdk.is_partial(compute)
        """
    )
    assert "pulumi_gcp.compute.autoscaler" in _modules_after(code)
