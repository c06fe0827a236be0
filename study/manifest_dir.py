"""The directory `study plan` writes rendered manifests into, and the index of what it wrote.

`.study-manifests.json` in that directory names every file the harness wrote there; only those
are ever replaced or removed. A directory holding anything else and no index (the project, a
home directory, `/`, `/proc`) is refused before the plan runs, as is an empty value, so
`--manifests .` or `--manifests ""` never sprays files into the working directory, and no
plan ever deletes a file it did not write.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml

from core.errors import StudyError, ensure_dir

INDEX = ".study-manifests.json"
TMP_INDEX = f".{INDEX}.tmp"
WRITER = "study plan"
# Kernel pseudo-filesystems: never a place for files, even where a directory looks empty.
PSEUDO = ("/proc", "/sys", "/dev")
# One path component made of a Kubernetes kind or name; anything else is written as `invalid`.
_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")
_FILE = re.compile(r"[0-9]{3}-[A-Za-z0-9._-]+\.yaml")


def _refuse(option: str, path: object, why: str) -> StudyError:
    return StudyError(f"{option} {path}: {why}")


def prepare(raw: str | Path, option: str = "--manifests", adopt: bool = False) -> Path:
    """The directory `raw` names, created if missing, or a one-line StudyError saying why not.

    `adopt`: the default `plan-out/<stack>/`, the harness's own git-ignored directory, where
    plans before the index wrote their `<nnn>-<kind>-<name>.yaml` files; when it holds nothing
    else, those files are taken as the harness's (once, by writing the index).
    """
    text = str(raw)
    if isinstance(raw, str) and not raw.strip():
        msg = f"{option} {raw!r}: empty; pass a directory (default: plan-out/<stack>)"
        raise StudyError(msg)
    path = Path(text)
    real = os.path.realpath(path)
    if any(real == p or real.startswith(p + "/") for p in PSEUDO):
        raise _refuse(option, path, "is inside a kernel pseudo-filesystem; pass a directory of "
                                    "your own")
    try:  # a name too long for the filesystem is an OSError here, not a missing directory
        exists, is_dir, is_link = path.exists(), path.is_dir(), path.is_symlink()
    except OSError as exc:
        raise _refuse(option, path, f"cannot be used ({exc.strerror or exc}); pass another "
                                    "directory") from None
    if is_link and not exists:
        raise _refuse(option, path, f"is a link to nothing ({os.readlink(path)}); create its "
                                    "target or pass another directory")
    if exists and not is_dir:
        raise _refuse(option, path, "exists and is not a directory; pass a directory")
    if is_dir:
        indexed = read_index(path, option)
        others = _entries(path, option)
        if indexed is None:
            if adopt and others and all(_FILE.fullmatch(n) for n in others):
                _write_index(path, others)
                others = []
        else:  # beside an index, a user's notes may stay; a file named like a manifest may not
            others = [n for n in others if _FILE.fullmatch(n) and n not in indexed]
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise _refuse(option, path, f"holds files {WRITER} did not write ({shown}); "
                                        "pass a new or empty directory, or remove it")
    else:
        ensure_dir(path, option)
    if not os.access(path, os.W_OK | os.X_OK):
        raise _refuse(option, path, "is not writable; pass a directory you can write")
    return path


def _entries(path: Path, option: str) -> list[str]:
    """What `path` holds besides the harness's own index file in the making (a crash between
    writing it and renaming it into place leaves it; it is replaced next time)."""
    try:
        return sorted(e.name for e in os.scandir(path) if e.name != TMP_INDEX)
    except OSError as exc:
        raise _refuse(option, path, f"cannot be listed ({exc.strerror or exc})") from None


def read_index(path: Path, option: str = "--manifests") -> list[str] | None:
    """The file names the harness wrote into `path`, or None when it has no index."""
    index = path / INDEX
    if not index.exists():
        return None
    try:
        doc = json.loads(index.read_text())
        files = doc["files"]
        if doc.get("written_by") != WRITER or not all(isinstance(f, str) for f in files):
            raise ValueError(doc.get("written_by"))
    except (OSError, ValueError, KeyError, TypeError):
        raise _refuse(option, path, f"{INDEX} is not an index {WRITER} wrote; remove it or "
                                    "pass another directory") from None
    # Only plain names of the harness's own pattern: a hand-edited index cannot reach elsewhere.
    return [f for f in files if _FILE.fullmatch(f)]


def _create(path: Path, text: str) -> None:
    """A new file at `path`: never written through a symlink or over a file already there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _write_index(path: Path, files: list[str]) -> None:
    tmp = path / TMP_INDEX
    tmp.unlink(missing_ok=True)  # the harness's own name; a symlink there is not followed
    _create(tmp, json.dumps({"written_by": WRITER, "files": files}, indent=1) + "\n")
    os.replace(tmp, path / INDEX)


def clear(path: Path) -> int:
    """Remove what an earlier plan wrote into `path` (only that); how many files went."""
    files = read_index(path) or []
    removed = 0
    for name in files:
        try:
            (path / name).unlink()
            removed += 1
        except FileNotFoundError:
            pass
    _write_index(path, [])
    return removed


def file_name(i: int, obj: dict) -> str:
    """`<nnn>-<kind>-<name>.yaml`, declaration order first; never more than one component."""
    kind = str(obj.get("kind", "unknown")).lower()
    name = str((obj.get("metadata") or {}).get("name", "unnamed"))
    kind = kind if _COMPONENT.fullmatch(kind) else "invalid"
    name = name if _COMPONENT.fullmatch(name) else "invalid"
    return f"{i:03d}-{kind}-{name}.yaml"


def write(objs: list[dict], path: Path) -> list[Path]:
    """Replace the earlier plan's files in `path` with one YAML file per object, indexed.

    The index lists the new names before they are written, so a crash half-way leaves only
    files the next plan knows to be its own.
    """
    old = read_index(path) or []
    names = [file_name(i, o) for i, o in enumerate(objs)]
    _write_index(path, sorted(set(old) | set(names)))
    for name in set(old) - set(names):
        (path / name).unlink(missing_ok=True)
    out = []
    for name, obj in zip(names, objs, strict=True):
        p = path / name
        if name in old:  # the harness's file (or a link put in its place): replaced, not followed
            p.unlink(missing_ok=True)
        try:
            _create(p, yaml.dump(obj, Dumper=yaml.CSafeDumper, sort_keys=False))
        except FileExistsError:  # appeared since the directory was checked: someone else's
            msg = (f"the manifests directory {path}: {name} appeared while the plan ran and "
                   f"is not {WRITER}'s; it was left as it is")
            raise StudyError(msg) from None
        out.append(p)
    _write_index(path, names)
    return out
