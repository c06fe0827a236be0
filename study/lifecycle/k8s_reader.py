"""`ClusterReader` over the official kubernetes client: the results volume and the API server.

The kubeconfig comes from the stack output (secret). It is parsed in memory and handed to
`kubernetes.config.new_client_from_config_dict`, never written to disk, logged or passed to the
results writer. Its user is an exec plugin (gke-gcloud-auth-plugin / aws eks get-token), so no
token is stored in it either; the token the plugin prints stays in the client's memory.

The event exporter's image has no shell, so files on the ReadWriteOnce results claim are read by
a small reader pod (pinned busybox) scheduled on the recorder's node and mounting the claim
read-only; `cat` runs in it through `kubernetes.stream`. The pod is deleted on `close()`.
"""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

from core.layout import (
    EVENTS_FILE,
    LABEL_ROLE,
    LABEL_STEP,
    NAMESPACE,
    RESULTS_MOUNT,
    RESULTS_PVC,
    ROLE_RESULTS,
    STEPS_DIR,
    step_log_file,
)
from study.lifecycle.interfaces import OutputValue, PermanentError, TransientError

READER_POD = "study-results-reader"
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
SYSTEM_PREFIXES = ("gke-", "gmp-")
MARK = "@@STUDY-FILE@@ "


def api_client_from_kubeconfig(text: str):
    """An ApiClient from kubeconfig text, loaded in memory (no file holds the kubeconfig).

    `persist_config=False`: the client never writes a refreshed credential back anywhere. Text
    that is not a YAML mapping is refused in one line that does not quote it (it is a secret).
    """
    import yaml
    from kubernetes import config

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        msg = f"the stack's kubeconfig output is not valid YAML{at}"
        raise PermanentError(msg) from None
    if not isinstance(doc, dict):
        msg = (f"the stack's kubeconfig output is a {type(doc).__name__}, not a kubeconfig "
               "mapping (apiVersion, clusters, contexts, users)")
        raise PermanentError(msg)
    return config.new_client_from_config_dict(config_dict=doc, persist_config=False)


def reader_from_outputs(outputs: dict[str, OutputValue]) -> KubernetesReader:
    kc = outputs.get("kubeconfig")
    if kc is None or not kc.value:
        msg = "the stack has no kubeconfig output; was the cluster created?"
        raise PermanentError(msg)
    return KubernetesReader(api_client_from_kubeconfig(str(kc.value)))


