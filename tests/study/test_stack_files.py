"""Stack files that are not UTF-8 YAML text, repeat a key or blow up through aliases: exit 1 and
one line naming the file, and never a broken listing for the other stacks."""

from __future__ import annotations

import json
import os
import time
import tracemalloc

import pytest

from tests.conftest import sections

BILLION_LAUGHS = "config:\n  a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  {n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
    for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.fixture
def good(project):
    """A project holding one valid stack, `good`, beside which a test writes a bad one."""
    project("good", sections("gke-4-nightly"))
    return project


def bad_file(project, name: str = "bad"):
    return project.root / "stacks" / f"Pulumi.{name}.yaml"


CASES = [
    ("binary", lambda p: p.write_bytes(b"\x7fELF\x02\x01\x01\x00" * 8),
     "Pulumi.bad.yaml: binary data (a NUL byte at line 1); a stack file is YAML text"),
    ("utf16", lambda p: p.write_bytes("config:\n  study:study: x\n".encode("utf-16")),
     "Pulumi.bad.yaml: is UTF-16 text; save it as UTF-8"),
    ("latin1", lambda p: p.write_bytes(b"config:\n  study:owner: jos\xe9\n"),
     "Pulumi.bad.yaml: not UTF-8 text: byte 0xe9 at line 2, column 19; save the file as UTF-8"),
    ("directory", lambda p: p.mkdir(),
     "Pulumi.bad.yaml: is a directory, not a regular file; a stack file is YAML text"),
    ("fifo", lambda p: os.mkfifo(p),
     "Pulumi.bad.yaml: is a FIFO, not a regular file; a stack file is YAML text"),
    ("device", lambda p: p.symlink_to("/dev/zero"),
     "Pulumi.bad.yaml: is a device, not a regular file; a stack file is YAML text"),
    ("dangling", lambda p: p.symlink_to(p.parent / "gone.yaml"),
     "Pulumi.bad.yaml: a dangling symlink; point it at a stack file or remove it"),
    ("huge", lambda p: p.write_text("# " + "x" * (1 << 20) + "\n"),
     f"Pulumi.bad.yaml: {(1 << 20) + 3} bytes is not a stack file; at most {1 << 20} bytes of "
     "YAML text"),
    ("duplicate", lambda p: p.write_text(
        "config:\n  study:budget:\n    usd: 5\n    max_hours: 1\n  study:budget:\n    usd: 500\n"),
     "Pulumi.bad.yaml: key 'config.study:budget' appears twice, at lines 2 and 5; keep one "
     "(the later would silently replace the first)"),
    ("duplicate-nested", lambda p: p.write_text(
        "config:\n  study:cluster:\n    node_count: 4\n    node_count: 400\n"),
     "Pulumi.bad.yaml: key 'config.study:cluster.node_count' appears twice, at lines 3 and 4; "
     "keep one (the later would silently replace the first)"),
    ("laughs", lambda p: p.write_text(BILLION_LAUGHS),
     "Pulumi.bad.yaml: expands to more than 100000 YAML nodes through aliases; refused (a "
     "stack file needs none)"),
    ("many-nodes", lambda p: p.write_text("config:\n  x: [" + "a, " * 20_001 + "a]\n"),
     "Pulumi.bad.yaml: more than 20000 YAML nodes; a stack file holds a few hundred"),
    ("self-alias", lambda p: p.write_text("config: &c\n  study:study: *c\n"),
     "Pulumi.bad.yaml: line 1: an alias contains itself; refused"),
    ("empty", lambda p: p.write_text(""),
     "Pulumi.bad.yaml: is empty; a stack file is a mapping with a 'config:' key"),
]


