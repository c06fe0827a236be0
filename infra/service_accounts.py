"""The names of the Kubernetes service accounts a stack's cloud identities trust, one per stack.

Why per stack: on GKE the workload identity pool is the project's (`PROJECT.svc.id.goog`), not
the cluster's, and a principal `serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]` means that
namespace and name in every cluster of the project (Workload Identity Federation for GKE,
"Identity sameness"). Every study cluster has the namespace `study-harness`, so one fixed name
(`study-results-uploader`, `study-guard`) would let any stack's pods act as every other stack's
writer (and write under its prefix) or guard (and resize its nodes). A name carrying the stack
ties each binding to one stack. EKS Pod Identity associations are per cluster already; they use
the same names so both clouds render the same objects.

The rule is the one every GSA id follows (`infra.clusters.gke.service_account_id`):
`<prefix>-<stack>`, shortened with a hash of the stack when it is too long (or when characters a
name may not hold had to be replaced), so two stacks never share a name. What it does not do:
decide the namespace (core.layout) or create anything.
"""

from __future__ import annotations

import hashlib
import re

# A Kubernetes object name that is also a DNS-1123 label (RFC 1123: lowercase letters, digits
# and '-', alphanumeric at both ends, at most 63 characters), so it fits anywhere a name goes.
DNS_LABEL_MAX = 63
_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")


def bounded_name(prefix: str, stack: str, limit: int) -> str:
    """`<prefix>-<stack>` within `limit` characters; a stack that does not fit as it is (too
    long, or holding characters outside `[a-z0-9-]`) keeps what fits plus 6 hex digits of its
    sha256, so distinct stacks get distinct names."""
    safe = _NOT_ALLOWED.sub("-", stack.lower()).strip("-")
    full = f"{prefix}-{safe}"
    if safe == stack and len(full) <= limit:
        return full
    digest = hashlib.sha256(stack.encode()).hexdigest()[:6]
    keep = limit - len(prefix) - len(digest) - 2
    kept = safe[:max(keep, 0)].rstrip("-")
    return "-".join(p for p in (prefix, kept, digest) if p)


def uploader_sa(stack: str) -> str:
    """The service account every upload Job of `stack` runs as: `results-<stack>`."""
    return bounded_name("results", stack, DNS_LABEL_MAX)


def guard_sa(stack: str) -> str:
    """The service account the guard CronJob of `stack` runs as: `guard-<stack>`."""
    return bounded_name("guard", stack, DNS_LABEL_MAX)
