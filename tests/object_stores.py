"""Object stores on loopback for the results-bucket tests, driven by the real client libraries.

S3: moto's server mode (`moto.server.ThreadedMotoServer`, PyPI moto[server]) on 127.0.0.1; GCS:
`gcp-storage-emulator` (PyPI) started as a process on 127.0.0.1. Both speak the services' HTTP
APIs, so boto3, google-cloud-storage and the AWS CLI talk to them as to the clouds. Nothing here
leaves the machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    msg = f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s"
    raise TimeoutError(msg)


FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-2"}


@pytest.fixture(scope="session")
def moto_endpoint():
    """http://127.0.0.1:PORT of a moto server (S3, STS) for this test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """A boto3 S3 client on the moto server, with throwaway credentials in the environment."""
    import boto3

    for k, v in FAKE_AWS.items():
        monkeypatch.setenv(k, v)
    return boto3.client("s3", region_name="us-east-2", endpoint_url=moto_endpoint)


@pytest.fixture(scope="session")
def gcs_endpoint(tmp_path_factory):
    """http://127.0.0.1:PORT of a gcp-storage-emulator process for this test session."""
    port = free_port()
    log = tmp_path_factory.mktemp("gcs") / "emulator.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VENV_BIN / "gcp-storage-emulator"), "start", "--host", "127.0.0.1",
             "--port", str(port), "--in-memory"],
            stdout=out, stderr=subprocess.STDOUT, cwd=log.parent,
        )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def gcs(gcs_endpoint):
    """A google-cloud-storage client on the emulator (anonymous: the emulator checks nothing)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project="study-harness-test", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": gcs_endpoint})


def bucket_name() -> str:
    """A fresh bucket name: the session's stores are shared between tests."""
    return f"study-results-{uuid.uuid4().hex[:12]}"


def cli_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a CLI run: this venv's tools first, nothing from the real cloud."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "CLOUDSDK_", "GOOGLE_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env
