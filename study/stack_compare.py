"""Side-by-side facts of several stacks, normalised across clouds, for `study compare-stacks`.

GKE and EKS name the same idea differently (gVNIC vs EFA, compact placement vs a cluster placement
group, local SSD vs none): each stack is reduced to one fixed list of settings with the same
meaning on both clouds, so a GKE-vs-EKS comparison reads row by row. Needs no cloud: it reuses the
offline validation and estimate (`study.plan.load_and_validate`). It does not render resources.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import SpecError, StudyError

NONE = "none"


@dataclass(frozen=True)
class Row:
    section: str
    setting: str
    values: tuple[Any, ...]  # one per stack, in the order given

    @property
    def differs(self) -> bool:
        return len({json.dumps(v, sort_keys=True, default=str) for v in self.values}) > 1


@dataclass
class StackComparison:
    stacks: list[str]
    rows: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "stacks": self.stacks,
            "rows": [
                {
                    "section": r.section,
                    "setting": r.setting,
                    "values": dict(zip(self.stacks, r.values, strict=True)),
                    "differs": r.differs,
                }
                for r in self.rows
            ],
            "differences": [f"{r.section}.{r.setting}" for r in self.rows if r.differs],
            "warnings": self.warnings,
        }


def experiment_definition(spec) -> dict | None:
    """What an experiment is: kind, parameters and duration override (None without one)."""
    if spec.experiment is None:
        return None
    return spec.experiment.model_dump(mode="json")


def definition_digest(definition: dict | None) -> str:
    if definition is None:
        return NONE
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def differing_keys(definitions: list[dict | None]) -> list[str]:
    """Dotted keys whose values differ; just 'experiment' when only some stacks have one."""
    present = [d is not None for d in definitions]
    if any(present) and not all(present):
        return ["experiment"]
    flats = [_flatten(d) for d in definitions if d is not None]
    keys = sorted({k for f in flats for k in f})
    return [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flats}) > 1]


def _network(c) -> dict[str, Any]:
    if c.cloud == "gke":
        return {
            "MTU": c.network_mtu,
            "fast NIC": "gVNIC" if c.gvnic else NONE,
            "placement": "compact" if c.compact_placement else NONE,
            "threads per core": c.threads_per_core or "default",
        }
    pg = c.placement_group
    # An EC2 cluster placement group is what GKE calls COMPACT: one AZ, nodes on close racks.
    placement = NONE if pg is None else {"cluster": "compact"}.get(pg.strategy, pg.strategy)
    if pg is not None and pg.partition_count:
        placement += f" ({pg.partition_count} partitions)"
    return {
        "MTU": c.network_mtu if c.network_mtu is not None else "9001 (VPC CNI default)",
        "fast NIC": "EFA" if c.efa else NONE,
        "placement": placement,
        "threads per core": "default",
    }


def _storage(c) -> dict[str, Any]:
    disk = f"{c.boot_disk_type} {c.boot_disk_size_gb} GB"
    if getattr(c, "boot_disk_iops", None):
        disk += f", {c.boot_disk_iops} IOPS"
    ssd = getattr(c, "local_ssd_count", 0)
    return {
        "boot disk": disk,
        "local SSD (container storage)": f"{ssd} x 375 GB" if ssd else NONE,
    }


def _operators(spec) -> str:
    try:
        from core.versions import OPERATORS
    except ImportError:  # versions are optional; names alone still compare
        OPERATORS = {}  # noqa: N806
    parts = []
    for name in spec.operators:
        op = OPERATORS.get(name)
        version = getattr(op, "version", None)
        parts.append(f"{name} {version[:12]}" if version else name)
    return ", ".join(parts) or NONE


def stack_facts(spec, report) -> list[tuple[str, str, Any]]:
    """(section, setting, value) rows of one stack, in display order; cloud-neutral meanings."""
    from infra.clusters.shapes import node_shape

    c = spec.cluster
    vcpus, memory = node_shape(c)
    est = report.estimate
    zones = ", ".join(c.node_zones) if c.cloud == "eks" else c.zone
    rows: list[tuple[str, str, Any]] = [
        ("study", "study", spec.study),
        ("cluster", "cloud", c.cloud),
        ("cluster", "region", c.region),
        ("cluster", "node zone(s)", zones),
        ("cluster", "Kubernetes version", c.kubernetes_version or "provider default"),
        ("nodes", "nodes", c.node_count),
        ("nodes", "machine type", c.machine_type),
        ("nodes", "vCPUs per node", vcpus),
        ("nodes", "memory per node (GB)", round(memory, 1)),
        ("nodes", "vCPUs total", vcpus * c.node_count),
        ("nodes", "memory total (GB)", round(memory * c.node_count, 1)),
    ]
    rows += [("network", k, v) for k, v in _network(c).items()]
    rows += [("storage", k, v) for k, v in _storage(c).items()]
    rows += [
        ("images", "registry", c.image_registry),
        ("images", "image streaming", bool(getattr(c, "image_streaming", False))),
        ("operators", "operators", _operators(spec)),
    ]
    definition = experiment_definition(spec)
    rows += [
        ("experiment", "kind", spec.experiment.kind if spec.experiment else NONE),
        ("experiment", "definition", definition_digest(definition)),
    ]
    if est is not None:
        rows += [
            ("cost", "USD per hour", round(est.price.total, 3)),
            ("cost", "USD per node-hour", round(est.price.per_node, 4)),
            ("cost", "estimated hours", round(est.hours, 2)),
            ("cost", "estimated USD", round(est.usd, 2)),
        ]
    else:
        rows += [
            ("cost", k, None)
            for k in ("USD per hour", "USD per node-hour", "estimated hours", "estimated USD")
        ]
    rows += [
        ("cost", "budget USD", spec.budget.usd),
        ("plan", "valid", not report.errors),
    ]
    return rows


def compare_stacks(stacks: list[str], now: datetime | None = None) -> StackComparison:
    """Load, validate and estimate each stack, then line their facts up; SpecError naming the
    stack of each problem when any stack cannot be read (every stack is read first)."""
    from study.plan import load_and_validate

    result = StackComparison(stacks=list(stacks))
    columns: list[list[tuple[str, str, Any]]] = []
    definitions: list[dict | None] = []
    unreadable: list[str] = []
    for stack in stacks:
        try:
            _, spec, report = load_and_validate(stack, now)
        except SpecError as exc:  # several stacks: say which one each problem is in
            unreadable += [f"{stack}: {p}" for p in exc.problems]
            continue
        except StudyError as exc:  # names the stack or its file already
            unreadable.append(str(exc))
            continue
        columns.append(stack_facts(spec, report))
        definitions.append(experiment_definition(spec))
        if report.errors:
            result.warnings.append(
                f"{stack}: the plan has {len(report.errors)} error(s); run `study plan {stack}`"
            )
    if unreadable:
        raise SpecError(unreadable)
    for i, (section, setting, _) in enumerate(columns[0]):
        result.rows.append(Row(section, setting, tuple(col[i][2] for col in columns)))
    if len({definition_digest(d) for d in definitions}) > 1:
        described = ", ".join(
            f"{s} ({d['kind'] if d else NONE})" for s, d in zip(stacks, definitions, strict=True)
        )
        result.warnings.append(
            f"the stacks run different experiment definitions: {described}; differing keys: "
            f"{', '.join(differing_keys(definitions))}; their results are not directly comparable"
        )
    return result
