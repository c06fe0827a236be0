"""Import only the resource modules of a Pulumi SDK package that the program uses.

Why: a generated SDK package's `__init__` star-imports every resource module it has
(`pulumi_gcp.compute` 285, `pulumi_aws.ec2` 179), so touching `gcp.compute.Network` costs 0.3 s
of a plan that should start in well under two seconds. Generated packages are uniform
(`from .<module> import *` per resource, then `from ._enums import *`, `from ._inputs import *`,
`from . import outputs`), so `package()` builds the same module object with just the named
resource modules in it. The classes are the SDK's own, unchanged. The first lookup of anything
else runs the package's real `__init__` into that same module (PEP 562 `__getattr__`), so code
expecting the whole package still gets it, only slower.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from typing import Any

_PARTIAL = "__study_partial__"  # marks a package built here and not yet completed
# Imported before any resource module (they import these); the first two are star-exported.
_SHARED = ("_enums", "_inputs", "outputs")


def package(name: str, *modules: str) -> types.ModuleType:
    """The SDK package `name` with at least the resource `modules` (file names) exported."""
    pkg = sys.modules.get(name)
    if pkg is None or type(pkg) is not types.ModuleType:  # absent, or the SDK's lazy stand-in
        pkg = _partial_package(name)
    if is_partial(pkg):
        for module in modules:
            if module not in vars(pkg):
                _export(pkg, importlib.import_module(f"{name}.{module}"))
    return pkg


def is_partial(module: types.ModuleType) -> bool:
    """True while `module` holds only the resource modules asked for (tests use this)."""
    return _PARTIAL in vars(module)


def _partial_package(name: str) -> types.ModuleType:
    parent, _, child = name.rpartition(".")
    path = importlib.import_module(parent).__path__ if parent else None
    spec = importlib.machinery.PathFinder.find_spec(name, path)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        msg = f"no SDK package named {name!r}"
        raise ModuleNotFoundError(msg, name=name)
    # Looked up again: importing the parent may just have put its lazy stand-in there.
    pkg = sys.modules.get(name)
    if pkg is None:
        pkg = importlib.util.module_from_spec(spec)
        sys.modules[name] = pkg
        if parent:
            setattr(sys.modules[parent], child, pkg)
    else:
        # The SDK's lazy stand-in, which other modules may already hold: made a plain module in
        # place (as its own first use would) so everyone keeps seeing one package object.
        pkg.__class__ = types.ModuleType
        pkg.__spec__, pkg.__loader__ = spec, spec.loader
    ns = vars(pkg)
    loader = spec.loader

    def complete(attr: str) -> Any:
        submodule = sys.modules.get(f"{name}.{attr}")
        if submodule is not None:  # a submodule mid-import (`from . import outputs`)
            return submodule
        del ns["__getattr__"], ns[_PARTIAL]
        loader.exec_module(pkg)
        if attr in ns:
            return ns[attr]
        msg = f"module {name!r} has no attribute {attr!r}"
        raise AttributeError(msg)

    ns[_PARTIAL] = True
    ns["__getattr__"] = complete
    for shared in _SHARED:
        try:
            module = importlib.import_module(f"{name}.{shared}")
        except ModuleNotFoundError as err:
            if err.name != f"{name}.{shared}":
                raise
            continue
        if shared != "outputs":
            _export(pkg, module)
    return pkg


def _export(pkg: types.ModuleType, module: types.ModuleType) -> None:
    """`from .module import *` into `pkg`, as the package's own `__init__` would."""
    ns = vars(module)
    names = ns.get("__all__") or [k for k in ns if not k.startswith("_")]
    for key in names:
        setattr(pkg, key, ns[key])
