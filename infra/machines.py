"""What the harness knows about Compute Engine machine shapes: vCPUs, memory, local SSD, placement.

Shapes are parsed from the machine type name (`<family>-<class>-<vcpus>`); family facts come from
`data/gce_machine_families.yaml`, which names its sources. An unknown family is a validation error,
not a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DATA = Path(__file__).parent / "data"
# Use with fullmatch: `$` would let a trailing newline through, and ASCII digits only (`\d` also
# takes '４', which int() reads as 4): the name is sent to Compute Engine as written.
MACHINE_TYPE = re.compile(r"(?P<family>[a-z][a-z0-9]*)-(?P<klass>[a-z]+)-(?P<vcpus>[0-9]+)")
LOCAL_SSD_GB = 375


@dataclass(frozen=True)
class MachineShape:
    machine_type: str
    family: str
    klass: str
    vcpus: int
    memory_gb: float
    compact_placement: bool
    local_ssd_counts: tuple[int, ...]


@cache
def families() -> dict[str, dict]:
    return yaml.safe_load((DATA / "gce_machine_families.yaml").read_text())


def gce_shape(machine_type: str) -> MachineShape:
    """Parse and look up a GCE machine type; ValueError says what is allowed."""
    m = MACHINE_TYPE.fullmatch(machine_type)
    if not m:
        msg = "expected <family>-<class>-<vcpus>, e.g. n1-standard-16"
        raise ValueError(msg)
    fam = families().get(m["family"])
    if fam is None:
        msg = f"unknown machine family '{m['family']}'; known: {', '.join(sorted(families()))}"
        raise ValueError(msg)
    per_vcpu = fam["memory_gb_per_vcpu"].get(m["klass"])
    if per_vcpu is None:
        known = ", ".join(sorted(fam["memory_gb_per_vcpu"]))
        msg = f"unknown class '{m['klass']}' for family {m['family']}; known: {known}"
        raise ValueError(msg)
    vcpus = int(m["vcpus"])
    offered = fam["vcpus"][m["klass"]]
    if vcpus not in offered:
        sizes = ", ".join(f"{m['family']}-{m['klass']}-{n}" for n in offered)
        msg = f"no such Compute Engine shape; {m['family']}-{m['klass']} comes as {sizes}"
        raise ValueError(msg)
    counts: tuple[int, ...] = ()
    for row in fam["local_ssd"]:
        if vcpus <= row["max_vcpus"]:
            counts = tuple(row["counts"])
            break
    return MachineShape(
        machine_type=machine_type,
        family=m["family"],
        klass=m["klass"],
        vcpus=vcpus,
        memory_gb=round(vcpus * per_vcpu, 2),
        compact_placement=bool(fam["compact_placement"]),
        local_ssd_counts=counts,
    )


def compact_placement_families() -> list[str]:
    return sorted(f for f, d in families().items() if d["compact_placement"])
