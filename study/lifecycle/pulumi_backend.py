"""`StackBackend` over the Pulumi Automation API: the same program and stack files as `pulumi up`.

Decisions:
- the workspace is the project directory as is (`work_dir=project_dir()`); `project_settings=`
  is never passed, because it rewrites Pulumi.yaml and drops `stackConfigDir`;
- local file state by default (`PULUMI_BACKEND_URL=file://<project>/.pulumi-state`) unless the
  caller already chose a backend; the passphrase is the user's (`PULUMI_CONFIG_PASSPHRASE` or
  `PULUMI_CONFIG_PASSPHRASE_FILE`, passed on as set) and never defaulted to an empty one;
- `up` runs in a worker thread while the calling (main) thread delivers engine events, polls
  the watchdog and receives signals. To stop an update (deadline, stall, Ctrl-C, SIGTERM) the
  pulumi CLI child process gets SIGINT - its own graceful cancel - and the thread is awaited, so
  destroy never races a still-running update;
- CLI failures are classified: known transient cloud errors -> TransientError, a held lock ->
  ConcurrentUpdateError, everything else -> PermanentError, each as one readable line;
- config secrets stay out of update summaries (`show_secrets=False`; the SDK defaults to True);
- `outputs` falls back to the checkpoint when an interrupted `up` never exported: the cluster's
  endpoint and CA are in state, which is enough for a kubeconfig and thus for collection.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from study.lifecycle.interfaces import (
    ConcurrentUpdateError,
    EventSink,
    LifecycleError,
    OutputValue,
    PermanentError,
    PrerequisiteMissing,
    ResourceEvent,
    StackNotFound,
    StopCheck,
    StopRequested,
    TransientError,
)

# Cloud errors worth another attempt (REFERENCE.md: GKE node pool operations, AWS ENIs).
TRANSIENT_PATTERNS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"operation .* (is currently operating|in progress)",
        r"please wait and try again",
        r"DependencyViolation",
        r"googleapi: Error (409|429|500|502|503)",
        r"rateLimitExceeded|RequestLimitExceeded|Throttling|TooManyRequests",
        r"connection reset by peer|i/o timeout|TLS handshake timeout|EOF$",
        r"resourceInUseByAnotherResource",
    )
]
INSTALL_URL = "https://www.pulumi.com/docs/install/"
MIN_CLI = "3.272"  # README: the version the provider plugins in requirements.lock were checked with
# The one line every lifecycle command prints when the CLI is missing (PyPI ships only the SDK).
MISSING_CLI = (f"the pulumi CLI is not installed (no `pulumi` on PATH); install it ({MIN_CLI} or "
               f"newer) from {INSTALL_URL} and run the command again")
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
STOP_WAIT_SECONDS = 900  # a cancelled update finishes its in-flight cloud calls first
POLL_SECONDS = 1.0


def classify(text: str) -> type[LifecycleError]:
    """The error type a Pulumi CLI failure text maps to."""
    if "currently locked" in text or "conflict: Another update is currently in progress" in text:
        return ConcurrentUpdateError
    if any(p.search(text) for p in TRANSIENT_PATTERNS):
        return TransientError
    return PermanentError


def one_line(text: str, limit: int = 400) -> str:
    """The most telling line of CLI output: the first 'error:' line, else the last non-empty one."""
    lines = [re.sub(r"^(stdout|stderr|code):\s*", "", ln.strip()) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    errs = [ln for ln in lines if "error" in ln.lower()]
    line = errs[0] if errs else (lines[-1] if lines else "pulumi failed")
    return line[:limit]


def map_error(exc: Exception) -> LifecycleError:
    from pulumi import automation as auto

    text = str(exc)
    if isinstance(exc, auto.ConcurrentUpdateError):
        return ConcurrentUpdateError(one_line(text))
    if isinstance(exc, auto.StackNotFoundError):
        return StackNotFound(one_line(text))
    return classify(text)(one_line(text))


def _resource_event(ev: Any) -> ResourceEvent | None:
    """Engine event -> ResourceEvent for finished (or failed) resource steps only."""
    now = time.time()
    if ev.res_outputs_event is not None:
        md, ok = ev.res_outputs_event.metadata, True
    elif ev.res_op_failed_event is not None:
        md, ok = ev.res_op_failed_event.metadata, False
    else:
        return None
    op = str(getattr(md.op, "value", md.op))
    op = op if op in ("create", "update", "delete", "same", "refresh") else "other"
    name = md.urn.rsplit("::", 1)[-1]
    return ResourceEvent(md.urn, md.type, name, op, ok, now)  # type: ignore[arg-type]


def child_pids(name: str = "pulumi") -> list[int]:
    """PIDs of this process's children whose command name contains `name` (we started them)."""
    me = os.getpid()
    out: list[int] = []
    proc = Path("/proc")
    if proc.is_dir():
        for d in proc.iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            comm = stat[stat.find("(") + 1 : stat.rfind(")")]
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            if ppid == me and name in comm:
                out.append(int(d.name))
        return out
    try:  # macOS and other systems without /proc
        res = subprocess.run(["pgrep", "-P", str(me), name], capture_output=True, text=True,
                             timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(x) for x in res.stdout.split()]


