"""The offline plan: validate a stack, render the real program under mocks, price it, check it.

Needs no cloud, no credentials and no Pulumi CLI. The same function backs `study plan`, `study
stacks` and the preflight of `study run`.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import SpecError
from core.stacks import project_dir, read_stack_config
from infra.props import dig
from infra.validate import Report, validate_stack
from policy.manifests import manifests_of

# Inputs worth showing in the resource table, per type token (camelCase, as the engine sees them).
SHOWN: dict[str, list[str]] = {
    "gcp:compute/network:Network": ["mtu", "autoCreateSubnetworks"],
    "gcp:compute/subnetwork:Subnetwork": ["region", "ipCidrRange"],
    "gcp:container/cluster:Cluster": [
        "location",
        "minMasterVersion",
        "releaseChannel",
        "maintenancePolicy.maintenanceExclusions",
        "addonsConfig.gcePersistentDiskCsiDriverConfig",
        "removeDefaultNodePool",
        "deletionProtection",
    ],
    "gcp:projects/service:Service": ["service"],
    "gcp:container/nodePool:NodePool": [
        "nodeCount",
        "version",
        "placementPolicy",
        "management",
        "nodeConfig.machineType",
        "nodeConfig.imageType",
        "nodeConfig.gcfsConfig",
        "nodeConfig.gvnic",
        "nodeConfig.ephemeralStorageLocalSsdConfig",
        "nodeConfig.advancedMachineFeatures",
        "nodeConfig.diskType",
        "nodeConfig.diskSizeGb",
    ],
    "pulumi:providers:aws": ["region"],
    "aws:ec2/vpc:Vpc": ["cidrBlock"],
    "aws:ec2/subnet:Subnet": ["availabilityZone", "cidrBlock", "mapPublicIpOnLaunch"],
    "aws:eks/cluster:Cluster": ["version", "accessConfig.authenticationMode"],
    "aws:eks/addon:Addon": ["addonName", "configurationValues"],
    "aws:ec2/placementGroup:PlacementGroup": ["strategy", "partitionCount"],
    "aws:ec2/launchTemplate:LaunchTemplate": [
        "instanceType",
        "blockDeviceMappings",
        "placement.groupName",
        "networkInterfaces",
    ],
    "aws:eks/nodeGroup:NodeGroup": ["version", "scalingConfig", "subnetIds"],
    "kubernetes:storage.k8s.io/v1:StorageClass": ["provisioner", "parameters.type"],
    # The results writer's identity bindings (study.results_plan reads these back).
    "gcp:storage/bucketIAMMember:BucketIAMMember": ["bucket", "role", "member",
                                                    "condition.expression"],
    "gcp:serviceaccount/iAMMember:IAMMember": ["role", "member"],
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": ["namespace", "serviceAccount"],
    "aws:iam/role:Role": ["inlinePolicies"],
}


@dataclass
class PlannedResource:
    type: str
    name: str
    settings: dict[str, Any]
    custom: bool


def exit_code_of(violations: list[str], invalid_input: bool) -> int:
    """What a plan (of a stack or a campaign) exits with: 0 valid and within budget and quota,
    1 the input is wrong, 3 a check failed."""
    if not violations:
        return 0
    return 1 if invalid_input else 3


@dataclass
class Plan:
    stack: str
    spec: Any
    report: Report
    resources: list[PlannedResource] = field(default_factory=list)
    manifests: list[dict] = field(default_factory=list)
    manifest_problems: list[str] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    # The program refused the stack's values (a SpecError: a derived bucket name, a disk label):
    # invalid input like the validator's own, not a failed check.
    program_refused: bool = False

    @property
    def violations(self) -> list[str]:
        return [str(p) for p in self.report.errors] + self.manifest_problems

    @property
    def warnings(self) -> list[str]:
        return [str(p) for p in self.report.warnings]

    @property
    def guard(self) -> dict[str, Any] | None:
        """The in-cluster guard as the program declared it (infra.guard); None when absent."""
        return self.exports.get("guard") or None

    @property
    def results(self) -> dict[str, Any] | None:
        """Where the steps' results go and who may write there (study.results_plan)."""
        from study.results_plan import results_summary

        return results_summary(self)

    def guard_rows(self) -> list[tuple[str, str]]:
        """The guard's plan lines: when it scales the nodes to zero, where it writes, as whom."""
        g = self.guard
        if g is None:
            return [("guard", "none: nothing stops the nodes if the run's process dies")]
        hours = g["deadline_hours"]
        return [
            ("guard", f"CronJob {g['cronjob']} ({g['schedule']}), scales {g['pool']} to zero"),
            ("deadline", f"{hours:.2f} h after cluster creation (the earlier of budget.max_hours "
                         "and budget.usd / price per hour)"),
            ("grace", f"{g['grace_seconds'] / 60:g} min after the last step's results are in "
                      "the bucket"),
            ("bucket", g["bucket"]),
            ("records", g["records"]),
            ("identity", f"{g['service_account']} -> {g['identity']} ({g['binding']})"),
            ("permissions", ", ".join(g["permissions"])),
        ]

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def exit_code(self) -> int:
        """`exit_code_of`; the input is wrong when the validator or the program refused it."""
        return exit_code_of(self.violations, self.program_refused
                            or any(p.invalid_input for p in self.report.errors))

    def to_json(self) -> dict[str, Any]:
        est = self.report.estimate
        cluster = self.spec.cluster
        return {
            "stack": self.stack,
            "study": self.spec.study,
            "cloud": cluster.cloud,
            "nodes": cluster.node_count,
            "machine_type": cluster.machine_type,
            "resources": [
                {"type": r.type, "name": r.name, "settings": r.settings}
                for r in self.resources
                if r.custom
            ],
            "steps": [
                {
                    "name": s.name,
                    "estimated_seconds": round(s.estimated_seconds, 1),
                    # measured work and the harness's overhead (null: the kind does not split)
                    "work_seconds": s.work_seconds,
                    "overhead_seconds": s.overhead_seconds,
                    "deadline_seconds": round(s.deadline_seconds, 1),
                    # runs beside the operators' installation (measures nothing)
                    "preparation": s.preparation,
                    # what the run waits for it on the chain (uploads and preparation overlap)
                    "waits_seconds": round(waits, 1),
                }
                for s, waits in (zip(est.steps, est.waits, strict=True) if est else ())
            ],
            "cost": None
            if est is None
            else {
                "usd_per_hour": round(est.price.total, 4),
                "usd_per_node_hour": round(est.price.per_node, 4),
                "control_plane_usd_per_hour": round(est.price.control_plane, 4),
                "estimated_hours": round(est.hours, 3),
                "experiment_seconds": round(est.experiment_hours * 3600, 1),
                "beside_operators_seconds": round(est.beside_seconds, 1),
                "experiment_work_seconds": round(est.work_seconds, 1),
                "experiment_overhead_seconds": round(est.overhead_seconds, 1),
                "node_hours": round(est.node_hours, 2),
                "estimated_usd": round(est.usd, 2),
                "price_table_as_of": _price_date(),
                "provisioning_figures": _provisioning_figures(cluster.cloud),
            },
            "budget": self.spec.budget.model_dump(),
            "guard": self.guard,
            "manifests": len(self.manifests),
            "violations": self.violations,
            "warnings": self.warnings,
            "results": self.results,
        }