@pytest.mark.parametrize(("make", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
class TestOneLine:
    """`plan` exits 1 with the one line; `stacks` lists the good stack and exits 1 naming the
    bad one; `compare-stacks` names it; the janitor still judges the good stack."""

    def test_plan(self, good, cli, make, line):
        make(bad_file(good))
        code, out, err = cli("plan", "bad")
        assert (code, out, err) == (1, "", f"error: {line}\n")

    def test_plan_json_is_one_object(self, good, cli, make, line):
        make(bad_file(good))
        code, out, err = cli("plan", "bad", "--json")
        assert (code, err) == (1, f"error: {line}\n")
        doc = json.loads(out)
        assert (doc["stack"], doc["violations"], doc["resources"]) == ("bad", [line], [])

    def test_stacks(self, good, cli, make, line):
        make(bad_file(good))
        code, out, err = cli("stacks", "--json")
        assert code == 1
        rows = {r["stack"]: r for r in json.loads(out)}
        assert rows["bad"] == {"stack": "bad", "error": line, "problems": [line]}
        assert rows["good"]["ok"] is True
        code, out, err = cli("stacks")
        assert code == 1
        assert err.splitlines() == [f"error: bad: {line}"]  # whole, under the table
        assert "good" in out

    def test_compare_stacks(self, good, cli, make, line):
        make(bad_file(good))
        code, out, err = cli("compare-stacks", "good", "bad")
        assert (code, out, err) == (1, "", f"error: {line}\n")

    def test_janitor(self, good, cli, make, line, monkeypatch):
        from infra.labels import study_labels
        from infra.spec import load_spec
        from study.lifecycle.progress import RecordingProgress
        from study.lifecycle.run import Services
        from tests.conftest import to_config
        from tests.doubles.lifecycle import make_world

        make(bad_file(good))
        spec = load_spec(to_config(sections("gke-4-nightly")))
        world = make_world("good", study_labels(spec, "good"), start=time.time())
        sv = Services(backend=world.backend, inventory=world.inventory,
                      reader_factory=world.reader_factory, clock=world.clock,
                      signals=world.signals, writer=world.writer, progress=RecordingProgress(),
                      results_root=good.root / "results")
        monkeypatch.setattr("study.cli.run.services", lambda: sv)
        code, out, err = cli("janitor", "--dry-run")
        assert code == 1
        assert out.splitlines() == [
            f"bad: unreadable (expires ?, from stack file): {line}",
            "good: not created (expires ?, from labels): study:ttl counts from creation; "
            "nothing carries its labels",
        ]
        assert err == f"error: 1 stack(s) with no readable expiry, not checked: bad ({line})\n"


def test_billion_laughs_is_refused_fast_with_little_memory(good):
    from core.errors import StudyError
    from core.stacks import read_stack_config

    bad_file(good).write_text(BILLION_LAUGHS)
    tracemalloc.start()
    with pytest.raises(StudyError):  # its exact line: the "laughs" case above
        read_stack_config("bad")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # 9^9 strings if expanded; refused on the composed graph instead. A memory bound, not a
    # timing: expanding even one level more than the refusal allows would pass it.
    assert peak < 20 * 2**20, peak


def test_a_file_of_many_nodes_is_refused_before_it_is_composed(good):
    """Half a million list items fit in the 1 MiB a stack file may take, without any alias:
    composing them all took the pure-Python loader 34 s and 390 MB on a loaded 2-core machine.
    The composer stops at the bound instead (bounds, not timings)."""
    from core.errors import StudyError
    from core.stacks import MAX_FILE_BYTES, read_stack_config

    head, tail = "config:\n  x: [", "]\n"
    bad_file(good).write_text(head + "a," * ((MAX_FILE_BYTES - len(head) - len(tail)) // 2) + tail)
    tracemalloc.start()
    with pytest.raises(StudyError) as refused:
        read_stack_config("bad")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert str(refused.value) == ("Pulumi.bad.yaml: more than 20000 YAML nodes; a stack file "
                                  "holds a few hundred")
    assert peak < 64 * 2**20, peak


def test_a_few_aliases_are_still_yaml(good):
    """Anchors are legal YAML the Pulumi CLI reads: only a blow-up is refused."""
    from core.stacks import read_stack_config

    bad_file(good, "small").write_text(
        "config:\n  study:owner: &who study-harness\n  study:description: *who\n")
    assert read_stack_config("small") == {"study:owner": "study-harness",
                                          "study:description": "study-harness"}


def test_a_bad_file_never_touches_a_comparison_of_good_stacks(good, cli):
    good("good-2", sections("gke-4-nightly"))
    os.mkfifo(bad_file(good))
    code, out, err = cli("compare-stacks", "good", "good-2", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out)["stacks"] == ["good", "good-2"]


def test_an_unreadable_file_is_one_line(good, monkeypatch):
    """Root reads any mode, so the refusal the kernel gives a user is injected at os.open."""
    from core.errors import StudyError
    from core.stacks import read_stack_config

    bad_file(good).write_text("config: {}\n")
    real_open = os.open

    def denied(path, flags, *args):
        if str(path).endswith("Pulumi.bad.yaml"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(StudyError) as caught:
        read_stack_config("bad")
    assert str(caught.value) == "Pulumi.bad.yaml: cannot be read (Permission denied)"


def test_a_plain_pulumi_up_refuses_a_repeated_key_too(good):
    """`pulumi up` without the harness: the CLI decodes the stack file with gopkg.in/yaml.v2's
    non-strict Unmarshal (pulumi/pulumi sdk/go/common/encoding/marshal.go, yamlMarshaler), so
    the later of two keys reaches the program as if the file said it once. The program reads the
    file itself and refuses it before any resource."""
    from core.stacks import read_stack_config
    from study.mock_engine import run_program

    path = bad_file(good, "good")
    config = read_stack_config("good")  # what the CLI hands over: one owner, the later one
    lines = path.read_text().count("\n")
    path.write_text(path.read_text() + "  study:owner: someone-else\n")
    first = next(i for i, text in enumerate(path.read_text().splitlines(), 1)
                 if text.startswith("  study:owner:"))
    run = run_program("good", config, good.root / "__main__.py")
    assert str(run.error) == (
        f"Pulumi.good.yaml: key 'config.study:owner' appears twice, at lines {first} and "
        f"{lines + 1}; keep one (the later would silently replace the first)")
    assert run.resources == []
