"""The node-size holder inside the real dynamic provider process, against moto's EKS on loopback.

Under `pulumi up` the engine does not call `NodeSizeProvider` in the program's process: it
starts `pulumi-resource-pulumi-python`, which runs `$PULUMI_RUNTIME_VIRTUALENV/bin/python -u -m
pulumi.dynamic` in the project directory (pulumi/pulumi sdk/python/cmd/pulumi-resource-pulumi-
python), and sends it the provider as the program pickled it (`__provider`: dill by reference,
sdk/python/lib/pulumi/dynamic/dynamic.py `serialize_provider`, 3.272.0). That process must be
able to import the provider and the client libraries it calls, Diff (also run by a preview) must
only read, and Update must scale back. Here: the same module run the same way, driven over its
gRPC interface (sdk/python/lib/pulumi/dynamic/__main__.py: Check, Create, Diff, Update), the
node group in moto's EKS server on 127.0.0.1 through `AWS_ENDPOINT_URL` (botocore's endpoint
configuration).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from infra.node_size import NodeSizeProvider
from tests.object_stores import FAKE_AWS, moto_endpoint  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
CLUSTER, GROUP, REGION = "eks-2-smoke", "eks-2-smoke-nodes", "us-east-2"
URN = "urn:pulumi:eks-2-smoke::study-harness::pulumi-python:dynamic:Resource::eks-2-smoke-node-size"


@pytest.fixture
def eks(moto_endpoint):  # noqa: F811
    import boto3

    client = boto3.client("eks", region_name=REGION, endpoint_url=moto_endpoint, **{
        k.lower(): v for k, v in FAKE_AWS.items() if k.endswith(("KEY_ID", "SECRET_ACCESS_KEY"))})
    role = "arn:aws:iam::123456789012:role/eks"
    client.create_cluster(name=CLUSTER, roleArn=role,
                          resourcesVpcConfig={"subnetIds": ["subnet-1", "subnet-2"]})
    client.create_nodegroup(clusterName=CLUSTER, nodegroupName=GROUP, nodeRole=role,
                            subnets=["subnet-1"],
                            scalingConfig={"minSize": 2, "maxSize": 2, "desiredSize": 2})
    yield client
    client.delete_nodegroup(clusterName=CLUSTER, nodegroupName=GROUP)
    client.delete_cluster(name=CLUSTER)


@pytest.fixture
def provider_process(moto_endpoint):  # noqa: F811
    """`python -u -m pulumi.dynamic` in the project directory, as the engine starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHONPATH"))}
    env.update(FAKE_AWS, AWS_ENDPOINT_URL=moto_endpoint)
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.dynamic"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def struct(props: dict):
    """Props as the engine sends them (a loop of its own, as the provider's own __main__ does:
    asyncio.run would unset the thread's loop that the mock-engine tests use)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def scaling(eks) -> dict:
    return eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=GROUP)["nodegroup"][
        "scalingConfig"]


def test_the_provider_process_holds_the_node_group_at_its_size(eks, provider_process):
    props = {"cloud": "eks", "project": "", "location": REGION, "cluster": CLUSTER,
             "pool": GROUP, "nodes": 2, "__provider": serialize_provider(NodeSizeProvider())}
    rpc_ = provider_process
    checked = rpc_.Check(provider_pb2.CheckRequest(urn=URN, olds=struct({}),
                                                   news=struct(props)))
    assert list(checked.failures) == []
    created = rpc_.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs))
    assert created.id == f"{CLUSTER}/{GROUP}"
    assert scaling(eks) == {"minSize": 2, "maxSize": 2, "desiredSize": 2}

    same = rpc_.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties,
                                              news=checked.inputs))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE

    # The guard's stop (experiments.guard.AwsScaler: min 0, the group's max, desired 0).
    eks.update_nodegroup_config(clusterName=CLUSTER, nodegroupName=GROUP,
                                scalingConfig={"minSize": 0, "maxSize": 2, "desiredSize": 0})
    stopped = rpc_.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN,
                                                 olds=created.properties, news=checked.inputs))
    assert stopped.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(stopped.replaces) == []
    assert scaling(eks) == {"minSize": 0, "maxSize": 2, "desiredSize": 0}  # a preview only reads

    rpc_.Update(provider_pb2.UpdateRequest(id=created.id, urn=URN, olds=created.properties,
                                           news=checked.inputs))
    assert scaling(eks) == {"minSize": 2, "maxSize": 2, "desiredSize": 2}
