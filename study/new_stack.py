"""`study new`: a stack file of one's own, copied from a shipped one with the user's project,
owner and lifetime filled in, then checked by the very loader `study plan` uses.

The copy keeps the shipped file's comments (they say why each value is what it is); only the
three values change. The file is created exclusively, so an existing stack file is never
overwritten, and it is removed again when the loader refuses it: what is left is a valid stack.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.errors import SpecError, StudyError

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class NewStack:
    stack: str
    path: Path
    source: str
    lifetime: dict[str, str]  # the lifetime key written and its value


def parse_ttl(text: str, option: str = "--ttl") -> timedelta:
    """'12h' -> 12 hours, or a one-line StudyError naming the option, the value and the rule."""
    from infra.spec import MAX_LIFETIME, MIN_TTL, TTL, ttl_text  # the spec's rule, stated once

    m = TTL.fullmatch(text)
    if m is None:
        msg = (f"{option} {text!r}: not a lifetime; a whole number of minutes, hours or days, "
               "e.g. 90m, 12h, 3d")
        raise StudyError(msg)
    ttl = timedelta(**{_UNITS[m[2]]: int(m[1])})
    if not MIN_TTL <= ttl <= MAX_LIFETIME:
        msg = (f"{option} {text}: not allowed; between {ttl_text(MIN_TTL)} and "
               f"{ttl_text(MAX_LIFETIME)}")
        raise StudyError(msg)
    return ttl


def _ttl_is_a_key() -> bool:
    """Whether the stack spec reads `study:ttl` (a lifetime stamped at the cluster's creation);
    without it, a lifetime is written as the absolute `study:expires_at` it ends at."""
    from infra.spec import StackSpec

    return "ttl" in StackSpec.model_fields


def lifetime_config(ttl: str | None, expires_at: str | None, now: datetime,
                    ttl_is_a_key: bool) -> dict[str, str | None]:
    """The lifetime keys to set (a value) and to drop (None): exactly one of ttl, expires_at."""
    if (ttl is None) == (expires_at is None):
        msg = "give the stack's lifetime once: --ttl (e.g. 12h) or --expires-at (ISO 8601)"
        raise StudyError(msg)
    if expires_at is not None:
        try:
            when = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            msg = (f"--expires-at {expires_at!r}: not an ISO 8601 date-time, e.g. "
                   "2027-01-31T00:00:00Z")
            raise StudyError(msg) from None
        if when.tzinfo is None:
            msg = (f"--expires-at {expires_at}: no time zone; a date and time ending in Z "
                   "(UTC), e.g. 2027-01-31T00:00:00Z")
            raise StudyError(msg)
        text = when.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {"study:expires_at": text, "study:ttl": None}
    assert ttl is not None
    span = parse_ttl(ttl)
    if ttl_is_a_key:
        return {"study:ttl": ttl, "study:expires_at": None}
    end = (now + span).astimezone(UTC).replace(second=0, microsecond=0)
    return {"study:expires_at": end.isoformat().replace("+00:00", "Z"), "study:ttl": None}


def _source_config(yaml, source: str, src: Path):
    """The source document (round trip) with its `config:` and `study:cluster` mappings, or a
    one-line StudyError: any stack may be copied, so the source is input like any other."""
    from ruamel.yaml.error import YAMLError

    from core.stacks import _yaml_problem, load_yaml_text, regular_file_size

    try:
        # A FIFO or a device would block or flood a plain read: the one reader's refusals first.
        regular_file_size(src)
    except StudyError as exc:
        msg = f"--from {source}: {exc}"
        raise StudyError(msg) from None
    try:
        text = src.read_text(encoding="utf-8")
        doc = yaml.load(text)
    except UnicodeDecodeError as exc:
        msg = f"--from {source}: {src.name} is not UTF-8 text (byte {exc.start}); fix it"
        raise StudyError(msg) from None
    except OSError as exc:
        msg = f"--from {source}: {src.name} cannot be read ({exc.strerror or exc})"
        raise StudyError(msg) from None
    except YAMLError as exc:
        msg = f"--from {source}: {src.name} is not a stack file: {_yaml_problem(exc)}"
        raise StudyError(msg) from None
    try:  # aliases that blow up are refused naming the source, not the copy made of it
        load_yaml_text(text, src.name)
    except StudyError as exc:
        msg = f"--from {source}: {exc}"
        raise StudyError(msg) from None
    config = doc.get("config") if isinstance(doc, dict) else None
    cluster = config.get("study:cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict):
        msg = (f"--from {source}: {src.name} has no study:cluster mapping under config:; copy "
               "a stack `study stacks` lists")
        raise StudyError(msg)
    return doc, config, cluster


def create(stack: str, source: str, project: str | None, owner: str, ttl: str | None,
           expires_at: str | None, now: datetime | None = None,
           root: Path | None = None) -> NewStack:
    """Write stacks/Pulumi.<stack>.yaml from `source`; StudyError (one line) or SpecError."""
    from ruamel.yaml import YAML

    from core.stacks import project_dir, stack_file
    from infra.spec.common import GCP_PROJECT_ID, K8S_LABEL_VALUE, LABEL_VALUE
    from infra.validate import STACK_NAME, STACK_NAME_RULE, clock
    from study.paths import stack_name
    from study.plan import load_and_validate

    root = root or project_dir()
    stack_name(stack, "STACK")
    if not STACK_NAME.match(stack):
        msg = f"STACK {stack!r}: not allowed; {STACK_NAME_RULE}"
        raise StudyError(msg)
    stack_name(source, "--from")
    src = stack_file(source, root)
    dest = root / "stacks" / f"Pulumi.{stack}.yaml"
    if dest.exists():
        msg = f"stack '{stack}' exists ({dest}); pick another name, or edit that file"
        raise StudyError(msg)
    if not owner or not LABEL_VALUE.fullmatch(owner):
        msg = (f"--owner {owner!r}: not allowed; lowercase letters, digits, '_' or '-', at most "
               "63 characters (it becomes a label on every resource)")
        raise StudyError(msg)
    if not K8S_LABEL_VALUE.fullmatch(owner):
        msg = (f"--owner {owner!r}: not allowed; must start and end with a letter or digit (it "
               "is also a Kubernetes label on the nodes and the study's objects)")
        raise StudyError(msg)
    now = now or clock()
    lifetime = lifetime_config(ttl, expires_at, now, _ttl_is_a_key())

    yaml = YAML()  # round trip: comments, key order and quoting stay as the shipped file has them
    yaml.width = 4096
    yaml.preserve_quotes = True
    doc, config, cluster = _source_config(yaml, source, src)
    if cluster.get("cloud") == "gke":
        if project is None:
            msg = (f"--project: required for a GKE stack ({source}): the GCP project to create "
                   "the cluster in")
            raise StudyError(msg)
        if not GCP_PROJECT_ID.fullmatch(project):
            msg = (f"--project {project!r}: not a GCP project id; 6-30 lowercase letters, digits "
                   "or '-', starting with a letter, not ending with '-'")
            raise StudyError(msg)
        cluster["project"] = project
    elif project is not None:
        msg = (f"--project: an EKS stack ({source}) has none; the AWS account comes from your "
               "credentials, leave it out")
        raise StudyError(msg)
    config["study:owner"] = owner
    for key, value in lifetime.items():
        if value is None:
            config.pop(key, None)
        elif key in config:
            config[key] = value
        else:  # beside the owner, where the shipped files keep the lifetime
            config.insert(list(config).index("study:owner") + 1, key, value)
    buf = io.StringIO()
    yaml.dump(doc, buf)
    header = (f"# Made by `study new {stack} --from {source}`; edit freely, `study plan {stack}` "
              "checks it.\n")
    try:  # exclusive: two `study new` of one name cannot both write
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        msg = f"stack '{stack}' exists ({dest}); pick another name, or edit that file"
        raise StudyError(msg) from None
    except OSError as exc:
        msg = f"cannot create {dest} ({exc.strerror or exc})"
        raise StudyError(msg) from None
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(header + buf.getvalue())
        except OSError as exc:  # a full disk: no half-written stack file stays behind
            msg = f"cannot write {dest} ({exc.strerror or exc}); it was removed"
            raise StudyError(msg) from None
        _, _, report = load_and_validate(stack, now)
        if report.errors:
            raise SpecError([str(p) for p in report.errors])
    except BaseException:
        dest.unlink(missing_ok=True)  # nothing half-made is left behind
        raise
    written = {k: v for k, v in lifetime.items() if v is not None}
    return NewStack(stack=stack, path=dest, source=source, lifetime=written)
