"""Spec pieces shared by every cloud: budget, declared quota, ownership and expiry, labels.

Field names are the stack-config keys (snake_case). Every model forbids unknown keys so a typo in a
stack file is an error, never a silently ignored setting.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pydantic import Field

from core.model import Strict as Strict  # the base of every spec model, experiments' too
from core.stacks import GCP_PROJECT_ID as GCP_PROJECT_ID  # the GKE spec and `study new` check it

# GCP label rules (cloud.google.com/compute/docs/labeling-resources#requirements), the stricter
# of the two clouds: keys start with a lowercase letter, keys and values are at most 63 of
# lowercase letters, digits, '_' and '-'; at most 64 labels per resource. Use with fullmatch
# (`$` would let a trailing newline through).
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
GCP_MAX_LABELS = 64
# AWS tag rules (docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html): keys 1-128 and
# values 0-256 characters of letters, digits, spaces and _ . : / = + - @; "aws:" in any case is
# reserved as the prefix of keys and of values (EC2, ECS, Batch tag restrictions: "aws:, AWS:, or
# any upper or lowercase combination ... for either keys or values").
AWS_TAG_KEY = re.compile(r"[\w .:/=+\-@]{1,128}", re.ASCII)
AWS_TAG_VALUE = re.compile(r"[\w .:/=+\-@]{0,256}", re.ASCII)
AWS_RESERVED_PREFIX = "aws:"
# The same labels are Kubernetes labels too: on the nodes (GKE node_config.labels, EKS node group
# labels) and on the study's objects, as `study-harness.io/<key>` and as `<key>`. So a key is a
# label name without prefix and a value a label value (kubernetes/kubernetes
# staging/src/k8s.io/apimachinery/pkg/api/validate/content/kube.go, IsLabelKey and IsLabelValue,
# read at HEAD 2026-12: at most 63 of [-A-Za-z0-9_.], starting and ending with a letter or digit;
# a value may be empty).
K8S_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
K8S_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
K8S_RULE = ("it is also a Kubernetes label on the nodes and the study's objects: at most 63 of "
            "letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
# The labels the harness sets on every resource (infra.labels.study_labels); a stack's own
# labels may not replace them.
RESERVED_LABELS = ("study", "stack", "owner", "expires-at", "budget-usd", "managed-by")


class KeyedValueError(ValueError):
    """A problem with one entry of a mapping: reported under `<field>.<key>` with `shown`."""

    def __init__(self, key: str, shown: str, message: str):
        super().__init__(message)
        self.key, self.shown = key, shown


# (pattern the key must fullmatch, what is allowed) and the same for values, per cloud.
_GCP_RULES = (
    (LABEL_KEY, "a GCP label key is a lowercase letter, then up to 62 lowercase letters, digits, "
                "'_' or '-'"),
    (LABEL_VALUE, "a GCP label value is up to 63 lowercase letters, digits, '_' or '-'"),
)
_AWS_RULES = (
    (AWS_TAG_KEY, "an AWS tag key is 1-128 of letters, digits, spaces and _ . : / = + - @, not "
                  "starting with 'aws:'"),
    (AWS_TAG_VALUE, "an AWS tag value is up to 256 of letters, digits, spaces and _ . : / = + "
                    "- @, not starting with 'aws:'"),
)


def gcp_labels(labels: dict[str, str]) -> dict[str, str]:
    """`labels` if GCP and Kubernetes accept them next to the harness's own, else an error
    naming the label."""
    if len(labels) + len(RESERVED_LABELS) > GCP_MAX_LABELS:
        msg = (f"{len(labels)} labels; at most {GCP_MAX_LABELS - len(RESERVED_LABELS)} besides "
               f"the harness's own {len(RESERVED_LABELS)} (GCP allows {GCP_MAX_LABELS})")
        raise ValueError(msg)
    return _labels(labels, _GCP_RULES)


def aws_tags(labels: dict[str, str]) -> dict[str, str]:
    """`labels` if AWS accepts them as tags and Kubernetes as labels, else an error naming the
    label."""
    return _labels(labels, _AWS_RULES, reserved_prefix=AWS_RESERVED_PREFIX)


def _labels(labels: dict[str, str], rules, reserved_prefix: str = "") -> dict[str, str]:
    (key_rule, key_allowed), (value_rule, value_allowed) = rules
    for key, value in labels.items():
        if key in RESERVED_LABELS:
            raise KeyedValueError(key, repr(key), "the harness sets this label on every "
                                  f"resource; allowed: any key but {', '.join(RESERVED_LABELS)}")
        for text, rule, allowed in ((key, key_rule, key_allowed),
                                    (value, value_rule, value_allowed)):
            # "AWS:" and "Aws:" are reserved too.
            reserved = bool(reserved_prefix) and text.lower().startswith(reserved_prefix)
            if reserved or not rule.fullmatch(text):
                raise KeyedValueError(key, repr(text), allowed)
        for text, rule in ((key, K8S_LABEL_NAME), (value, K8S_LABEL_VALUE)):
            if not rule.fullmatch(text):
                raise KeyedValueError(key, repr(text), K8S_RULE)
    return labels


def ascii_name(v: str) -> str:
    """`v` if it is ASCII: the field patterns' `\\d` also matches other scripts' digits ('１'),
    and region, zone and version names reach the cloud as written."""
    if not v.isascii():
        msg = "must be written in ASCII letters and digits, as the cloud names it"
        raise ValueError(msg)
    return v


# Beyond these a cap stops capping: no study here needs more than a few thousand dollars or more
# than a month of wall clock, and a typo'd extra digit must not pass.
MAX_BUDGET_USD = 100_000
MAX_HOURS = 720
MAX_QUOTA = 10_000_000
MAX_PRICE_USD_PER_HOUR = 1_000


class Budget(Strict):
    usd: float = Field(gt=0, le=MAX_BUDGET_USD,
                       description="Hard spending cap for one run, in US dollars.")
    max_hours: float = Field(gt=0, le=MAX_HOURS,
                             description="Wall-clock cap for one run, cluster up to down.")


class Quota(Strict):
    """Quota the owner has (or has requested) in the stack's region; checked before any cloud call.

    Read live when credentials are present (study run); this declared figure is the offline bound.
    """

    cpus: int | None = Field(default=None, ge=0, le=MAX_QUOTA,
                             description="vCPUs of the machine family")
    local_ssd_gb: int | None = Field(default=None, ge=0, le=MAX_QUOTA)
    in_use_addresses: int | None = Field(default=None, ge=0, le=MAX_QUOTA,
                                         description="one per node")
    instances: int | None = Field(default=None, ge=0, le=MAX_QUOTA)


class PriceOverride(Strict):
    """Per-stack price corrections (negotiated rates, another region); USD per hour."""

    # Positive and bounded: a zero or tiny price makes every budget pass.
    machine_usd_per_hour: float | None = Field(default=None, gt=0, le=MAX_PRICE_USD_PER_HOUR)
    # Zero is real: GKE's free tier covers one zonal control plane per billing account.
    control_plane_usd_per_hour: float | None = Field(default=None, ge=0,
                                                     le=MAX_PRICE_USD_PER_HOUR)
    local_ssd_usd_per_hour: float | None = Field(default=None, gt=0, le=MAX_PRICE_USD_PER_HOUR)


def expiry_label(when: datetime) -> str:
    """An expiry as a label value both clouds accept and the janitor parses back."""
    return when.astimezone(UTC).strftime("%Y%m%dt%H%M%Sz")


def parse_expiry_label(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dt%H%M%Sz").replace(tzinfo=UTC)
