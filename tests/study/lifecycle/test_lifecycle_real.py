"""The real implementations' offline parts: error mapping, workspace options, kubeconfig hygiene.

Nothing here calls the Pulumi CLI, a cloud or an API server; the SDK entry points they would
call are replaced to capture the arguments.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import pytest

from study.lifecycle.interfaces import (
    ConcurrentUpdateError,
    PermanentError,
    QuotaReading,
    TransientError,
)
from study.lifecycle.pulumi_backend import (
    PulumiBackend,
    classify,
    map_error,
    one_line,
    outputs_from_checkpoint,
)


class TestErrorMapping:
    """Known transient cloud errors are retried; locks are ConcurrentUpdate; the rest permanent."""

    @pytest.mark.parametrize("text", [
        "error: googleapi: Error 400: Operation operation-123 is currently operating on node "
        "pool p. Please wait and try again once it is done., failedPrecondition",
        "error: deleting EC2 Security Group (sg-1): DependencyViolation: resource sg-1 has a "
        "dependent object",
        "error: googleapi: Error 503: The service is currently unavailable",
        "error: read tcp 10.0.0.1:443: i/o timeout",
    ])
    def test_transient(self, text):
        assert classify(text) is TransientError

    def test_lock_and_permanent(self):
        assert classify("error: the stack is currently locked by 1 lock(s)") is ConcurrentUpdateError
        assert classify("error: googleapi: Error 403: Permission denied") is PermanentError

    def test_automation_errors_become_one_line(self):
        from pulumi import automation as auto
        from pulumi.automation._cmd import CommandResult

        res = CommandResult("Updating (dev)\n", "error: googleapi: Error 403: denied\nmore\n", 255)
        err = map_error(auto.CommandError(res))
        assert isinstance(err, PermanentError)
        assert str(err) == "error: googleapi: Error 403: denied"
        assert one_line("") == "pulumi failed"


class TestWorkspace:
    """The file backend and passphrase by default, the project as is (no project_settings=)."""

    def test_create_or_select_uses_project_dir_and_file_backend(self, tmp_path, monkeypatch):
        from pulumi import automation as auto

        seen = {}

        def fake_create(**kw):
            seen.update(kw)
            return SimpleNamespace()

        monkeypatch.setattr(auto, "create_or_select_stack", fake_create)
        monkeypatch.setattr(PulumiBackend, "check", lambda self: None)  # no CLI here
        monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "pw")
        PulumiBackend(project=tmp_path)._stack("gke-4-nightly", extra_env={"STUDY_RUN_ID": "r"})
        assert seen["stack_name"] == "gke-4-nightly"
        assert seen["work_dir"] == str(tmp_path)
        assert "project_settings" not in seen
        opts = seen["opts"]
        assert opts.project_settings is None
        assert opts.env_vars["PULUMI_BACKEND_URL"] == f"file://{tmp_path}/.pulumi-state"
        assert opts.env_vars["PULUMI_CONFIG_PASSPHRASE"] == "pw"
        assert opts.env_vars["STUDY_RUN_ID"] == "r"
        assert (tmp_path / ".pulumi-state").is_dir()

    def test_an_explicit_backend_is_respected(self, tmp_path, monkeypatch):
        monkeypatch.setenv("PULUMI_BACKEND_URL", "gs://bucket/state")
        assert PulumiBackend(project=tmp_path).env_vars()["PULUMI_BACKEND_URL"] == "gs://bucket/state"


class TestCheckpointOutputs:
    """An interrupted up exported nothing; the checkpoint still yields a kubeconfig to collect."""

    def test_gke_cluster_in_state(self):
        dep = {"resources": [
            {"type": "pulumi:pulumi:Stack", "outputs": {}},
            {"type": "gcp:container/cluster:Cluster", "outputs": {
                "name": "gke-4-nightly", "endpoint": "203.0.113.5", "location": "us-central1-a",
                "masterAuth": {"clusterCaCertificate": "Q0E="}}},
        ]}
        outs = outputs_from_checkpoint(dep)
        assert outs["cluster_name"].value == "gke-4-nightly"
        assert outs["kubeconfig"].secret
        assert "https://203.0.113.5" in outs["kubeconfig"].value
        assert "gke-gcloud-auth-plugin" in outs["kubeconfig"].value

    def test_nothing_created(self):
        assert outputs_from_checkpoint({"resources": []}) == {}


TOKEN = "s3cr3t-bearer-token-never-on-disk"
TOKEN_KUBECONFIG = f"""
apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:6443"}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
users: [{{name: u, user: {{token: {TOKEN}}}}}]
"""


class TestKubeconfigHygiene:
    """The kubeconfig never touches disk: kubernetes-client/python's
    `config.new_client_from_config_dict` (kubernetes/config/kube_config.py, kubernetes>=30)
    loads it from the parsed mapping."""

    def test_loaded_from_the_mapping_without_persisting(self, monkeypatch):
        from kubernetes import config

        from study.lifecycle import k8s_reader

        seen = {}

        def fake_load(config_dict, persist_config):
            seen["dict"], seen["persist"] = config_dict, persist_config
            return "client"

        monkeypatch.setattr(config, "new_client_from_config_dict", fake_load)
        assert k8s_reader.api_client_from_kubeconfig("kind: Config\n") == "client"
        assert seen == {"dict": {"kind": "Config"}, "persist": False}

    def test_no_file_holds_the_kubeconfig_or_its_token(self, monkeypatch, tmp_path):
        """The real client, a static-token kubeconfig: the token is in the client's memory and
        in no file of the temporary directory the client would write to."""
        import tempfile

        from study.lifecycle import k8s_reader

        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        api = k8s_reader.api_client_from_kubeconfig(TOKEN_KUBECONFIG)
        assert api.configuration.host == "https://127.0.0.1:6443"
        assert api.configuration.api_key == {"BearerToken": f"Bearer {TOKEN}"}
        assert sorted(tmp_path.rglob("*")) == []

    def test_not_a_mapping_is_one_line_without_the_text(self):
        from study.lifecycle import k8s_reader

        with pytest.raises(PermanentError) as err:
            k8s_reader.api_client_from_kubeconfig("garbage")
        assert str(err.value) == ("the stack's kubeconfig output is a str, not a kubeconfig "
                                  "mapping (apiVersion, clusters, contexts, users)")

    def test_invalid_yaml_names_the_line_not_the_text(self):
        from study.lifecycle import k8s_reader

        with pytest.raises(PermanentError) as err:
            k8s_reader.api_client_from_kubeconfig(f"users: [{TOKEN}\n  : : ]\n")
        assert TOKEN not in str(err.value)
        assert str(err.value).startswith("the stack's kubeconfig output is not valid YAML at line ")

    def test_missing_output_is_a_clear_error(self):
        from study.lifecycle.k8s_reader import reader_from_outputs

        with pytest.raises(PermanentError, match="no kubeconfig output"):
            reader_from_outputs({})


class TestQuota:
    """Family-specific CPU metrics on GCP, standard vs HPC on AWS, and the shortfall message."""

    def test_gcp_cpu_metric(self):
        from study.lifecycle.gcp_inventory import cpu_metric

        assert cpu_metric("n2", {"CPUS", "N2_CPUS"}) == "N2_CPUS"
        assert cpu_metric("n1", {"CPUS", "N2_CPUS"}) == "CPUS"

    def test_aws_family(self):
        from study.lifecycle.aws_inventory import counts_against, family_of

        assert family_of("hpc6a.48xlarge") == "hpc" and family_of("c5n.18xlarge") == "standard"
        assert counts_against("m5.large", "standard") and not counts_against("g5.xlarge", "standard")
        assert counts_against("hpc7g.16xlarge", "hpc")

    def test_shortfall_names_every_number(self):
        from infra.spec import load_spec
        from study.lifecycle.preflight import quota_needs, shortfalls
        from tests.conftest import to_config
        from tests.study.lifecycle.conftest import nightly

        spec = load_spec(to_config(nightly()))
        assert quota_needs(spec) == {"cpus": 16, "instances": 4, "in_use_addresses": 4}
        reading = QuotaReading("live", {"cpus": 24, "in_use_addresses": 8},
                               {"cpus": 12, "in_use_addresses": 1})
        assert shortfalls(spec, reading) == [
            "quota cpus (live): the stack needs 16 but only 12 is available (limit 24, in use 12);"
            " request more quota or use fewer or smaller nodes"
        ]

    def test_without_credentials_gcp_falls_back_to_declared(self, monkeypatch):
        from infra.spec import load_spec
        from study.lifecycle import gcp_inventory
        from tests.conftest import to_config
        from tests.study.lifecycle.conftest import nightly

        monkeypatch.setattr(gcp_inventory, "credentials_problem", lambda: "no GCP credentials")
        reading = gcp_inventory.GcpInventory().quota(load_spec(to_config(nightly())))
        assert reading.source == "declared"
        assert reading.limits == {"cpus": 16, "in_use_addresses": 20}
        assert "no GCP credentials; using the stack's declared quota" in reading.note
        with pytest.raises(PermanentError, match="cannot list GCP resources"):
            gcp_inventory.GcpInventory().labelled(load_spec(to_config(nightly())), "x")


def test_credentials_are_detected_without_network(monkeypatch, tmp_path):
    """No ADC file, no env, not on a cloud VM: no credentials, and no metadata-server probe."""
    from study.lifecycle import aws_inventory, gcp_inventory

    for k in ("GOOGLE_APPLICATION_CREDENTIALS", *aws_inventory.AWS_ENV):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HOME", str(tmp_path))

    def no_probe(*a, **k):
        msg = "google.auth.default() would probe the metadata server"
        raise AssertionError(msg)

    monkeypatch.setattr("google.auth.default", no_probe)
    if "Google" not in _dmi("product_name"):
        assert "no GCP credentials" in gcp_inventory.credentials_problem()
    if "Amazon" not in _dmi("sys_vendor"):
        assert not aws_inventory.credentials_configured()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "wif.json"))
    assert gcp_inventory._adc_configured()


def _dmi(name: str) -> str:
    try:
        return open(f"/sys/class/dmi/id/{name}").read()
    except OSError:
        return ""


def test_missing_cli_is_the_install_line(monkeypatch, tmp_path):
    from study.lifecycle.interfaces import PrerequisiteMissing
    from study.lifecycle.pulumi_backend import MISSING_CLI

    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi anywhere
    with pytest.raises(PrerequisiteMissing) as info:
        PulumiBackend(project=tmp_path).check()
    assert str(info.value) == MISSING_CLI


class TestPassphrase:
    """The passphrase is the user's: never an empty default (pulumi/pulumi
    pkg/secrets/passphrase/manager.go at 037bd642, readPassphrase: the variable when set, even
    empty; else the file PULUMI_CONFIG_PASSPHRASE_FILE names, trimmed; else an error when not
    interactive, as under the Automation API)."""

    def _refused(self, environ, backend="file:///x/.pulumi-state") -> str:
        from study.lifecycle.interfaces import PrerequisiteMissing
        from study.lifecycle.pulumi_backend import require_passphrase

        with pytest.raises(PrerequisiteMissing) as info:
            require_passphrase(environ, backend)
        return str(info.value)

    def test_unset_is_refused_with_the_line_to_set_it(self):
        assert self._refused({}) == (
            "PULUMI_CONFIG_PASSPHRASE is not set: the stacks' secrets are encrypted with a "
            "passphrase; export PULUMI_CONFIG_PASSPHRASE=... or name a file holding it with "
            "PULUMI_CONFIG_PASSPHRASE_FILE=PATH")

    def test_an_empty_file_variable_counts_as_unset(self):
        assert self._refused({"PULUMI_CONFIG_PASSPHRASE_FILE": ""}) == self._refused({})

    def test_an_unreadable_passphrase_file_is_named(self, tmp_path):
        missing = tmp_path / "nope"
        assert self._refused({"PULUMI_CONFIG_PASSPHRASE_FILE": str(missing)}) == (
            f"PULUMI_CONFIG_PASSPHRASE_FILE={missing}: cannot read it (No such file or "
            "directory); name a readable file holding the passphrase")

    def test_object_store_state_needs_it_too(self):
        assert self._refused({}, "gs://bucket/state") == self._refused({})

    def test_what_the_cli_accepts_is_accepted(self, tmp_path):
        from study.lifecycle.pulumi_backend import require_passphrase

        phrase = tmp_path / "phrase"
        phrase.write_text("correct horse\n")
        require_passphrase({"PULUMI_CONFIG_PASSPHRASE": ""}, "file:///s")  # explicit, as the CLI
        require_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(phrase)}, "file:///s")
        require_passphrase({}, "https://api.pulumi.com")  # Pulumi Cloud manages secrets itself

    def test_only_what_is_set_is_passed_to_the_cli(self, tmp_path, monkeypatch):
        monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "/run/secrets/phrase")
        env = PulumiBackend(project=tmp_path).env_vars()
        assert "PULUMI_CONFIG_PASSPHRASE" not in env
        assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == "/run/secrets/phrase"


def test_a_relative_passphrase_file_is_the_one_next_to_the_user(tmp_path, monkeypatch):
    """The Automation API runs the CLI in the workspace's work_dir, the project (pulumi 3.272.0
    sdk/python/lib/pulumi/automation/_local_workspace.py, `pulumi_command.run(args,
    self.work_dir, ...)`), and the CLI reads PULUMI_CONFIG_PASSPHRASE_FILE relative to its own
    directory (pulumi/pulumi pkg/secrets/passphrase/manager.go at 037bd642, readPassphrase,
    filepath.Abs): the harness passes the path it checked, made absolute."""
    from study.lifecycle.pulumi_backend import require_passphrase

    here = tmp_path / "elsewhere"
    here.mkdir()
    (here / "phrase").write_text("correct horse\n")
    monkeypatch.chdir(here)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", "phrase")
    require_passphrase(os.environ, "file:///s")
    env = PulumiBackend(project=tmp_path / "project").env_vars()
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(here / "phrase")


class TestStackNotFound:
    """Only "no such stack" means nothing exists; any other failure to read the state (a wrong
    passphrase, an unreachable bucket) must not look like an empty stack to destroy or janitor."""

    def test_exists(self, tmp_path, monkeypatch):
        from study.lifecycle.interfaces import StackNotFound

        b = PulumiBackend(project=tmp_path)
        monkeypatch.setattr(b, "_stack", raising_stack(StackNotFound("no stack named 's'")))
        assert b.exists("s") is False
        monkeypatch.setattr(b, "_stack", raising_stack(PermanentError("incorrect passphrase")))
        with pytest.raises(PermanentError, match="incorrect passphrase"):
            b.exists("s")

    def test_the_sdk_error_maps_to_stack_not_found(self):
        """The SDK raises StackNotFoundError for the CLI's "no stack named ... found"
        (pulumi 3.x sdk/python/lib/pulumi/automation/errors.py, create_command_error)."""
        from pulumi import automation as auto
        from pulumi.automation._cmd import CommandResult

        from study.lifecycle.interfaces import StackNotFound

        res = CommandResult("", "error: no stack named 'dev' found\n", 255)
        assert isinstance(map_error(auto.StackNotFoundError(res)), StackNotFound)


def raising_stack(exc):
    def _stack(stack, create=True, extra_env=None):
        raise exc

    return _stack


class _Md:
    def __init__(self, name, type_):
        self.urn = f"urn:pulumi:s::p::{type_}::{name}"
        self.type = type_
        self.op = "create"


def _outputs_event(name, type_):
    return SimpleNamespace(res_outputs_event=SimpleNamespace(metadata=_Md(name, type_)),
                           res_op_failed_event=None)


class TestRealUpLoop:
    """PulumiBackend.up: events delivered on the calling thread, stop = interrupt the CLI, wait."""

    def _backend(self, monkeypatch, tmp_path, fake_stack):
        b = PulumiBackend(project=tmp_path)
        monkeypatch.setattr(b, "_stack", lambda stack, create=True, extra_env=None: fake_stack)
        return b

    def test_events_and_outputs(self, monkeypatch, tmp_path):
        import threading

        from pulumi.automation import OutputValue as AutoOutput

        seen_kwargs = {}
        caller = threading.get_ident()

        class Stack:
            def up(self, **kw):
                seen_kwargs.update(kw)
                kw["on_event"](_outputs_event("net", "gcp:compute/network:Network"))
                kw["on_event"](SimpleNamespace(res_outputs_event=None, res_op_failed_event=None))
                return SimpleNamespace(outputs={"kubeconfig": AutoOutput("kc", True),
                                                "zone": AutoOutput("z", False)})

        got = []
        b = self._backend(monkeypatch, tmp_path, Stack())
        outs = b.up("s", lambda ev: got.append((ev.name, ev.op, threading.get_ident())),
                    lambda: False)
        assert got == [("net", "create", caller)]  # delivered on the caller's thread
        assert outs["kubeconfig"].secret and outs["zone"].value == "z"
        assert seen_kwargs["show_secrets"] is False

    def test_stop_interrupts_the_cli_and_waits(self, monkeypatch, tmp_path):
        import threading

        from study.lifecycle import pulumi_backend
        from study.lifecycle.interfaces import StopRequested

        interrupted = threading.Event()

        class Stack:
            def up(self, **kw):
                assert interrupted.wait(10), "the CLI was never interrupted"
                msg = "update canceled"
                raise RuntimeError(msg)

        monkeypatch.setattr(pulumi_backend.PulumiBackend, "_interrupt_children",
                            staticmethod(interrupted.set))
        monkeypatch.setattr(pulumi_backend, "POLL_SECONDS", 0.01)
        b = self._backend(monkeypatch, tmp_path, Stack())
        with pytest.raises(StopRequested):
            b.up("s", lambda ev: None, lambda: True)

    def test_failure_is_mapped(self, monkeypatch, tmp_path):
        from pulumi import automation as auto
        from pulumi.automation._cmd import CommandResult

        class Stack:
            def up(self, **kw):
                raise auto.CommandError(CommandResult("", "error: DependencyViolation: sg", 255))

        b = self._backend(monkeypatch, tmp_path, Stack())
        with pytest.raises(TransientError, match="DependencyViolation"):
            b.up("s", lambda ev: None, lambda: False)
