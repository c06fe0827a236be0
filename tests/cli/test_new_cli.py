"""`study new`: a user's own stack from a shipped one, valid as written, never over a file."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from study.new_stack import _ttl_is_a_key, lifetime_config
from tests.conftest import NOW, ROOT


@pytest.fixture
def shipped(project):
    """The project fixture holding copies of two shipped stack files, comments and all."""
    for name in ("gke-4-nightly", "eks-2-smoke"):
        src = ROOT / "stacks" / f"Pulumi.{name}.yaml"
        (project.root / "stacks" / src.name).write_text(src.read_text())
    return project.root / "stacks"


def config_of(path) -> dict:
    return yaml.safe_load(path.read_text())["config"]


def test_writes_project_owner_and_lifetime_and_keeps_the_rest(cli, shipped):
    import infra.validate

    code, out, err = cli("new", "my-nightly", "--from", "gke-4-nightly", "--project",
                         "my-gcp-project", "--owner", "alice", "--ttl", "12h")
    assert code == 0, err
    path = shipped / "Pulumi.my-nightly.yaml"
    assert out == f"{path}\n"
    made, source = config_of(path), config_of(shipped / "Pulumi.gke-4-nightly.yaml")
    assert made["study:owner"] == "alice"
    assert made["study:cluster"]["project"] == "my-gcp-project"
    lifetime = lifetime_config("12h", None, infra.validate.clock(), _ttl_is_a_key())
    assert {k: made.get(k) for k in lifetime} == lifetime
    changed = {"study:owner", "study:cluster", *lifetime}
    assert {k: v for k, v in made.items() if k not in changed} == {
        k: v for k, v in source.items() if k not in changed}
    source["study:cluster"]["project"] = "my-gcp-project"
    assert made["study:cluster"] == source["study:cluster"]
    text = path.read_text()
    assert "usd: 5          # hard cap for one run, cluster up to down" in text  # comments kept
    assert cli("plan", "my-nightly", "--json", "--manifests", str(shipped.parent / "m"))[0] == 0


def test_refuses_to_overwrite_a_stack_file(cli, shipped):
    before = (shipped / "Pulumi.gke-4-nightly.yaml").read_bytes()
    code, out, err = cli("new", "gke-4-nightly", "--from", "eks-2-smoke", "--owner", "alice")
    assert (code, out) == (1, "")
    assert err == (f"error: stack 'gke-4-nightly' exists ({shipped / 'Pulumi.gke-4-nightly.yaml'}); "
                   "pick another name, or edit that file\n")
    assert (shipped / "Pulumi.gke-4-nightly.yaml").read_bytes() == before


@pytest.mark.parametrize(("args", "line"), [
    (["--project", "X"], "--project 'X': not a GCP project id; 6-30 lowercase letters, digits or "
                         "'-', starting with a letter, not ending with '-'"),
    ([], "--project: required for a GKE stack (gke-4-nightly): the GCP project to create the "
         "cluster in"),
    (["--project", "my-gcp-project", "--owner", "Alice"],
     "--owner 'Alice': not allowed; lowercase letters, digits, '_' or '-', at most 63 "
     "characters (it becomes a label on every resource)"),
    (["--project", "my-gcp-project", "--owner", "bob_"],
     "--owner 'bob_': not allowed; must start and end with a letter or digit (it is also a "
     "Kubernetes label on the nodes and the study's objects)"),
    (["--project", "my-gcp-project", "--ttl", "5m"], "--ttl 5m: not allowed; between 10m and 30d"),
    (["--project", "my-gcp-project", "--ttl", "12 hours"],
     "--ttl '12 hours': not a lifetime; a whole number of minutes, hours or days, e.g. 90m, 12h, 3d"),
    (["--project", "my-gcp-project", "--ttl", "12h", "--expires-at", "2027-01-01T00:00:00Z"],
     "give the stack's lifetime once: --ttl (e.g. 12h) or --expires-at (ISO 8601)"),
    (["--project", "my-gcp-project", "--expires-at", "next week"],
     "--expires-at 'next week': not an ISO 8601 date-time, e.g. 2027-01-31T00:00:00Z"),
    (["--project", "my-gcp-project", "--ttl", "\uff11\uff12h"],  # fullwidth digits
     "--ttl '\uff11\uff12h': not a lifetime; a whole number of minutes, hours or days, e.g. "
     "90m, 12h, 3d"),
    (["--project", "my-gcp-project", "--expires-at", "2027-01-31Z"],
     "--expires-at 2027-01-31Z: no time zone; a date and time ending in Z (UTC), e.g. "
     "2027-01-31T00:00:00Z"),
])
def test_each_bad_flag_is_one_line_and_nothing_is_written(cli, shipped, args, line):
    argv = ["new", "mine", "--from", "gke-4-nightly", *args]
    if "--owner" not in args:
        argv += ["--owner", "alice"]
    code, out, err = cli(*argv)
    assert (code, out, err) == (1, "", f"error: {line}\n")
    assert not (shipped / "Pulumi.mine.yaml").exists()


def test_a_bad_name_is_refused(cli, shipped):
    code, _, err = cli("new", "My_Stack", "--from", "gke-4-nightly", "--owner", "alice",
                       "--project", "my-gcp-project")
    assert code == 1
    assert err == ("error: STACK 'My_Stack': not allowed; the cluster is named after the stack: "
                   "lowercase letters, digits and '-', starting with a letter, at most 36 "
                   "characters\n")
    assert sorted(p.name for p in shipped.iterdir()) == ["Pulumi.eks-2-smoke.yaml",
                                                         "Pulumi.gke-4-nightly.yaml"]


def test_an_eks_stack_takes_no_project(cli, shipped):
    code, _, err = cli("new", "mine", "--from", "eks-2-smoke", "--owner", "alice",
                       "--project", "my-gcp-project")
    assert (code, err) == (1, "error: --project: an EKS stack (eks-2-smoke) has none; the AWS "
                              "account comes from your credentials, leave it out\n")
    assert cli("new", "mine", "--from", "eks-2-smoke", "--owner", "alice")[0] == 0
    assert config_of(shipped / "Pulumi.mine.yaml")["study:owner"] == "alice"


def test_a_stack_the_loader_refuses_is_not_left_behind(cli, shipped):
    """Validated by `study plan`'s loader: an expiry past the Kubernetes minor's end of support
    on the stack's channel is a plan error, so the file is removed again."""
    code, out, err = cli("new", "mine", "--from", "gke-4-nightly", "--owner", "alice",
                         "--project", "my-gcp-project", "--expires-at", "2029-06-01T00:00:00Z")
    assert (code, out) == (1, "")
    assert err.startswith("error: study:expires_at: ")
    assert not (shipped / "Pulumi.mine.yaml").exists()


