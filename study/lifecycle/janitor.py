"""`study janitor`: destroy every stack of the project whose expiry has passed (cron and CI).

Expiries come from two places: `study:expires_at` in the stack files, and the `expires-at` label
on the resources themselves (which also finds stacks whose file was deleted or whose up was never
recorded here, and is the only expiry of a `study:ttl` stack: stamped when it was created).
A stack file's expiry wins over older labels (the owner may have extended it).
Stacks with nothing left are skipped; `--dry-run` only reports.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

import yaml

from study.lifecycle.destroy import DestroyPolicy
from study.paths import is_stack_name


@dataclass
class JanitorItem:
    stack: str
    expires_at: datetime | None
    source: str  # "stack file" | "labels"
    # destroyed | would destroy | not expired | nothing left | not created | failed | unreadable
    action: str
    detail: str = ""

    def to_json(self) -> dict:
        return {
            "stack": self.stack,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "source": self.source,
            "action": self.action,
            "detail": self.detail,
        }


def file_expiry(config: dict[str, str]) -> datetime | None:
    """`study:expires_at` without validating the rest (a broken stack still expires)."""
    raw = config.get("study:expires_at")
    if not raw:
        return None
    value = yaml.safe_load(raw) if not isinstance(raw, datetime) else raw
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            msg = f"study:expires_at: {value!r} is not an ISO 8601 date-time (2027-12-31T00:00:00Z)"
            raise ValueError(msg) from None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def sweep(services, now: datetime, dry_run: bool, stacks: list[str], read_config,
          policy: DestroyPolicy | None = None) -> list[JanitorItem]:
    """Find expired stacks and destroy them (or say what would be destroyed)."""
    from infra.spec import load_spec
    from study.lifecycle.commands import destroy_command

    items: list[JanitorItem] = []
    specs: dict[str, object] = {}
    configs: dict[str, dict[str, str]] = {}
    expiries: dict[str, tuple[datetime | None, str]] = {}
    invalid: dict[str, str] = {}
    for stack in stacks:
        try:
            cfg = read_config(stack)
            configs[stack] = cfg
            expiries[stack] = (file_expiry(cfg), "stack file")
            specs[stack] = load_spec(cfg)
        except Exception as exc:  # noqa: BLE001 - reported, the sweep goes on
            if stack not in expiries:
                items.append(JanitorItem(stack, None, "stack file", "unreadable", str(exc)))
            else:  # the expiry read, the rest did not: say why if no expiry is found either
                invalid[stack] = str(exc)
    # Labels: one listing per distinct place (project/region) the stacks use.
    seen_places: set[tuple] = set()
    unlisted: set[tuple] = set()  # places whose labels could not be read
    for spec in specs.values():
        place = _place(spec)
        if place in seen_places:
            continue
        seen_places.add(place)
        try:
            labelled = services.inventory.expiring_stacks(spec)
        except Exception as exc:  # noqa: BLE001
            items.append(JanitorItem("*", None, "labels", "failed", f"{place}: {exc}"))
            unlisted.add(place)
            continue
        for stack, when in labelled.items():
            if not is_stack_name(stack):  # a label value, never a path or a Pulumi argument
                items.append(JanitorItem(stack, when, "labels", "failed",
                                         "the stack label is not a stack name; not touched, "
                                         "find the resources by their labels"))
                continue
            if stack not in expiries or expiries[stack][0] is None:
                expiries[stack] = (when, "labels")
    for stack, (when, source) in sorted(expiries.items()):
        spec = specs.get(stack)
        if when is None and getattr(spec, "ttl", None) is not None:
            if _place(spec) in unlisted:  # its only expiry is on labels nobody could read
                items.append(JanitorItem(stack, None, "labels", "unreadable",
                                         "study:ttl: its expiry is on its resources' labels, "
                                         "which could not be listed"))
                continue
            # study:ttl is stamped on the resources at creation: none carries it, none exists.
            items.append(JanitorItem(stack, None, "labels", "not created",
                                     "study:ttl counts from creation; nothing carries its labels"))
            continue
        if when is None:
            items.append(JanitorItem(stack, None, source, "unreadable",
                                     invalid.get(stack, "no study:expires_at")))
            continue
        if when > now:
            items.append(JanitorItem(stack, when, source, "not expired"))
            continue
        if not _anything_left(services, stack, spec):
            items.append(JanitorItem(stack, when, source, "nothing left"))
            continue
        if dry_run:
            items.append(JanitorItem(stack, when, source, "would destroy"))
            continue
        if stack not in configs:
            items.append(JanitorItem(stack, when, source, "failed",
                                     "no stack file; destroy by hand: pulumi destroy -s "
                                     + shlex.quote(stack)))
            continue
        out = destroy_command(stack, services, configs[stack], policy)
        if out.ok:
            items.append(JanitorItem(stack, when, source, "destroyed"))
        else:
            left = ", ".join(str(r) for r in out.leftovers) or "unverified"
            items.append(JanitorItem(stack, when, source, "failed",
                                     f"{'; '.join(out.errors[-1:])}; leftovers: {left}; "
                                     f"finish with: {out.finish_command(stack)}"))
    return items


def _place(spec) -> tuple:
    """Where a stack's resources are listed: one listing per cloud, project and region."""
    c = spec.cluster
    return (c.cloud, getattr(c, "project", None), getattr(c, "region", None))


def _anything_left(services, stack: str, spec) -> bool:
    try:
        if services.backend.exists(stack):
            return True
    except Exception:  # noqa: BLE001 - fall through to the cloud listing
        pass
    if spec is None:
        return True  # found by labels only: something carries them
    try:
        return bool(services.inventory.labelled(spec, stack))
    except Exception:  # noqa: BLE001 - cannot tell: treat as present, destroy is idempotent
        return True
