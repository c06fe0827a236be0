"""Find the project and read its stack files the way Pulumi does, without the Pulumi CLI.

`stacks/Pulumi.<stack>.yaml` holds a `config:` map; object values are passed to the program as
JSON text and scalars as strings, exactly as the CLI's language host passes them.

This is the one stack reader: plan, stacks, compare-stacks, run, the janitor, the policy pack
and the Pulumi program (infra.config) all read through it, so they agree. It reads only UTF-8
YAML text from regular files, refuses repeated keys and alias blow-up before building anything,
and applies the user's git-ignored overlay (`stacks/local.yaml`, `STUDY_GCP_PROJECT`).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from core.errors import StudyError


def project_dir() -> Path:
    """The directory holding Pulumi.yaml: $STUDY_PROJECT_DIR, the cwd or a parent, or this repo."""
    env = os.environ.get("STUDY_PROJECT_DIR")
    if env:  # an explicit choice: never fall back silently to another project
        chosen = Path(env)
        if (chosen / "Pulumi.yaml").is_file() and (chosen / "stacks").is_dir():
            return chosen
        msg = f"STUDY_PROJECT_DIR={env}: no Pulumi.yaml and stacks/ there; fix or unset it"
        raise StudyError(msg)
    cwd = Path.cwd().resolve()
    candidates = [cwd, *cwd.parents, Path(__file__).resolve().parent.parent]
    for c in candidates:
        if (c / "Pulumi.yaml").is_file() and (c / "stacks").is_dir():
            return c
    msg = "no study-harness project found (Pulumi.yaml and stacks/); run inside the repository"
    raise StudyError(msg)


def stack_names(root: Path | None = None) -> list[str]:
    root = root or project_dir()
    return sorted(
        p.name[len("Pulumi.") : -len(".yaml")] for p in (root / "stacks").glob("Pulumi.*.yaml")
    )


def stack_file(stack: str, root: Path | None = None) -> Path:
    root = root or project_dir()
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    # Anything at the path is this stack's file: the reader says what is wrong with it (a
    # directory, a FIFO, a dangling symlink) rather than calling the stack unknown.
    if not (path.exists() or path.is_symlink()):
        known = stack_names(root)
        named = re.search(r"Pulumi\.(.+)\.ya?ml$", stack)  # a stack file's path, not its name
        guess = difflib.get_close_matches(named.group(1) if named else stack, known, n=1)
        hint = f"did you mean '{guess[0]}'?" if guess else f"known: {', '.join(known)}"
        if named:
            hint = f"give the stack's name, not its file; {hint}"
        msg = f"stack '{stack}' not found in {root / 'stacks'}; {hint}"
        raise StudyError(msg)
    return path


def check_stack_file(stack: str, root: Path | None = None) -> None:
    """The reader's refusals (not text, repeated keys, alias blow-up) on the stack's file, for a
    program whose config the Pulumi CLI read; a stack without a file here is not checked."""
    try:
        root = root or project_dir()
    except StudyError:
        return  # a program run outside this project layout (an Automation API inline program)
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    if not (path.exists() or path.is_symlink()):
        return
    sig = _signature(path)
    if sig is None or sig != _PASSED.get(path):  # unreadable, or not the file read already
        load_yaml_file(path)


# Files `read_stack_config` read and found sound in this process, by what stat says of them
# when the read began: the plan's in-process program (infra.config) then does not read the file
# a second time. An edit since changes the signature, and the file is checked again.
_PASSED: dict[Path, tuple[int, int, int, int]] = {}


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _as_config_value(value: Any) -> str:
    if _is_secure(value):
        return SecretValue(value["secure"])
    if isinstance(value, (dict, list)):
        value = _without_secrets(value)
        return json.dumps(value, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def read_stack_config(stack: str, root: Path | None = None) -> dict[str, str]:
    """The stack's config as the engine hands it to a program: key -> string (JSON for objects),
    with the per-user overlay (`stacks/local.yaml`, `STUDY_GCP_PROJECT`) applied."""
    root = root or project_dir()
    path = stack_file(stack, root)
    before = _signature(path)
    doc = load_yaml_file(path)
    if before is not None:
        _PASSED[path] = before
    if doc is None:
        msg = f"{path.name}: is empty; a stack file is a mapping with a 'config:' key"
        raise StudyError(msg)
    if not isinstance(doc, dict):
        msg = f"{path.name}: must be a mapping with a 'config:' key, not a {type(doc).__name__}"
        raise StudyError(msg)
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        msg = f"{path.name}: 'config' must be a mapping of keys to values"
        raise StudyError(msg)
    if doc.get("environment") is not None:
        raise StudyError(_environment_problem(path, doc["environment"]))
    project = project_name(root)
    out: dict[str, str] = {}
    for k, v in config.items():
        key = config_key(str(k), path, project)
        if key in out:
            msg = (f"{path.name}: config key {str(k)!r} is {key!r} again; keep one (Pulumi would "
                   "read only one of them)")
            raise StudyError(msg)
        if _is_secure(v) and key.startswith("study:"):
            msg = (f"{path.name}: {key}: a secure (encrypted) value is not allowed here; the "
                   "study: keys are checked offline before any cloud call, so they are plain "
                   "text (secrets belong to provider keys such as gcp:credentials)")
            raise StudyError(msg)
        out[key] = _as_config_value(v)
    return apply_overlay(out, root)


# --- the Pulumi CLI's config semantics -----------------------------------------------------------

# What a `secure:` value reads as offline: present, a secret, never decrypted nor printed (the
# program under `pulumi up` gets the plaintext; an offline plan needs none of it).
SECRET = "[secret]"


class SecretValue(str):
    """A `secure:` config value read offline: the text is SECRET, the ciphertext kept aside and
    out of repr, so no message or JSON ever shows it."""

    ciphertext: str

    def __new__(cls, ciphertext: str) -> SecretValue:
        value = super().__new__(cls, SECRET)
        value.ciphertext = ciphertext
        return value

    def __repr__(self) -> str:
        return f"SecretValue({SECRET!r})"


def _is_secure(value: Any) -> bool:
    """`{secure: <ciphertext>}`, how the CLI writes an encrypted value (pulumi/pulumi
    sdk/go/common/resource/config/value.go: an object whose only key is `secure`, a string)."""
    return (isinstance(value, dict) and len(value) == 1 and "secure" in value
            and isinstance(value["secure"], str))


def _without_secrets(value: Any) -> Any:
    if _is_secure(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def project_name(root: Path) -> str:
    """The project's `name:` in Pulumi.yaml, the namespace of bare config keys."""
    path = root / "Pulumi.yaml"
    doc = load_yaml_file(path)
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        msg = f"{path.name}: name: {name!r} is not allowed; the project needs a name"
        raise StudyError(msg)
    return name