def test_a_write_that_fails_leaves_no_half_written_file(cli, shipped, monkeypatch):
    """A full disk while writing: one line, and no truncated stack file for `study plan`."""
    import errno
    import os

    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fd, *a, **kw):
            self.fh = real_fdopen(fd, *a, **kw)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            self.fh.write(text[:10])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("study.new_stack.os.fdopen", FullDisk)
    code, out, err = cli("new", "mine", "--from", "eks-2-smoke", "--owner", "alice")
    dest = shipped / "Pulumi.mine.yaml"
    assert (code, out, err) == (1, "", f"error: cannot write {dest} (No space left on device); "
                                       "it was removed\n")
    assert not dest.exists()


def test_unknown_source_suggests_the_closest(cli, shipped):
    code, out, err = cli("new", "mine", "--from", "gke-4-nigthly", "--owner", "alice")
    assert (code, out) == (1, "")
    assert err == (f"error: stack 'gke-4-nigthly' not found in {shipped}; did you mean "
                   "'gke-4-nightly'?\n")


@pytest.mark.parametrize(("name", "text", "line"), [
    ("dup", "config:\n  study:owner: a\n  study:owner: b\n",
     "Pulumi.dup.yaml is not a stack file: line 3, column 3: found duplicate key "
     "\"study:owner\" with value \"b\" (original value: \"a\")"),
    ("broken", "config: [\n", "Pulumi.broken.yaml is not a stack file: line 2, column 1: "
                              "expected the node content, but found '<stream end>'"),
    ("bare", "config:\n  study:owner: a\n",
     "Pulumi.bare.yaml has no study:cluster mapping under config:; copy a stack `study "
     "stacks` lists"),
    ("list", "- a\n", "Pulumi.list.yaml has no study:cluster mapping under config:; copy a "
                      "stack `study stacks` lists"),
])
def test_a_source_that_is_no_stack_file_is_one_line(cli, shipped, name, text, line):
    """Any stack may be copied, so the source is checked as input: a broken one is named in
    one line, never an internal error, and nothing is written."""
    (shipped / f"Pulumi.{name}.yaml").write_text(text)
    code, out, err = cli("new", "mine", "--from", name, "--owner", "alice")
    assert (code, out, err) == (1, "", f"error: --from {name}: {line}\n")
    assert not (shipped / "Pulumi.mine.yaml").exists()


