"""Run the real Pulumi program in-process under the SDK's mock engine and record what it declares.

This is how `study plan` works with no cloud, no credentials and no Pulumi CLI, and how the tests
check that every knob reaches the resource inputs. Provider-computed outputs the program reads
(endpoints, CA data) get placeholder values from documentation ranges (TEST-NET-3).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import runpy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings

MOCK_CA = base64.b64encode(b"mock-ca-certificate").decode()

# type token -> outputs the real provider computes and the program reads back.
COMPUTED: dict[str, dict[str, Any]] = {
    "gcp:container/cluster:Cluster": {
        "endpoint": "203.0.113.10",
        "masterAuth": {"clusterCaCertificate": MOCK_CA},
    },
    "aws:eks/cluster:Cluster": {
        "endpoint": "https://203.0.113.20",
        "certificateAuthority": {"data": MOCK_CA},
        "vpcConfig": {"clusterSecurityGroupId": "sg-mock"},
    },
    "aws:iam/role:Role": {"arn": "arn:aws:iam::123456789012:role/mock"},
    "aws:ec2/launchTemplate:LaunchTemplate": {"latestVersion": 1},
}
# Set by the API server on every object; a fixed placeholder keeps plans reproducible.
MOCK_CREATION_TIMESTAMP = "2000-01-01T00:00:00Z"

# invoke token -> what the data source returns (the AWS documentation's example account).
CALLS: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": "123456789012",
        "arn": "arn:aws:iam::123456789012:user/mock",
        "userId": "AIDAMOCK",
        "id": "123456789012",
    },
}


@dataclass
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    provider: str | None = None
    # Resource options the engine receives but `Mocks.new_resource` is not shown: ignoreChanges,
    # customTimeouts {create, update, delete}, retainOnDelete, deleteBeforeReplace,
    # replaceOnChanges. Real-cloud rules (resume, timeouts) are checked against these.
    options: dict[str, Any] = field(default_factory=dict)


def _options(request) -> dict[str, Any]:
    """The options of a RegisterResource request, as plain data."""
    timeouts = request.customTimeouts
    return {
        "ignoreChanges": list(request.ignoreChanges),
        "customTimeouts": {
            k: getattr(timeouts, k) for k in ("create", "update", "delete") if getattr(timeouts, k)
        },
        "retainOnDelete": bool(request.retainOnDelete),
        "deleteBeforeReplace": bool(request.deleteBeforeReplace),
        "replaceOnChanges": list(request.replaceOnChanges),
        "dependencies": list(request.dependencies),
    }


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, keeping each registration's options next to its inputs."""

    def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        mocks = self.mocks
        if isinstance(mocks, RecordingMocks) and request.type != "pulumi:pulumi:Stack":
            # Registrations run on a thread pool: the last one recorded may be another's.
            for rec in reversed(mocks.resources):
                if rec.type == request.type and rec.name == request.name:
                    # The URN and the parent's too: a child waits for its parent's registration,
                    # so what a resource waits for is its dependencies and its parent's.
                    rec.options = {**_options(request), "urn": response.urn,
                                   "parent": request.parent}
                    break
        return response


def _computed_now(args, now: datetime | None) -> dict[str, Any]:
    """Outputs the provider computes from the time of creation: the plan's clock (`now`, else
    infra.validate.clock) stands in for it, so the plan's labels agree with its expiry checks."""
    if args.typ != "time:index/offset:Offset":
        return {}
    from datetime import timedelta

    from infra.expiry import parse_rfc3339, zulu
    from infra.validate import clock

    if args.inputs.get("baseRfc3339"):
        base = parse_rfc3339(args.inputs["baseRfc3339"])
    else:
        base = now or clock()
    minutes = int(args.inputs.get("offsetMinutes") or 0)
    return {"baseRfc3339": zulu(base), "rfc3339": zulu(base + timedelta(minutes=minutes))}


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    resources: list[Recorded] = field(default_factory=list)
    now: datetime | None = None  # when the plan creates the stack (None: infra.validate.clock)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(
            Recorded(args.typ, args.name, dict(args.inputs), bool(args.custom), args.provider)
        )
        outputs = {**args.inputs, **COMPUTED.get(args.typ, {}), **_computed_now(args, self.now)}
        outputs.setdefault("name", args.inputs.get("name", args.name))
        if args.typ == "kubernetes:core/v1:Namespace" and isinstance(outputs.get("metadata"), dict):
            outputs["metadata"] = {"creationTimestamp": MOCK_CREATION_TIMESTAMP,
                                   **outputs["metadata"]}
        if args.typ.startswith("aws:"):
            outputs.setdefault("arn", f"arn:aws:mock:::{args.name}")
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return dict(CALLS.get(args.token, {}))


def _loop() -> asyncio.AbstractEventLoop:
    """The loop `pulumi.runtime.sync_await._sync_await` runs the program on."""
    try:
        return asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        return loop


@dataclass
class ProgramRun:
    resources: list[Recorded]
    exports: dict[str, Any]
    error: BaseException | None = None
    # What the program logged through pulumi.log (warnings included), kept off the terminal:
    # the plan reports the same findings itself.
    logs: list[str] = field(default_factory=list)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname.lower()}: {record.getMessage()}")


def run_program(
    stack: str, config: dict[str, str], main: Path, project: str = "study-harness",
    now: datetime | None = None,
) -> ProgramRun:
    """Execute `main` (the real __main__.py) under mocks with `config`; never touches a network."""
    mocks = RecordingMocks(now=now)
    capture = _Capture()
    logger = logging.getLogger(f"study.mock-engine.{stack}")
    logger.handlers[:] = [capture]
    logger.propagate = False
    pulumi_settings.ROOT.set(None)  # a fresh root stack for every run in this process
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=True, logger=logger,
        monitor=_RecordingMonitor(mocks),
    )
    pulumi.runtime.set_all_config(dict(config))
    exports: dict[str, Any] = {}
    failure: list[BaseException] = []

    def program():
        try:
            runpy.run_path(str(main), run_name="__main__")
        except BaseException as exc:  # noqa: BLE001 - reported to the caller, not swallowed
            failure.append(exc)
            return {}
        root = pulumi_settings.get_root_resource()
        outs = getattr(root, "outputs", None) or {}
        return pulumi.Output.all(**outs) if outs else {}

    def keep(values):
        exports.update(values or {})

    # One worker for the SDK's RPCs (on the loop the SDK's test runner uses): the mock monitor
    # answers each at once, so one thread costs nothing, and registrations then complete in
    # the order they were made, so two runs of a program record the same resources in the
    # same order.
    _loop().set_default_executor(ThreadPoolExecutor(max_workers=1))
    pulumi_mocks.test(lambda: pulumi.Output.from_input(program()).apply(keep))()
    return ProgramRun(mocks.resources, exports, failure[0] if failure else None, capture.lines)
