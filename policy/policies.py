"""The policy pack's rules as plain `validate(args, report_violation)` functions.

They guard what the seed studies got wrong at the resource level, for `pulumi up --policy-pack
policy` as much as for `study run`:
- budget and expiry labels on every taggable resource (the janitor and cost tracking need them);
- deletion protection off on clusters (GKE defaults it to true and destroy reads it from state,
  so a protected cluster cannot be destroyed by the harness) and no `protect` option on them;
- node count within the declared quota (quota ran out at 128 and 256 nodes in the seed studies
  only after the clusters were requested);
- compact placement only on machine families and locations that support it;
- and, over the whole stack at once, the plan's real-cloud rules (`real_cloud_rules`).

Kept free of `PolicyPack` so tests import this module without starting the policy server
(`policy/__main__.py` builds the pack). Props arrive camelCased, numbers as floats.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from infra.props import dig

REQUIRED_LABELS = ("study", "stack", "owner", "expires-at", "budget-usd", "managed-by")

# type token -> dotted path of the labels (GCP) or tags (AWS) in the resource's props
LABEL_PATHS: dict[str, str] = {
    "gcp:container/cluster:Cluster": "resourceLabels",
    "gcp:container/nodePool:NodePool": "nodeConfig.resourceLabels",
    "gcp:compute/instance:Instance": "labels",
    "gcp:compute/disk:Disk": "labels",
    "gcp:compute/address:Address": "labels",
    "aws:eks/cluster:Cluster": "tags",
    "aws:eks/nodeGroup:NodeGroup": "tags",
    "aws:ec2/vpc:Vpc": "tags",
    "aws:ec2/subnet:Subnet": "tags",
    "aws:ec2/securityGroup:SecurityGroup": "tags",
    "aws:ec2/launchTemplate:LaunchTemplate": "tags",
    "aws:ec2/placementGroup:PlacementGroup": "tags",
    "aws:iam/role:Role": "tags",
}
CLUSTERS = ("gcp:container/cluster:Cluster", "aws:eks/cluster:Cluster")
GKE_POOL = "gcp:container/nodePool:NodePool"
EKS_GROUP = "aws:eks/nodeGroup:NodeGroup"

Report = Callable[..., None]


def _labels(args) -> dict[str, str] | None:
    path = LABEL_PATHS.get(args.resource_type)
    if path is None:
        return None
    return dict(dig(args.props, path) or {})


def labels_mandatory(args, report_violation: Report) -> None:
    """Every taggable resource carries the study labels; expiry and budget must parse."""
    from infra.labels import parse_budget_label
    from infra.spec.common import parse_expiry_label

    labels = _labels(args)
    if labels is None:
        return
    where = LABEL_PATHS[args.resource_type]
    missing = [k for k in REQUIRED_LABELS if not labels.get(k)]
    if missing:
        report_violation(
            f"{args.resource_type} '{args.name}' is missing label(s) {', '.join(missing)} in "
            f"{where}; build labels with infra.labels.study_labels", None
        )
    if labels.get("expires-at"):
        try:
            parse_expiry_label(labels["expires-at"])
        except ValueError:
            report_violation(
                f"'{args.name}': expires-at '{labels['expires-at']}' is not YYYYMMDDtHHMMSSz "
                "(infra.spec.common.expiry_label)", None
            )
    if labels.get("budget-usd"):
        try:
            parse_budget_label(labels["budget-usd"])
        except ValueError:
            report_violation(
                f"'{args.name}': budget-usd '{labels['budget-usd']}' is not a number like 12_50",
                None,
            )


def deletion_protection_off(args, report_violation: Report) -> None:
    """Clusters must be destroyable by the harness: GKE deletionProtection false, no `protect`."""
    if args.resource_type not in CLUSTERS:
        return
    if args.resource_type == "gcp:container/cluster:Cluster":
        # The provider default is true, so an absent value is a violation too.
        if args.props.get("deletionProtection", True) is not False:
            report_violation(
                f"GKE cluster '{args.name}' has deletionProtection "
                f"{args.props.get('deletionProtection', 'unset (defaults to true)')}; set "
                "deletion_protection=False from the first up or it cannot be destroyed", None
            )
    opts = getattr(args, "opts", None)
    if opts is not None and getattr(opts, "protect", False):
        report_violation(
            f"cluster '{args.name}' has the protect resource option; remove it so `study "
            "destroy` and the janitor can delete it", None
        )


def _stack_quota(stack: str | None, root: Path | None = None) -> dict[str, float]:
    """The declared `study:quota` of the stack named by the resource's `stack` label."""
    if not stack:
        return {}
    from core.errors import StudyError
    from core.stacks import read_stack_config
    from infra.spec import config_to_sections

    try:
        sec = config_to_sections(read_stack_config(stack, root))
    except StudyError:
        return {}
    return {k: float(v) for k, v in (sec.get("quota") or {}).items() if v is not None}


