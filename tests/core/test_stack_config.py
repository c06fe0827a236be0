"""The stack reader reads config as the Pulumi CLI does, so `study plan` and `pulumi up` never
read different config.

Upstream (pulumi/pulumi, the CLI 3.272.0 that CI installs):
- sdk/go/common/workspace/loaders.go `stackConfigNamespacedWithProject`: a bare config key in a
  stack file is the project's, `<project name>:<key>`;
- sdk/go/common/resource/config/key.go `ParseKey`: `<namespace>:<name>`, or the old
  `<namespace>:config:<name>` read as `<namespace>:<name>`; anything else is an error;
- sdk/go/common/resource/config/value.go `unmarshalValue`/`isSecureValue`: an object whose only
  key is `secure` is an encrypted value;
- sdk/go/common/workspace/project.go `ProjectStack.Environment`: the Pulumi ESC environments a
  stack imports, resolved only through Pulumi Cloud.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import StudyError
from core.stacks import SECRET, SecretValue, read_stack_config


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv("STUDY_GCP_PROJECT", raising=False)
    monkeypatch.delenv("STUDY_LOCAL_CONFIG", raising=False)
    (tmp_path / "Pulumi.yaml").write_text("name: study-harness\nruntime: python\n")
    (tmp_path / "stacks").mkdir()
    return tmp_path


def write(root: Path, body: str) -> None:
    (root / "stacks" / "Pulumi.s.yaml").write_text(body)


def refusal(root: Path, body: str) -> str:
    """The one line reading a stack file of `body` is refused with (it must be refused)."""
    write(root, body)
    with pytest.raises(StudyError) as err:
        read_stack_config("s", root)
    return str(err.value)


def test_a_bare_key_is_the_projects(project):
    write(project, "config:\n  budget: 5\n  study:owner: alice\n")
    assert read_stack_config("s", project) == {"study-harness:budget": "5",
                                               "study:owner": "alice"}


def test_the_old_config_module_form_is_the_namespaced_key(project):
    write(project, "config:\n  aws:config:region: us-east-2\n")
    assert read_stack_config("s", project) == {"aws:region": "us-east-2"}


def test_a_key_pulumi_cannot_parse_is_refused_in_one_line(project):
    message = refusal(project, "config:\n  study:cluster:zone: us-central1-a\n")
    assert message == (
        "Pulumi.s.yaml: config key 'study:cluster:zone' is not allowed; keys are "
        "`<namespace>:<name>` (a bare name is read as `study-harness:<name>`)")


def test_two_spellings_of_one_key_are_refused(project):
    message = refusal(project, "config:\n  aws:region: us-east-1\n  aws:config:region: us-east-2\n")
    assert message == ("Pulumi.s.yaml: config key 'aws:config:region' is 'aws:region' "
                       "again; keep one (Pulumi would read only one of them)")


def test_a_secure_value_is_a_present_secret_never_shown(project):
    write(project, "config:\n  gcp:credentials:\n    secure: v1:AAAAciphertext==\n")
    config = read_stack_config("s", project)
    value = config["gcp:credentials"]
    assert isinstance(value, SecretValue)
    assert value == SECRET
    assert value.ciphertext == "v1:AAAAciphertext=="
    assert "v1:AAAA" not in repr(config) and "v1:AAAA" not in json.dumps(config)


def test_a_secure_leaf_inside_an_object_is_a_secret_too(project):
    write(project, "config:\n  app:db:\n    user: u\n    password:\n      secure: v1:BBBB\n")
    assert json.loads(read_stack_config("s", project)["app:db"]) == {"user": "u",
                                                                     "password": SECRET}


def test_a_secure_study_key_is_refused_before_any_cloud_call(project):
    message = refusal(project, "config:\n  study:owner:\n    secure: v1:CCCC\n")
    assert message == (
        "Pulumi.s.yaml: study:owner: a secure (encrypted) value is not allowed here; the study: "
        "keys are checked offline before any cloud call, so they are plain text (secrets "
        "belong to provider keys such as gcp:credentials)")
    assert "CCCC" not in message


@pytest.mark.parametrize("environment", ["[team/aws-creds, team/gke]",
                                         "\n  imports: [team/aws-creds, team/gke]"])
def test_an_esc_environment_is_named_as_unresolvable_offline(project, environment):
    message = refusal(project, f"environment: {environment}\nconfig:\n  study:owner: alice\n")
    assert message == (
        "Pulumi.s.yaml: environment: imports Pulumi ESC environment(s) 'team/aws-creds', "
        "'team/gke'; they resolve only online, so offline no key they set can be resolved "
        "(any config key, study: included, may be theirs) and a plan would read other config "
        "than `pulumi up`; write the values the stack needs under config:")