def test_a_source_that_would_block_or_blow_up_is_one_line(cli, shipped):
    """The source goes through the one stack reader's refusals: a FIFO is never opened (a read
    would wait for a writer forever) and aliases that blow up are named in the source."""
    import os

    os.mkfifo(shipped / "Pulumi.fifo.yaml")
    code, out, err = cli("new", "mine", "--from", "fifo", "--owner", "alice")
    assert (code, out, err) == (1, "", "error: --from fifo: Pulumi.fifo.yaml: is a FIFO, not a "
                                       "regular file; a stack file is YAML text\n")
    from tests.study.test_stack_files import BILLION_LAUGHS

    (shipped / "Pulumi.laughs.yaml").write_text(
        BILLION_LAUGHS + "  study:cluster: {cloud: eks}\n")
    code, out, err = cli("new", "mine", "--from", "laughs", "--owner", "alice")
    assert (code, out, err) == (1, "", "error: --from laughs: Pulumi.laughs.yaml: expands to "
                                       "more than 100000 YAML nodes through aliases; refused (a "
                                       "stack file needs none)\n")
    assert not (shipped / "Pulumi.mine.yaml").exists()


def test_a_source_that_is_not_utf8_is_one_line(cli, shipped):
    text = b"config:\n  study:owner: caf\xe9\n"  # Latin-1
    (shipped / "Pulumi.latin.yaml").write_bytes(text)
    code, out, err = cli("new", "mine", "--from", "latin", "--owner", "alice")
    assert (code, out, err) == (1, "", "error: --from latin: Pulumi.latin.yaml is not UTF-8 "
                                       f"text (byte {text.index(0xE9)}); fix it\n")


def test_a_source_name_that_is_a_path_is_refused(cli, shipped):
    code, out, err = cli("new", "mine", "--from", "../stacks/Pulumi.gke-4-nightly",
                         "--owner", "alice")
    assert (code, out) == (1, "")
    assert err == ("error: --from '../stacks/Pulumi.gke-4-nightly': not allowed; letters, "
                   "digits, '-', '_' and '.', starting with a letter or digit, at most 100 "
                   "characters (Pulumi's stack names)\n")


class TestLifetime:
    """A --ttl is written as `study:ttl` where the spec reads it (stamped when the cluster is
    created), else as the absolute `study:expires_at` it ends at; --expires-at as given, in UTC."""

    def test_ttl_as_a_key(self):
        assert lifetime_config("12h", None, NOW, True) == {"study:ttl": "12h",
                                                           "study:expires_at": None}

    def test_ttl_as_an_absolute_expiry(self):
        end = (NOW + timedelta(hours=12)).isoformat().replace("+00:00", "Z")
        assert lifetime_config("12h", None, NOW, False) == {"study:expires_at": end,
                                                            "study:ttl": None}

    def test_expires_at_in_utc(self):
        assert lifetime_config(None, "2027-01-01T02:00:00+02:00", NOW, True) == {
            "study:expires_at": "2027-01-01T00:00:00Z", "study:ttl": None}