def _quota(args) -> dict[str, float]:
    """Policy config (`quota_cpus`, `quota_instances`, ...) first, else the stack file."""
    cfg = args.get_config() if hasattr(args, "get_config") else {}
    configured = {k[len("quota_"):]: float(v) for k, v in (cfg or {}).items()
                  if k.startswith("quota_") and v is not None}
    if configured:
        return configured
    labels = _labels(args) or {}
    return _stack_quota(labels.get("stack") or (dig(args.props, "nodeConfig.labels") or {}).get(
        "stack"))


def node_count_within_quota(args, report_violation: Report) -> None:
    """A node pool/group never asks for more vCPUs, instances or addresses than declared."""
    if args.resource_type == GKE_POOL:
        from infra.machines import gce_shape

        nodes = args.props.get("nodeCount") or args.props.get("initialNodeCount")
        mt = dig(args.props, "nodeConfig.machineType")
        try:
            vcpus = gce_shape(mt).vcpus if mt else None
        except ValueError:
            vcpus = None
        needs_addresses = True
    elif args.resource_type == EKS_GROUP:
        from infra.aws_instances import instance_shape

        scaling = args.props.get("scalingConfig") or {}
        nodes = scaling.get("maxSize") or scaling.get("desiredSize")
        types = args.props.get("instanceTypes") or []
        try:
            vcpus = instance_shape(types[0]).vcpus if types else None
        except ValueError:
            vcpus = None
        needs_addresses = False
    else:
        return
    if nodes is None:
        return
    nodes = int(nodes)
    quota = _quota(args)
    needs = {"instances": nodes}
    if vcpus is not None:
        needs["cpus"] = nodes * vcpus
    if needs_addresses:
        needs["in_use_addresses"] = nodes
    for key, need in needs.items():
        have = quota.get(key)
        if have is not None and need > have:
            report_violation(
                f"'{args.name}': {nodes} nodes need {need:g} {key} but the declared quota is "
                f"{have:g}; request more quota or use fewer nodes", None
            )


def compact_placement_supported(args, report_violation: Report) -> None:
    """COMPACT placement only on families that support it, in a single zone (infra.machines)."""
    if args.resource_type != GKE_POOL:
        return
    if (dig(args.props, "placementPolicy.type") or "").upper() != "COMPACT":
        return
    from infra.machines import compact_placement_families, gce_shape

    mt = dig(args.props, "nodeConfig.machineType") or ""
    try:
        shape = gce_shape(mt)
    except ValueError as exc:
        report_violation(f"'{args.name}': machine type '{mt}': {exc}", None)
        return
    if not shape.compact_placement:
        report_violation(
            f"'{args.name}': compact placement is not supported on {mt} (family "
            f"{shape.family}); use one of: {', '.join(compact_placement_families())}", None
        )
    location = args.props.get("location") or ""
    if location and location.count("-") < 2:  # us-central1 is a region, us-central1-a a zone
        report_violation(
            f"'{args.name}': compact placement needs a single zone, not region '{location}'", None
        )


def _duration(seconds: float | None) -> str | None:
    return f"{int(seconds)}s" if seconds else None


def real_cloud_rules(args, report_violation: Report) -> None:
    """The plan's real-cloud rules (`policy.cloud_rules`) over the stack as `pulumi up` sees it.

    A stack validation policy: the rules compare objects with each other (one StorageClass for
    every claim, one Service per step), so they need every resource at once. Kubernetes props
    become the objects the API server would receive, resource options the recorded options.
    """
    from types import SimpleNamespace

    from policy.cloud_rules import RenderedStack, check
    from policy.manifests import manifests_of

    manifests: list[dict] = []
    resources = []
    for r in args.resources:
        manifests += manifests_of(r.resource_type, dict(r.props or {}))
        t = getattr(r.opts, "custom_timeouts", None)
        timeouts = {k: v for k, v in {
            "create": _duration(getattr(t, "create_seconds", None)),
            "update": _duration(getattr(t, "update_seconds", None)),
            "delete": _duration(getattr(t, "delete_seconds", None)),
        }.items() if v}
        resources.append(SimpleNamespace(type=r.resource_type, name=r.name,
                                         inputs=dict(r.props or {}),
                                         options={"customTimeouts": timeouts}))
    for problem in check(RenderedStack.of(None, manifests, resources)):
        report_violation(problem, None)


# Rules over the whole stack at once (StackValidationPolicy), in the same (name, doc, fn) shape.
STACK_POLICIES: list[tuple[str, str, Callable]] = [
    ("real-cloud-rules", "What real providers and controllers need beyond the schemas "
     "(`study rules` lists each rule and its upstream source).", real_cloud_rules),
]

POLICIES: list[tuple[str, str, Callable]] = [
    ("study-labels-mandatory", "Budget, expiry and ownership labels on every taggable resource.",
     labels_mandatory),
    ("cluster-deletion-protection-off", "Clusters can be destroyed by the study.",
     deletion_protection_off),
    ("node-count-within-quota", "Node pools fit the stack's declared quota.",
     node_count_within_quota),
    ("compact-placement-supported", "Compact placement only where GCE supports it.",
     compact_placement_supported),
]