def invalid_json(stack: str, problems: list[str]) -> dict[str, Any]:
    """What `plan --json` prints for a stack that cannot be planned: the same keys as
    `Plan.to_json`, nothing planned, and every problem under `violations`."""
    return {
        "stack": stack,
        "study": None,
        "cloud": None,
        "nodes": None,
        "machine_type": None,
        "resources": [],
        "steps": [],
        "cost": None,
        "budget": None,
        "manifests": 0,
        "violations": list(problems),
        "warnings": [],
    }


def _provisioning_figures(cloud: str) -> list[str]:
    """The provision and teardown durations the estimate used, each with its source."""
    from infra.provisioning import figures_used

    return figures_used(cloud)


def _price_date() -> str:
    from infra.pricing import price_table

    return str(price_table()["as_of"])


def _settings(type_: str, inputs: dict) -> dict[str, Any]:
    keys = SHOWN.get(type_)
    if keys is None:
        return {}
    out = {}
    for k in keys:
        v = dig(inputs, k)
        if v is not None:
            out[k.rsplit(".", 1)[-1]] = int(v) if isinstance(v, float) and v.is_integer() else v
    return out


def load_and_validate(stack: str, now: datetime | None = None,
                      config: dict[str, str] | None = None):
    """(config, spec, report) or SpecError with every structural problem; `config`: the stack's
    config a caller already read (`study run` reads it once), else it is read here."""
    from infra.spec import load_spec

    config = read_stack_config(stack) if config is None else config
    spec = load_spec(config)
    return config, spec, validate_stack(spec, stack, now)