class PulumiBackend:
    """The real `StackBackend`. Needs the pulumi CLI on PATH (not installable offline)."""

    def __init__(self, project: Path | None = None, on_output=None):
        from core.stacks import project_dir

        self.project = project or project_dir()
        self.on_output = on_output or (lambda line: None)
        self._stacks: dict[str, Any] = {}

    def env_vars(self) -> dict[str, str]:
        state = self.project / ".pulumi-state"
        env = {
            "PULUMI_BACKEND_URL": os.environ.get("PULUMI_BACKEND_URL", f"file://{state}"),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        # As set, both if both are: the CLI itself prefers the variable over the file.
        env.update({k: os.environ[k] for k in PASSPHRASE_VARS if k in os.environ})
        if env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
            # The CLI runs in the project directory, not the user's: a relative path means
            # what it meant where the user typed it, and what require_passphrase read.
            env["PULUMI_CONFIG_PASSPHRASE_FILE"] = os.path.abspath(
                env["PULUMI_CONFIG_PASSPHRASE_FILE"])
        if env["PULUMI_BACKEND_URL"].startswith("file://"):
            Path(env["PULUMI_BACKEND_URL"][len("file://"):]).mkdir(parents=True, exist_ok=True)
        return env

    def check(self) -> None:
        """The pulumi CLI on PATH (PyPI ships only the SDK) and, for state outside Pulumi Cloud,
        the passphrase its secrets provider needs; PrerequisiteMissing otherwise."""
        require_cli()
        backend = os.environ.get("PULUMI_BACKEND_URL", "file://")
        require_passphrase(os.environ, backend)

    def _stack(self, stack: str, create: bool = True, extra_env: dict[str, str] | None = None):
        from pulumi import automation as auto

        self.check()
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(self.project), env_vars={**self.env_vars(), **(extra_env or {})}
        )
        try:
            if create:
                return auto.create_or_select_stack(stack_name=stack, work_dir=str(self.project),
                                                   opts=opts)
            return auto.select_stack(stack_name=stack, work_dir=str(self.project), opts=opts)
        except auto.CommandError as exc:
            raise map_error(exc) from None

    def exists(self, stack: str) -> bool:
        """True when the stack's state holds any resource besides the stack itself."""
        from pulumi import automation as auto

        try:
            st = self._stack(stack, create=False)
        except StackNotFound:
            return False
        try:
            dep = st.export_stack().deployment or {}
        except auto.CommandError as exc:
            raise map_error(exc) from None
        return any(r.get("type") != "pulumi:pulumi:Stack" for r in dep.get("resources") or [])

    def up(self, stack: str, on_event: EventSink, should_stop: StopCheck,
           env: dict[str, str] | None = None) -> dict[str, OutputValue]:
        st = self._stack(stack, extra_env=env)
        events: queue.Queue = queue.Queue()
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                res = st.up(on_output=self.on_output, on_event=events.put, color="never",
                            show_secrets=False)
                result["outputs"] = res.outputs
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                result["error"] = exc

        worker = threading.Thread(target=work, name=f"pulumi-up-{stack}", daemon=True)
        worker.start()
        stopping = False
        try:
            while worker.is_alive():
                self._drain(events, on_event)
                if not stopping and should_stop():
                    stopping = True
                    self._interrupt_children()
                worker.join(POLL_SECONDS)
        except BaseException:
            # A signal (or anything) in the main thread: stop the CLI, wait, then re-raise.
            self._interrupt_children()
            worker.join(STOP_WAIT_SECONDS)
            self._drain(events, on_event)
            raise
        self._drain(events, on_event)
        if stopping:
            msg = f"update of {stack} cancelled by the harness"
            raise StopRequested(msg)
        if "error" in result:
            exc = result["error"]
            raise (map_error(exc) if isinstance(exc, Exception) else exc) from None
        return {k: OutputValue(v.value, v.secret) for k, v in result["outputs"].items()}

    @staticmethod
    def _drain(events: queue.Queue, on_event: EventSink) -> None:
        while True:
            try:
                raw = events.get_nowait()
            except queue.Empty:
                return
            ev = _resource_event(raw)
            if ev is not None:
                on_event(ev)

    @staticmethod
    def _interrupt_children() -> None:
        for pid in child_pids():
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def destroy(self, stack: str, on_event: EventSink) -> None:
        from pulumi import automation as auto

        st = self._stack(stack, create=False)
        try:
            st.destroy(on_output=self.on_output, on_event=lambda e: _forward(e, on_event),
                       color="never", show_secrets=False)
        except auto.CommandError as exc:
            raise map_error(exc) from None

    def refresh(self, stack: str) -> None:
        from pulumi import automation as auto

        st = self._stack(stack, create=False)
        try:
            st.refresh(clear_pending_creates=True, on_output=self.on_output, color="never",
                       show_secrets=False)
        except auto.CommandError as exc:
            raise map_error(exc) from None

    def cancel(self, stack: str) -> None:
        from pulumi import automation as auto

        st = self._stack(stack, create=False)
        try:
            st.cancel()
        except auto.CommandError as exc:
            raise map_error(exc) from None

    def outputs(self, stack: str) -> dict[str, OutputValue]:
        from pulumi import automation as auto

        try:
            st = self._stack(stack, create=False)
        except StackNotFound:
            return {}
        try:
            outs = {k: OutputValue(v.value, v.secret) for k, v in st.outputs().items()}
            if "kubeconfig" in outs:
                return outs
            dep = st.export_stack().deployment or {}
        except auto.CommandError as exc:
            raise map_error(exc) from None
        return {**outputs_from_checkpoint(dep), **outs}

    def _deployment(self, stack: str) -> dict | None:
        """The stack's exported checkpoint (`resources` and all), None when there is no stack."""
        from pulumi import automation as auto

        try:
            st = self._stack(stack, create=False)
        except StackNotFound:
            return None
        try:
            return st.export_stack().deployment or {}
        except auto.CommandError as exc:
            raise map_error(exc) from None

    def recorded_steps(self, stack: str) -> set[str]:
        dep = self._deployment(stack)
        return set() if dep is None else recorded_steps_of(dep)

    def pending_uploads(self, stack: str) -> set[str]:
        dep = self._deployment(stack)
        return set() if dep is None else pending_uploads_of(dep, stack)

    def versions(self) -> dict[str, str]:
        from pulumi import automation as auto

        try:
            ws = auto.LocalWorkspace(work_dir=str(self.project), env_vars=self.env_vars())
            out = {"pulumi-cli": ws.pulumi_version}
            for p in ws.list_plugins():
                if p.kind == "resource" and p.version:
                    out[f"plugin:{p.name}"] = p.version
            return out
        except Exception as exc:  # noqa: BLE001 - versions are informative only
            return {"pulumi-cli": f"unknown ({type(exc).__name__})"}


