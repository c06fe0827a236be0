"""Turn pydantic's validation errors into one line each: key, value, and what is allowed.

`study:cluster.machine_typ: unknown key; did you mean 'machine_type'?` rather than a traceback.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from infra.spec.common import KeyedValueError


def config_key(loc: tuple[Any, ...]) -> str:
    """('cluster', 'labels', 'x') -> 'study:cluster.labels.x'; list indexes as [i]."""
    if not loc:
        return "study"
    text = f"study:{loc[0]}"
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    if isinstance(annotation, types.UnionType):
        for arg in annotation.__args__:
            found += _models_in(arg)
    return found


def _tag_of(model: type[BaseModel]) -> Any:
    field = model.model_fields.get("cloud") or model.model_fields.get("kind")
    return None if field is None else field.default


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    """Field names of the model(s) reached by following `path` (tags and indexes skipped)."""
    models = [model]
    for part in path:
        if isinstance(part, int):
            continue
        tagged = [m for m in models if _tag_of(m) == part]
        if tagged:  # a discriminated-union tag ('gke', 'eks') picks the member
            models = tagged
            continue
        nxt: list[type[BaseModel]] = []
        for m in models:
            field = m.model_fields.get(part)
            if field is not None:
                nxt += _models_in(field.annotation)
        if nxt:
            models = nxt
    names: list[str] = []
    for m in models:
        names += [n for n in m.model_fields if n not in names]
    return names


def _tags_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[Any]:
    """The union tags ('gke', 'eks') of the members of the field at `path`."""
    models = [model]
    for part in path:
        if isinstance(part, int):
            continue
        models = [
            m2 for m in models if part in m.model_fields
            for m2 in _models_in(m.model_fields[part].annotation)
        ]
    return list(dict.fromkeys(_tag_of(m) for m in models))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_error(
    err: Mapping[str, Any], root: type[BaseModel], prefix: tuple[Any, ...] = ()
) -> str:
    """One line for one pydantic error; `prefix` is where `root` sits in the stack's config
    (a kind's Params validate at ('experiment', 'params')), so keys read as the user wrote them."""
    tagged_loc = tuple(err["loc"])
    loc = _strip_tags(prefix + tagged_loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(root, tagged_loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{guess[0]}'?" if guess else f"allowed: {', '.join(allowed)}"
        return f"{config_key(loc)}: unknown key; {hint}"
    if kind == "missing":
        return f"{config_key(loc)}: required key is missing"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return (
            f"{config_key(loc)}.{ctx.get('discriminator', 'kind').strip(chr(39))}: "
            f"{ctx.get('tag')!r} is not allowed; allowed: {ctx.get('expected_tags')}"
        )
    if kind == "union_tag_not_found":  # e.g. a cluster without `cloud:`
        tags = ", ".join(repr(t) for t in _tags_at(root, _strip_tags(tagged_loc)) if t is not None)
        key = err.get("ctx", {}).get("discriminator", "kind").strip(chr(39))
        return f"{config_key(loc)}.{key}: required key is missing; allowed: {tags}"
    msg = err["msg"]
    keyed = (err.get("ctx") or {}).get("error")
    if isinstance(keyed, KeyedValueError):  # one entry of a mapping (a label): name it
        return f"{config_key((*loc, keyed.key))}: {keyed.shown} is not allowed; {keyed}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
        if not loc:  # a rule over the whole stack: its message names its own keys
            return msg
    msg = msg[:1].lower() + msg[1:]
    return f"{config_key(loc)}: {_short(err.get('input'))} is not allowed; {msg}"


def _strip_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """('cluster', 'gke', 'node_count') -> ('cluster', 'node_count'): users never write the tag."""
    if len(loc) >= 2 and loc[0] == "cluster" and loc[1] in ("gke", "eks"):
        return (loc[0], *loc[2:])
    return loc


def format_validation_error(exc: ValidationError, root: type[BaseModel]) -> list[str]:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        line = format_error(err, root)
        if line not in lines:
            lines.append(line)
    return lines
