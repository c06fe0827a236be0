"""The guard's `NodeScaler` through the clouds' client libraries: the study's GKE node pool
(google-cloud-container, google-cloud-compute) or EKS node group (boto3), and nothing else.

Why beside the inventories: it is the same kind of seam (`gcp_inventory.py`,
`aws_inventory.py`): the harness asks the cloud directly, independent of Pulumi state, and the
tests swap in a fake with the same two methods. The in-cluster guard does the same through the
CLIs (`experiments.guard.GcloudScaler`, `AwsScaler`); `experiments.guard.run_once` takes either.
Clients are passed in (or built lazily: the `cloud` extra), so a test can point boto3 at a
server on loopback.

- GKE: the cluster's `create_time` (GetCluster), the pool's target size as the sum of its
  managed instance groups' `target_size` (GetNodePool lists `instance_group_urls`; the GKE API
  has no current size of its own), SetNodePoolSize to scale.
- EKS: the cluster's `createdAt` (DescribeCluster), the group's `scalingConfig.desiredSize`
  (DescribeNodegroup), UpdateNodegroupConfig with min 0, desired 0 and the group's max (EKS
  refuses a max below 1).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from core.errors import PermanentError


def _running(op: Any) -> bool:
    """Whether a GKE Operation is still PENDING or RUNNING. By the enum's name: `status` is a
    proto-plus IntEnum, whose str() on Python 3.11+ is its number ("2"), not "Status.RUNNING"."""
    return getattr(getattr(op, "status", None), "name", "DONE") in ("PENDING", "RUNNING")


class GkeNodeScaler:
    def __init__(self, project: str, zone: str, cluster: str, pool: str,
                 container: Any = None, instance_groups: Any = None):
        self.name = f"projects/{project}/locations/{zone}/clusters/{cluster}"
        self.project = project
        self._container, self._igm = container, instance_groups
        self.pool_name = f"{self.name}/nodePools/{pool}"

    @property
    def container(self):
        if self._container is None:
            from google.cloud import container_v1

            self._container = container_v1.ClusterManagerClient()
        return self._container

    @property
    def instance_groups(self):
        if self._igm is None:
            from google.cloud import compute_v1

            self._igm = compute_v1.InstanceGroupManagersClient()
        return self._igm

    def pool(self) -> tuple[int, float]:
        cluster = self.container.get_cluster(name=self.name)
        pool = self.container.get_node_pool(name=self.pool_name)
        target = 0
        for url in pool.instance_group_urls:
            parts = url.rstrip("/").split("/")  # .../zones/Z/instanceGroupManagers/NAME
            mig = self.instance_groups.get(project=self.project, zone=parts[-3],
                                           instance_group_manager=parts[-1])
            target += int(mig.target_size)
        created = datetime.fromisoformat(str(cluster.create_time).replace("Z", "+00:00"))
        return target, created.timestamp()

    def scale_to_zero(self) -> None:
        self.scale_to(0)

    def scale_to(self, nodes: int) -> None:
        """SetNodePoolSize; returns when GKE's operation is done (the nodes are registered)."""
        op = self.container.set_node_pool_size(
            request={"name": self.pool_name, "node_count": nodes})
        wait = getattr(self.container, "get_operation", None)
        name = getattr(op, "name", "")
        while wait is not None and name and _running(op):
            time.sleep(10)
            op = wait(name=f"{self.name.rsplit('/clusters/', 1)[0]}/operations/{name}")


class EksNodeScaler:
    def __init__(self, region: str, cluster: str, nodegroup: str, client: Any = None):
        self.region, self.cluster, self.nodegroup = region, cluster, nodegroup
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.session.Session(region_name=self.region).client("eks")
        return self._client

    def _scaling(self) -> dict:
        try:
            group = self.client.describe_nodegroup(clusterName=self.cluster,
                                                   nodegroupName=self.nodegroup)
        except self.client.exceptions.ResourceNotFoundException:
            msg = f"EKS node group {self.cluster}/{self.nodegroup} not found in {self.region}"
            raise PermanentError(msg) from None
        return group["nodegroup"]["scalingConfig"]

    def pool(self) -> tuple[int, float]:
        created = self.client.describe_cluster(name=self.cluster)["cluster"]["createdAt"]
        return int(self._scaling()["desiredSize"]), created.timestamp()

    def scale_to_zero(self) -> None:
        top = max(1, int(self._scaling()["maxSize"]))
        self.client.update_nodegroup_config(
            clusterName=self.cluster, nodegroupName=self.nodegroup,
            scalingConfig={"minSize": 0, "maxSize": top, "desiredSize": 0})

    def scale_to(self, nodes: int) -> None:
        """The program's fixed size (min = max = desired); waits until the group is ACTIVE."""
        self.client.update_nodegroup_config(
            clusterName=self.cluster, nodegroupName=self.nodegroup,
            scalingConfig={"minSize": nodes, "maxSize": max(1, nodes), "desiredSize": nodes})
        self.client.get_waiter("nodegroup_active").wait(
            clusterName=self.cluster, nodegroupName=self.nodegroup,
            WaiterConfig={"Delay": 15, "MaxAttempts": 120})