def config_key(key: str, path: Path, project: str) -> str:
    """A stack file's config key as the Pulumi CLI reads it.

    pulumi/pulumi sdk/go/common/workspace/loaders.go `stackConfigNamespacedWithProject`: a key
    without ':' is the project's (`<project>:<key>`); sdk/go/common/resource/config/key.go
    `ParseKey`: one ':' is `<namespace>:<name>`, and two are allowed only as the old
    `<namespace>:config:<name>` form, read as `<namespace>:<name>`; anything else is refused.
    """
    colons = key.count(":")
    if colons == 0:
        return f"{project}:{key}"
    if colons == 1:
        return key
    ns, module, name = (key.split(":") + ["", ""])[:3]
    if colons == 2 and module == "config" and ns and name:
        return f"{ns}:{name}"
    msg = (f"{path.name}: config key {key!r} is not allowed; keys are `<namespace>:<name>` "
           f"(a bare name is read as `{project}:<name>`)")
    raise StudyError(msg)


def _environment_problem(path: Path, environment: Any) -> str:
    """Pulumi ESC environments (`environment:` in a stack file) resolve only through Pulumi
    Cloud; offline, every key they may set is unknown, so the plan refuses rather than read
    other config than `pulumi up` would."""
    imports = environment.get("imports") if isinstance(environment, dict) else environment
    names = ([str(e) for e in imports] if isinstance(imports, list) else [])
    named = ", ".join(f"'{n}'" for n in names) if names else repr(environment)
    return (f"{path.name}: environment: imports Pulumi ESC environment(s) {named}; they resolve "
            "only online, so offline no key they set can be resolved (any config key, study: "
            "included, may be theirs) and a plan would read other config than `pulumi up`; "
            "write the values the stack needs under config:")


