"""Kubeconfigs that authenticate through the cloud's own CLI (exec plugins), never static tokens.

GKE: `gke-gcloud-auth-plugin` (the legacy `auth-provider: gcp` is gone since Kubernetes 1.26).
EKS: `aws eks get-token`. Both render to YAML text that becomes a secret stack output.
"""

from __future__ import annotations

import yaml


def _kubeconfig(name: str, endpoint: str, ca_data: str, user: dict) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": f"https://{endpoint}",
                        "certificate-authority-data": ca_data,
                    },
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [{"name": name, "user": user}],
        },
        sort_keys=False,
    )


def gke_kubeconfig(name: str, endpoint: str, ca_data: str) -> str:
    return _kubeconfig(
        name,
        endpoint,
        ca_data,
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "gke-gcloud-auth-plugin",
                "installHint": "Install gke-gcloud-auth-plugin: gcloud components install "
                "gke-gcloud-auth-plugin",
                "provideClusterInfo": True,
                "interactiveMode": "Never",
            }
        },
    )


def eks_kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    # EKS endpoints already carry https://; strip it so _kubeconfig adds exactly one.
    return _kubeconfig(
        name,
        endpoint.removeprefix("https://"),
        ca_data,
        {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "aws",
                "args": ["eks", "get-token", "--cluster-name", name, "--region", region],
                "interactiveMode": "Never",
            }
        },
    )
