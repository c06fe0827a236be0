"""Real object-store and EKS protocols on loopback for the guard's tests: moto in server mode
(S3, EKS) and gcp-storage-emulator (GCS), driven by the real client libraries and the AWS CLI."""

from __future__ import annotations

import socket

import pytest

AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-2"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_endpoint(monkeypatch):
    """A fresh moto server on 127.0.0.1; boto3 (and the AWS CLI) pointed at it."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto's backends live in this process and outlive a server: start from an empty cloud,
    # and leave one (another module's session server shares the backends, and a cluster left
    # here makes its CreateCluster of the same name fail with ResourceInUseException).
    import urllib.request

    def reset() -> None:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset",
                                                      method="POST"), timeout=30).close()

    reset()
    for k, v in {**AWS_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(k, v)
    yield endpoint
    reset()
    server.stop()


@pytest.fixture
def gcs_client():
    """A google-cloud-storage client talking to gcp-storage-emulator on 127.0.0.1."""
    from gcp_storage_emulator.server import create_server
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    client = storage.Client(project="study-test", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": f"http://127.0.0.1:{port}"})
    yield client
    server.stop()