# --- reading a YAML file safely ------------------------------------------------------------------

# A stack file is a few kilobytes; anything far larger is not one, and reading it whole is how a
# stray path (a log, a disk image) would eat memory.
MAX_FILE_BYTES = 1 << 20
# Aliases are legal YAML and the Pulumi CLI accepts a few, but expanding them is what a "billion
# laughs" document exploits. The bound is on the document as built, counted on the composed
# node graph (where an alias is one shared node) before anything is constructed.
MAX_ALIASES = 100
MAX_EXPANDED_NODES = 100_000
# Nodes as written (an alias counts once), counted while the file is composed: the shipped stacks
# hold a few hundred, and the pure-Python composer takes seconds and hundreds of MB for the
# half-million a 1 MiB flow list holds, so a file past this is refused before it is composed.
MAX_WRITTEN_NODES = 20_000


def read_text_file(path: Path) -> str:
    """The file's text, or a StudyError naming what it is instead (directory, FIFO, binary, ...).

    Never opens anything but a regular file, so a FIFO or a device cannot block or flood the read.
    A UTF-8 byte-order mark is dropped, as the Pulumi CLI does (pulumi/pulumi
    sdk/go/common/workspace/loaders.go, readFileStripUTF8BOM).
    """
    name = path.name
    regular_file_size(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        msg = f"{name}: cannot be read ({exc.strerror or exc})"
        raise StudyError(msg) from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        msg = f"{name}: is UTF-16 text; save it as UTF-8"
        raise StudyError(msg)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.start + 1].hex()
        msg = (f"{name}: not UTF-8 text: byte 0x{bad} at line {line}, column {column}; "
               "save the file as UTF-8")
        raise StudyError(msg) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        msg = f"{name}: binary data (a NUL byte at line {line}); a stack file is YAML text"
        raise StudyError(msg)
    return text


def regular_file_size(path: Path) -> int:
    """The size of `path` if it is a regular file small enough to be a stack file, else a
    StudyError naming what it is (a directory, a FIFO that would block a read, a device, ...)."""
    name = path.name
    try:
        st = path.stat()
    except FileNotFoundError:
        what = "a dangling symlink" if path.is_symlink() else "missing"
        msg = f"{name}: {what}; point it at a stack file or remove it"
        raise StudyError(msg) from None
    except OSError as exc:
        msg = f"{name}: cannot be read ({exc.strerror or exc})"
        raise StudyError(msg) from None
    if not stat.S_ISREG(st.st_mode):
        msg = f"{name}: is {_file_kind(st.st_mode)}, not a regular file; a stack file is YAML text"
        raise StudyError(msg)
    if st.st_size > MAX_FILE_BYTES:
        msg = (f"{name}: {st.st_size} bytes is not a stack file; at most {MAX_FILE_BYTES} bytes "
               "of YAML text")
        raise StudyError(msg)
    return st.st_size


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def load_yaml_file(path: Path) -> Any:
    """One YAML document, refused with one line if it is not text, repeats a key or aliases
    beyond a small bound; the checks run on the composed nodes, before the document is built."""
    return load_yaml_text(read_text_file(path), path.name)