def require_cli() -> None:
    """PrerequisiteMissing unless a usable pulumi CLI is on PATH."""
    from pulumi import automation as auto

    try:
        auto.PulumiCommand()
    except FileNotFoundError:
        raise PrerequisiteMissing(MISSING_CLI) from None
    except (OSError, subprocess.CalledProcessError) as exc:
        msg = (f"the pulumi CLI on PATH does not run ({exc}); reinstall it ({MIN_CLI} or newer) "
               f"from {INSTALL_URL}")
        raise PrerequisiteMissing(msg) from None
    except auto.InvalidVersionError as exc:
        msg = f"the pulumi CLI is too old ({exc}); install {MIN_CLI} or newer from {INSTALL_URL}"
        raise PrerequisiteMissing(msg) from None


def require_passphrase(environ, backend_url: str) -> None:
    """Refuse to run the passphrase secrets provider without a passphrase the user chose.

    The CLI reads PULUMI_CONFIG_PASSPHRASE when it is set (an empty value included), else the
    file PULUMI_CONFIG_PASSPHRASE_FILE names, else fails when not interactive (pulumi/pulumi
    pkg/secrets/passphrase/manager.go, readPassphrase). Without this check the harness used to
    pass an empty passphrase, encrypting the stack's secrets with it. Pulumi Cloud (http/https
    backends) manages secrets itself and needs none.
    """
    if backend_url.startswith(("https://", "http://")):
        return
    if "PULUMI_CONFIG_PASSPHRASE" in environ:
        return
    path = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE", "")
    if not path:
        msg = ("PULUMI_CONFIG_PASSPHRASE is not set: the stacks' secrets are encrypted with a "
               "passphrase; export PULUMI_CONFIG_PASSPHRASE=... or name a file holding it with "
               "PULUMI_CONFIG_PASSPHRASE_FILE=PATH")
        raise PrerequisiteMissing(msg)
    try:
        Path(path).read_bytes()
    except OSError as exc:
        msg = (f"PULUMI_CONFIG_PASSPHRASE_FILE={path}: cannot read it ({exc.strerror or exc}); "
               "name a readable file holding the passphrase")
        raise PrerequisiteMissing(msg) from None