class KubernetesReader:
    def __init__(self, api_client, pod_timeout_s: float = 180.0):
        from kubernetes import client

        self.api = api_client
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)
        self.version_api = client.VersionApi(api_client)
        self.pod_timeout = pod_timeout_s
        self._pod_ready = False

    # -- API errors -------------------------------------------------------------------------------
    @staticmethod
    def _wrap(exc: Exception, what: str) -> Exception:
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, ApiException) and exc.status in (429, 500, 502, 503, 504):
            return TransientError(f"{what}: HTTP {exc.status} {exc.reason}")
        if isinstance(exc, ApiException):
            return PermanentError(f"{what}: HTTP {exc.status} {exc.reason}")
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return TransientError(f"{what}: {exc}")
        return exc

    # -- the reader pod -------------------------------------------------------------------------
    def _reader_pod(self) -> dict[str, Any]:
        from core.versions import BUSYBOX

        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": READER_POD, "namespace": NAMESPACE,
                         "labels": {LABEL_ROLE: "collector"}},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                # ReadWriteOnce: the claim can only be mounted on the recorder's node.
                "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {LABEL_ROLE: ROLE_RESULTS}},
                     "topologyKey": "kubernetes.io/hostname"}]}},
                "containers": [{
                    "name": "reader",
                    "image": BUSYBOX.ref,
                    "command": ["sleep", "3600"],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT,
                                      "readOnly": True}],
                }],
                "volumes": [{"name": "results", "persistentVolumeClaim": {
                    "claimName": RESULTS_PVC, "readOnly": True}}],
            },
        }

    def _ensure_pod(self) -> None:
        from kubernetes.client.exceptions import ApiException

        if self._pod_ready:
            return
        body: Any = self._reader_pod()  # the client accepts plain dicts
        try:
            self.core.create_namespaced_pod(NAMESPACE, body)
        except ApiException as exc:
            if exc.status != 409:  # already there from an earlier collection
                raise self._wrap(exc, "create the results reader pod") from None
        deadline = time.monotonic() + self.pod_timeout
        while time.monotonic() < deadline:
            pod = self.core.read_namespaced_pod(READER_POD, NAMESPACE)
            phase = pod.status.phase if pod.status else None
            if phase == "Running":
                self._pod_ready = True
                return
            if phase in ("Failed", "Succeeded"):
                break
            time.sleep(2)
        msg = f"the results reader pod did not start within {self.pod_timeout:g} s"
        raise TransientError(msg)

    def _exec(self, script: str) -> str:
        from kubernetes.stream import stream

        self._ensure_pod()
        try:
            resp = stream(
                self.core.connect_get_namespaced_pod_exec, READER_POD, NAMESPACE,
                command=["sh", "-c", script], stderr=True, stdin=False, stdout=True, tty=False,
                _preload_content=False,
            )
            out: list[str] = []
            err: list[str] = []
            while resp.is_open():
                resp.update(timeout=5)
                if resp.peek_stdout():
                    out.append(resp.read_stdout())
                if resp.peek_stderr():
                    err.append(resp.read_stderr())
            resp.close()
            code = resp.returncode
        except Exception as exc:  # noqa: BLE001 - mapped to transient/permanent
            raise self._wrap(exc, "read the results volume") from None
        if code not in (0, None):
            msg = f"reading the results volume failed ({code}): {''.join(err).strip()[:200]}"
            raise FileNotFoundError(msg)
        return "".join(out)

    def _cat(self, path: str) -> str:
        return self._exec(f"cat {shlex.quote(path)}")

    # -- ClusterReader ----------------------------------------------------------------------------
    def events(self) -> list[dict]:
        out = []
        for line in self._cat(EVENTS_FILE).splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line torn by a recorder restart
        return out

    def step_statuses(self) -> dict[str, dict]:
        text = self._exec(
            f"for f in {STEPS_DIR}/*/status.json; do [ -f \"$f\" ] || continue; "
            f"echo \"{MARK}$f\"; cat \"$f\"; echo; done"
        )
        out: dict[str, dict] = {}
        for chunk in text.split(MARK)[1:]:
            path, _, body = chunk.partition("\n")
            step = path.strip().split("/")[-2]
            try:
                out[step] = json.loads(body)
            except json.JSONDecodeError:
                out[step] = {"step": step, "status": "running"}  # being rewritten right now
        return out

    def step_log(self, step: str) -> str:
        return self._cat(step_log_file(step))

    def nodes(self) -> dict:
        try:
            res = self.core.list_node()
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, "list nodes") from None
        doc = self.api.sanitize_for_serialization(res)
        doc.setdefault("apiVersion", "v1")
        doc["kind"] = "List"
        return doc

    def server_version(self) -> str:
        try:
            return str(self.version_api.get_code().git_version)
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, "read the server version") from None

    def images(self) -> list[dict]:
        """Containers of operators and recorders (not the studied workloads): image and digest."""
        try:
            pods = self.core.list_pod_for_all_namespaces()
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, "list pods") from None
        out = []
        for pod in pods.items:
            meta, status = pod.metadata, pod.status
            if meta is None or status is None:
                continue
            ns = meta.namespace or ""
            if ns in SYSTEM_NAMESPACES or ns.startswith(SYSTEM_PREFIXES):
                continue
            if LABEL_STEP in (meta.labels or {}):
                continue
            for cs in status.container_statuses or []:
                out.append({"namespace": ns, "pod": meta.name, "container": cs.name,
                            "image": cs.image, "image_id": cs.image_id})
        return sorted(out, key=lambda r: (r["namespace"], r["pod"], r["container"]))

    def stop_experiment(self) -> None:
        try:
            self.batch.delete_collection_namespaced_job(
                NAMESPACE, label_selector=LABEL_STEP, propagation_policy="Background"
            )
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, "delete the step Jobs") from None

    def release_volumes(self, timeout_s: float, poll_s: float = 10.0) -> list[str]:
        """Delete the study namespace, then wait for the harness's volumes to be deleted.

        Why before `pulumi destroy`: a disk is deleted by its CSI driver only after its claim is
        gone and the disk is detached (kubernetes-csi/external-provisioner keeps the PV, with its
        `external-provisioner.volume.kubernetes.io/finalizer`, until DeleteVolume succeeds).
        `pulumi destroy` deletes the claim and moves on to the StorageClass, the EBS CSI add-on
        and the cluster within seconds, so the driver can be gone before it deletes the disk,
        which then outlives the cluster (and GKE does not delete PD CSI disks with a cluster).
        """
        from kubernetes.client.exceptions import ApiException

        from infra.storage import STORAGE_CLASS

        try:
            self.core.delete_namespace(NAMESPACE, propagation_policy="Foreground")
        except ApiException as exc:
            if exc.status != 404:
                raise self._wrap(exc, f"delete namespace {NAMESPACE}") from None
        except Exception as exc:  # noqa: BLE001
            raise self._wrap(exc, f"delete namespace {NAMESPACE}") from None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                pvs = self.core.list_persistent_volume().items
            except Exception as exc:  # noqa: BLE001
                raise self._wrap(exc, "list persistent volumes") from None
            left = sorted(str(pv.metadata.name) for pv in pvs
                          if pv.metadata is not None and pv.spec is not None
                          and pv.spec.storage_class_name == STORAGE_CLASS)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(poll_s)

    def close(self) -> None:
        if self._pod_ready:
            try:
                self.core.delete_namespaced_pod(READER_POD, NAMESPACE, grace_period_seconds=0)
            except Exception:  # noqa: BLE001, S110 - destroy removes it anyway
                pass
        self.api.close()
