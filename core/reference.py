"""Container image references: the one grammar every image or repository parameter is checked with.

Why: references end up in privileged shell scripts on every node and in Pod specs; a value the
registry grammar does not allow (a quote, a space, `$(...)`) must be refused when the stack is
read, not discovered as a command running as root. The grammar below is distribution/reference
`regexp.go` (github.com/distribution/reference, commit 00a09fa, the module containerd and the
kubelet use), transcribed production by production; names are at most 255 characters
(`NameTotalLengthMax`, reference.go). `normalize` follows `ParseDockerRef` (normalize.go):
`debian:12` is `docker.io/library/debian:12`, a reference without tag or digest gets `:latest`,
which is the name containerd's CRI plugin stores the image under.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

ALPHANUMERIC = r"[a-z0-9]+"
SEPARATOR = r"(?:[._]|__|[-]+)"
DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
OPTIONAL_PORT = r"(?::[0-9]+)?"
TAG = r"[\w][\w.-]{0,127}"
DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
DOMAIN_NAME = DOMAIN_COMPONENT + r"(?:\." + DOMAIN_COMPONENT + r")*"
HOST = f"(?:{DOMAIN_NAME}|{IPV6})"
DOMAIN_AND_PORT = HOST + OPTIONAL_PORT
PATH_COMPONENT = f"{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*"
REMOTE_NAME = f"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*"
NAME = f"(?:{DOMAIN_AND_PORT}/)?{REMOTE_NAME}"
# re.ASCII: Go's \w is [0-9A-Za-z_], Python's would also match other scripts' letters.
REFERENCE = re.compile(f"^({NAME})(?::({TAG}))?(?:@({DIGEST}))?$", re.ASCII)
NAME_ONLY = re.compile(f"^{NAME}$", re.ASCII)
NAME_TOTAL_LENGTH_MAX = 255

ALLOWED = "an image reference [registry[:port]/]path[:tag][@digest]"


def problem(value: object, *, name_only: bool = False) -> str | None:
    """Why `value` is not a reference (or, with name_only, a repository name); None if it is."""
    if not isinstance(value, str):
        return "not a string"
    pattern = NAME_ONLY if name_only else REFERENCE
    m = pattern.match(value)
    if m is None:
        return "does not match the reference grammar"
    name = value if name_only else m.group(1)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        return f"name longer than {NAME_TOTAL_LENGTH_MAX} characters"
    return None


def validated(value: str, *, name_only: bool = False) -> str:
    """`value` if it is a reference (or repository name); else ValueError saying what is allowed."""
    why = problem(value, name_only=name_only)
    if why is not None:
        what = "a repository [registry[:port]/]path" if name_only else ALLOWED
        msg = f"{why}; must be {what}"
        raise ValueError(msg)
    return value


def check(value: str, key: str, *, name_only: bool = False) -> str:
    """`value` if it is a reference; else a one-line ValueError naming key, value and the rule."""
    try:
        return validated(value, name_only=name_only)
    except ValueError as exc:
        msg = f"{key}: {value!r} is not allowed; {exc}"
        raise ValueError(msg) from None


# Parameter types for the kinds' Params: the shared formatter turns the ValueError into
# `study:experiment.params.<key>: '<value>' is not allowed; <why>; must be ...`.
ImageRef = Annotated[str, AfterValidator(lambda v: validated(v, name_only=False))]
RepositoryName = Annotated[str, AfterValidator(lambda v: validated(v, name_only=True))]


def normalize(ref: str) -> str:
    """The fully qualified name containerd stores `ref` under (docker.io/library/..., :latest).

    A reference with both a tag and a digest is pulled, and stored, by its digest alone:
    containerd's `reference/docker.ParseDockerRef` drops the tag of a tagged and digested
    reference (the same rule as distribution/reference normalize.go ParseDockerRef).
    """
    check(ref, "image")
    m = REFERENCE.match(ref)
    assert m is not None  # checked above
    name, tag, digest = m.group(1), m.group(2), m.group(3)
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    elif first == "index.docker.io":
        name = f"docker.io/{rest}"
    if name.startswith("docker.io/") and "/" not in name[len("docker.io/"):]:
        name = f"docker.io/library/{name[len('docker.io/'):]}"
    if digest:
        return f"{name}@{digest}"
    return f"{name}:{tag or 'latest'}"