def _forward(raw: Any, on_event: EventSink) -> None:
    ev = _resource_event(raw)
    if ev is not None:
        on_event(ev)


def recorded_steps_of(deployment: dict) -> set[str]:
    """Steps whose recorder Job (`job-rec-<step>`, experiments.component) a checkpoint holds as
    created without errors and with no operation pending on it.

    pulumi-kubernetes records a Job only once its await has seen it Complete; a Job whose await
    failed or timed out is kept with `initErrors` (provider/pkg/await), so it does not count.
    """
    return _settled_jobs(deployment, "job-rec-")


def _settled_jobs(deployment: dict, prefix: str) -> set[str]:
    """Names after `prefix` of the Jobs a checkpoint holds as created without errors and with
    no operation pending on them (the only Jobs pulumi-kubernetes has seen Complete)."""
    pending = {(op.get("resource") or {}).get("urn")
               for op in deployment.get("pending_operations") or []}
    out = set()
    for r in deployment.get("resources") or []:
        urn = r.get("urn", "")
        name = urn.rsplit("::", 1)[-1]
        if (r.get("type") == "kubernetes:batch/v1:Job" and name.startswith(prefix)
                and not r.get("initErrors") and urn not in pending):
            out.add(name[len(prefix):])
    return out


def pending_uploads_of(deployment: dict, stack: str) -> set[str]:
    """Recorded steps whose upload Job (`job-upload-<step>`, experiments.upload) the checkpoint
    does not hold as completed, when the program uploads at all.

    Whether it does is in the checkpoint too: every upload Job runs as the stack's uploader
    service account (`results-<stack>`), a shared object each recorder waits for, so a checkpoint
    that holds a completed recorder holds that account exactly when the program has uploads. An
    upload whose await was cut short has `initErrors`; one whose create was pending is dropped
    by the refresh before a retry (`clear_pending_creates`): neither counts as uploaded.
    """
    from infra.service_accounts import uploader_sa

    account = f"-serviceaccount-{uploader_sa(stack)}"
    uploads = any(r.get("type") == "kubernetes:core/v1:ServiceAccount"
                  and r.get("urn", "").endswith(account)
                  for r in deployment.get("resources") or [])
    if not uploads:
        return set()
    return recorded_steps_of(deployment) - _settled_jobs(deployment, "job-upload-")


def outputs_from_checkpoint(deployment: dict) -> dict[str, OutputValue]:
    """Cluster name, endpoint and a kubeconfig (secret) from a checkpoint's cluster resource."""
    from infra.clusters.kubeconfig import eks_kubeconfig, gke_kubeconfig

    for r in deployment.get("resources") or []:
        o = r.get("outputs") or {}
        if r.get("type") == "gcp:container/cluster:Cluster" and o.get("endpoint"):
            ca = (o.get("masterAuth") or {}).get("clusterCaCertificate", "")
            kc = gke_kubeconfig(o["name"], o["endpoint"], ca)
            return {
                "cluster_name": OutputValue(o["name"]),
                "zone": OutputValue(o.get("location")),
                "endpoint": OutputValue(o["endpoint"]),
                "kubeconfig": OutputValue(kc, secret=True),
            }
        if r.get("type") == "aws:eks/cluster:Cluster" and o.get("endpoint"):
            ca = (o.get("certificateAuthority") or {}).get("data", "")
            region = o.get("arn", "arn:aws:eks:unknown").split(":")[3]
            kc = eks_kubeconfig(o["name"], o["endpoint"], ca, region)
            return {
                "cluster_name": OutputValue(o["name"]),
                "endpoint": OutputValue(o["endpoint"]),
                "kubeconfig": OutputValue(kc, secret=True),
            }
    return {}
