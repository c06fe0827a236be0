"""The study's disks are deleted by their CSI driver before the cluster goes, or reported.

kubernetes-csi/external-provisioner (controller/controller.go, the PV's
`external-provisioner.volume.kubernetes.io/finalizer`) deletes a disk only after its claim is
gone and the disk is detached; `pulumi destroy` removes the claim and then, seconds later, the
StorageClass, the EBS CSI add-on and the cluster. So the destroy path deletes the namespace first
and waits for the harness's PersistentVolumes to disappear.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.storage import STORAGE_CLASS
from study.lifecycle.destroy import DestroyOutcome, delete_disk_command
from study.lifecycle.interfaces import CloudResource
from tests.doubles.lifecycle import raising
from tests.study.lifecycle.conftest import STACK, STEPS3


def test_run_releases_the_volumes_before_destroying(harness):
    h = harness(steps=list(STEPS3))
    out = h.run()
    assert out.exit_code == 0
    ops = [op for op, _ in h.world.backend.calls]
    assert "release_volumes" in ops
    assert ops.index("release_volumes") < ops.index("destroy")


def test_an_unreachable_cluster_is_destroyed_all_the_same(harness):
    h = harness(steps=list(STEPS3))
    h.world.faults.add("reader.release", raising(ConnectionError("connection refused")))
    out = h.run()
    assert out.exit_code == 0
    assert "destroy" in [op for op, _ in h.world.backend.calls]
    assert any("volumes not released before destroy (connection refused)" in x
               for x in h.progress.lines)


@pytest.mark.parametrize(
    ("resource", "command"),
    [
        (CloudResource("ec2:volume", "vol-0abc", {}, "us-east-2"),
         "aws ec2 delete-volume --volume-id vol-0abc --region us-east-2"),
        (CloudResource("compute.disks", "pvc-1234", {}, "us-central1-a"),
         "gcloud compute disks delete pvc-1234 --zone us-central1-a --quiet"),
        (CloudResource("compute.disks", "pvc-x; rm -rf /", {}, "zones/us-central1-a"),
         "gcloud compute disks delete 'pvc-x; rm -rf /' --zone us-central1-a --quiet"),
        (CloudResource("compute.instances", "gke-node", {}, "us-central1-a"), None),
    ],
)
def test_a_leftover_disk_gets_its_delete_command_quoted(resource, command):
    assert delete_disk_command(resource) == command


def test_finish_command_names_destroy_and_every_leftover_disk():
    out = DestroyOutcome(ok=False, attempts=1, started_at=0, finished_at=1, leftovers=[
        CloudResource("ec2:volume", "vol-1", {}, "us-east-2"),
        CloudResource("ec2:instance", "i-1", {}, "us-east-2"),
    ])
    assert out.finish_command("s") == (
        "study destroy s   (or: pulumi destroy -s s --yes); "
        "aws ec2 delete-volume --volume-id vol-1 --region us-east-2"
    )


class FakeApiServer:
    """The two endpoints `release_volumes` calls, as the API server answers them (core/v1
    Namespace delete, PersistentVolumeList), served on loopback to the real kubernetes client.
    The harness's PV disappears after `pv_polls` lists, as when the CSI driver deletes it."""

    def __init__(self, pv_polls: int, namespace_exists: bool = True):
        self.requests: list[tuple[str, str, dict]] = []
        self.pv_polls, self.namespace_exists = pv_polls, namespace_exists
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, code: int, doc: dict) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_DELETE(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(("DELETE", self.path, body))
                if not server.namespace_exists:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "reason": "NotFound", "code": 404})
                    return
                self._send(200, {"kind": "Namespace", "apiVersion": "v1",
                                 "metadata": {"name": "study-harness"},
                                 "status": {"phase": "Terminating"}})

            def do_GET(self):  # noqa: N802
                server.requests.append(("GET", self.path, {}))
                pvs = [{"metadata": {"name": "pvc-other"},
                        "spec": {"storageClassName": "standard-rwo"}}]
                server.pv_polls -= 1
                if server.pv_polls >= 0:
                    pvs.append({"metadata": {"name": "pvc-results"},
                                "spec": {"storageClassName": STORAGE_CLASS}})
                self._send(200, {"kind": "PersistentVolumeList", "apiVersion": "v1",
                                 "metadata": {}, "items": pvs})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def reader(self):
        from kubernetes import client

        from study.lifecycle.k8s_reader import KubernetesReader

        cfg = client.Configuration()
        cfg.host = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return KubernetesReader(client.ApiClient(cfg))


def test_release_deletes_the_namespace_and_waits_for_the_study_volumes():
    with FakeApiServer(pv_polls=2) as api:
        assert api.reader().release_volumes(timeout_s=30, poll_s=0.01) == []
    method, path, _ = api.requests[0]
    assert (method, path) == (
        "DELETE", "/api/v1/namespaces/study-harness?propagationPolicy=Foreground")
    assert [m for m, _, _ in api.requests[1:]] == ["GET", "GET", "GET"]


def test_release_returns_the_volumes_still_there_at_the_timeout():
    with FakeApiServer(pv_polls=10**6) as api:
        assert api.reader().release_volumes(timeout_s=0.05, poll_s=0.01) == ["pvc-results"]


def test_release_after_the_namespace_is_gone_still_waits_for_volumes():
    with FakeApiServer(pv_polls=1, namespace_exists=False) as api:
        assert api.reader().release_volumes(timeout_s=30, poll_s=0.01) == []


def test_destroy_while_another_update_holds_the_stack_touches_nothing(harness):
    """`study destroy` during someone else's `study run`: that run's cluster and results claim
    are live. A refresh takes the stack's update lock (Pulumi), so it tells; then nothing is
    released, no lock is broken and nothing is destroyed, with the command to use if the lock
    turns out to be stale."""
    from study.lifecycle.commands import destroy_command
    from study.lifecycle.destroy import DestroyPolicy
    from tests.conftest import to_config

    h = harness(steps=list(STEPS3))
    assert h.run(keep=True).exit_code == 0
    h.world.backend.locked = True  # another update is running
    before = len(h.world.backend.calls)
    out = destroy_command(STACK, h.services, to_config(h.sec), DestroyPolicy())
    assert not out.ok
    assert [op for op, _ in h.world.backend.calls[before:]] == ["refresh"]
    assert out.errors == [f"another update holds {STACK}: nothing was released or destroyed; if "
                          f"no run is active, pulumi cancel -s {STACK}, then study destroy {STACK}"]
    assert h.world.cloud.live(STACK)


def test_a_run_breaks_its_own_stale_lock_then_releases_and_destroys(harness):
    """The run's own update was killed and left its lock: the run may break it, and then still
    releases the volumes before destroying."""
    h = harness(steps=list(STEPS3))
    h.world.faults.add("up.end", lambda: setattr(h.world.backend, "locked", True))
    out = h.run()
    assert out.exit_code == 0, out.message
    ops = [op for op, _ in h.world.backend.calls]
    tail = ops[ops.index("cancel"):]
    assert tail.index("release_volumes") < tail.index("destroy")