def load_yaml_text(text: str, name: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_nodes(node, name)
        return loader.construct_document(node)
    except _TooManyNodes:
        msg = (f"{name}: more than {MAX_WRITTEN_NODES} YAML nodes; a stack file holds a few "
               "hundred")
        raise StudyError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{name}: not valid YAML: {_yaml_problem(exc)}"
        raise StudyError(msg) from None
    except RecursionError:
        msg = f"{name}: nested too deeply to be a stack file"
        raise StudyError(msg) from None
    finally:
        loader.dispose()


class _TooManyNodes(Exception):
    pass


class _Loader(yaml.SafeLoader):
    """The pure-Python safe loader (its messages and marks are the ones users see; libyaml words
    them differently), stopping once the file holds more nodes than a stack file can."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._composed += 1
        if self._composed > MAX_WRITTEN_NODES:
            raise _TooManyNodes
        return super().compose_node(parent, index)


def _check_nodes(root: yaml.Node, name: str) -> None:
    """Refuse repeated keys and alias-driven blow-up, walking each composed node once.

    Both are refusals of gopkg.in/yaml.v3 (decode.go: `mapping` reports "mapping key %#v already
    defined at line %d", on by default; `unmarshal` stops on "document contains excessive
    aliasing"). The Pulumi CLI decodes stack files through its `encoding` package
    (pulumi/pulumi sdk/go/common/workspace/loaders.go -> encoding.YAML); the versions of it read
    here decode with gopkg.in/yaml.v2, whose non-strict Unmarshal lets a later key win. So the
    harness refuses repeated keys itself: a second `study:budget` block must never silently
    replace the reviewed one, whichever YAML library the CLI at hand uses.
    """
    sizes: dict[int, int] = {}
    aliases = 0
    seen: set[int] = set()

    def walk(node: yaml.Node, where: str = "") -> int:
        nonlocal aliases
        key = id(node)
        if key in seen:  # composed again through an alias: counts its full size once more
            aliases += 1
            if aliases > MAX_ALIASES:
                msg = (f"{name}: more than {MAX_ALIASES} YAML aliases; a stack file needs none "
                       "(write the values out)")
                raise StudyError(msg)
            if key not in sizes:
                msg = f"{name}: line {node.start_mark.line + 1}: an alias contains itself; refused"
                raise StudyError(msg)
            return sizes[key]
        seen.add(key)
        size = 1
        if isinstance(node, yaml.MappingNode):
            _duplicate_keys(node, name, where)
            for k, v in node.value:
                inner = f"{where}.{k.value}" if where else str(k.value)
                size += walk(k) + walk(v, inner)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                size += walk(item, f"{where}[{i}]")
        sizes[key] = size
        if size > MAX_EXPANDED_NODES:
            msg = (f"{name}: expands to more than {MAX_EXPANDED_NODES} YAML nodes through "
                   "aliases; refused (a stack file needs none)")
            raise StudyError(msg)
        return size

    walk(root)


def _duplicate_keys(node: yaml.MappingNode, name: str, where: str) -> None:
    first: dict[tuple[str, str], int] = {}
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
            continue
        line = k.start_mark.line + 1
        ident = (k.tag, k.value)
        if ident in first:
            key = f"{where}.{k.value}" if where else k.value
            msg = (f"{name}: key '{key}' appears twice, at lines {first[ident]} and {line}; "
                   "keep one (the later would silently replace the first)")
            raise StudyError(msg)
        first[ident] = line


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """'line 22, column 5: expected <block end>, ...' instead of PyYAML's multi-line report."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if not problem:
        return " ".join(str(exc).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


# --- the per-user overlay ------------------------------------------------------------------------

# The GCP project the shipped GKE stacks name until a user sets theirs; `study run` refuses it.
PLACEHOLDER_PROJECT = "study-harness-sandbox"
# A GCP project id (use with fullmatch): here, the lowest layer, because the overlay checks it
# before any spec exists and the GKE spec checks the same rule.
GCP_PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
PROJECT_ENV = "STUDY_GCP_PROJECT"
OVERLAY_ENV = "STUDY_LOCAL_CONFIG"  # another overlay file than stacks/local.yaml
OVERLAY_KEYS = {"gcp_project": "the GCP project id of GKE stacks that name the placeholder"}


def placeholder_problems(spec) -> list[str]:
    """What `study run` refuses that a plan accepts: the shipped placeholder project."""
    if getattr(spec.cluster, "project", None) != PLACEHOLDER_PROJECT:
        return []
    return [f"study:cluster.project: {placeholder_message()}"]


def placeholder_message() -> str:
    return (f"'{PLACEHOLDER_PROJECT}' is the shipped placeholder, not your GCP project; set "
            "yours without editing the stack file: `echo 'gcp_project: YOUR-PROJECT' > "
            f"stacks/local.yaml` or `export {PROJECT_ENV}=YOUR-PROJECT`")


def overlay_path(root: Path) -> Path:
    env = os.environ.get(OVERLAY_ENV)
    return Path(env) if env else root / "stacks" / "local.yaml"


def read_overlay(root: Path) -> dict[str, str]:
    """The user's own settings, kept out of tracked files: `stacks/local.yaml` (git-ignored),
    then the environment (`STUDY_GCP_PROJECT` wins over the file)."""
    path = overlay_path(root)
    out: dict[str, str] = {}
    if path.exists() or path.is_symlink():
        doc = load_yaml_file(path)
        if doc is not None and not isinstance(doc, dict):
            msg = f"{path.name}: must be a mapping of {', '.join(OVERLAY_KEYS)}"
            raise StudyError(msg)
        for key, value in (doc or {}).items():
            if key not in OVERLAY_KEYS:
                guess = difflib.get_close_matches(str(key), OVERLAY_KEYS, n=1)
                allowed = ", ".join(OVERLAY_KEYS)
                hint = f"did you mean '{guess[0]}'?" if guess else f"allowed: {allowed}"
                msg = f"{path.name}: {key}: unknown key; {hint}"
                raise StudyError(msg)
            if not isinstance(value, str):
                msg = f"{path.name}: {key}: {value!r} is not allowed; must be a string"
                raise StudyError(msg)
            out[key] = value
    env = os.environ.get(PROJECT_ENV)
    if env is not None:
        out["gcp_project"] = env
    project = out.get("gcp_project")
    if project is not None and not GCP_PROJECT_ID.fullmatch(project):
        where = PROJECT_ENV if env is not None else f"{path.name}: gcp_project"
        msg = (f"{where}: {project!r} is not a GCP project id; 6-30 lowercase letters, digits "
               "or '-', starting with a letter, not ending with '-'")
        raise StudyError(msg)
    return out


def apply_overlay(config: dict[str, str], root: Path | None = None) -> dict[str, str]:
    """`config` with the user's project in place of the placeholder (GKE stacks only), and a
    campaign member's overrides (`core.overrides`) when its `pulumi up` set them. Plan, run,
    the janitor and the Pulumi program itself all read config through here, so they agree."""
    from core import overrides

    member = overrides.from_environment(os.environ)
    if member:
        config = overrides.apply(config, member)
    raw = config.get("study:cluster")
    if not isinstance(raw, str) or not raw.startswith("{"):
        return config
    try:
        cluster = json.loads(raw)
    except json.JSONDecodeError:
        return config
    if not isinstance(cluster, dict) or cluster.get("cloud") != "gke":
        return config
    if cluster.get("project") != PLACEHOLDER_PROJECT:
        return config  # a stack that names its own project keeps it
    # Read only for a stack that uses it: a broken overlay never makes an EKS stack, or one with
    # its own project, unreadable (the janitor must still judge them).
    project = read_overlay(root or project_dir()).get("gcp_project")
    if project is None:
        return config
    cluster["project"] = project
    return {**config, "study:cluster": json.dumps(cluster)}