def make_plan(stack: str, manifests_dir: Path | None = None, now: datetime | None = None,
              config: dict[str, str] | None = None) -> Plan:
    """Validate, render under mocks, collect and validate manifests; never calls a cloud.
    `config`: the stack's config when the caller already read it (else read here)."""
    # The cloud SDKs define thousands of classes at import; pausing the cyclic GC while they load
    # and the program runs cuts a cold plan by about a quarter. Nothing here builds cycles that
    # need collecting mid-plan.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _make_plan(stack, manifests_dir, now, config)
    finally:
        if was_enabled:
            gc.enable()


def _make_plan(stack: str, manifests_dir: Path | None, now: datetime | None,
               given: dict[str, str] | None = None) -> Plan:
    from study.mock_engine import run_program
    from study.schemas import validate_object

    config, spec, report = load_and_validate(stack, now, given)
    plan = Plan(stack=stack, spec=spec, report=report)
    if report.errors:  # the program would refuse to run; nothing to render
        return plan
    run = run_program(stack, config, project_dir() / "__main__.py", now=now)
    if run.error is not None:
        if isinstance(run.error, SpecError):
            plan.manifest_problems += run.error.problems
            plan.program_refused = True
            return plan
        raise run.error
    plan.exports = run.exports
    k8s_version = getattr(spec.cluster, "kubernetes_version", None)
    for r in in_dependency_order(run.resources):
        plan.resources.append(
            PlannedResource(r.type, r.name, _settings(r.type, r.inputs), r.custom)
        )
        for obj in manifests_of(r.type, r.inputs):
            plan.manifests.append(obj)
            plan.manifest_problems += validate_object(obj, k8s_version)
    plan.manifest_problems += real_cloud_problems(spec, plan.manifests, run.resources)
    if manifests_dir is not None:
        write_manifests(plan.manifests, manifests_dir)
    return plan


def in_dependency_order(resources: list) -> list:
    """The recorded resources, each after what it waits for (its dependencies and its parent),
    ties by type, name and URN.

    Why not the engine's order: the SDK registers resources from a thread pool, so resources
    whose dependencies resolve together (the preparation steps and the operators, both waiting
    only for the namespace and the nodes) reach the engine in either order, and the manifests'
    numbered file names would change from one plan to the next.
    """
    from graphlib import TopologicalSorter

    by_urn = {r.options["urn"]: r for r in resources if "urn" in r.options}
    key = {id(r): (r.type, r.name, r.options.get("urn", "")) for r in resources}
    graph = TopologicalSorter({
        id(r): {id(by_urn[u]) for u in [*r.options.get("dependencies", ()),
                                        r.options.get("parent") or ""] if u in by_urn}
        for r in resources
    })
    graph.prepare()
    of = {id(r): r for r in resources}
    out: list = []
    while graph.is_active():
        ready = sorted(graph.get_ready(), key=key.__getitem__)
        out += [of[i] for i in ready]
        graph.done(*ready)
    return out


def real_cloud_problems(spec, manifests: list[dict], resources: list) -> list[str]:
    """The named real-cloud rules (`policy.cloud_rules`) over what the program rendered."""
    from policy.cloud_rules import RenderedStack, check

    return check(RenderedStack.of(spec, manifests, resources))


def write_manifests(objs: list[dict], out: Path) -> list[Path]:
    """One YAML file per object in `out`, replacing only what an earlier plan wrote there."""
    from study import manifest_dir

    return manifest_dir.write(objs, out)
