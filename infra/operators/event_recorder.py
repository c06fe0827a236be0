"""The event recorder: every Kubernetes Event of the run, written to the results volume.

Why not `kubectl logs -f` of an exporter (what the seed did): one seed run lost events when the
terminal disconnected and had to be redone. Here the exporter's `file` receiver appends JSON lines
to `/results/events/events.jsonl` on the results PersistentVolumeClaim, inside the cluster, so a
laptop can disconnect and `study collect` reads the file later.

What the pinned exporter (resmoio/kubernetes-event-exporter v1.7) writes: each Event once, when
its informer first sees it (pkg/kube/watcher.go: `OnUpdate` and `OnDelete` ignore everything), so
a repeated event's later `count`/`lastTimestamp` updates are never written; no config key changes
that at v1.7. What the studies read are the kubelet's Pulling/Pulled/Created/Started events, one
new Event per pod and image, so the first sight is the one that matters. On a restart the
informer lists again and replays what the API server still holds (within `maxEventAgeSeconds`):
replays share their `metadata.uid`, and readers deduplicate on it
(experiments.checks.read_events). The config keys below are the v1.7 structs' (pkg/exporter/
config.go, pkg/sinks/receiver.go, pkg/sinks/file.go, pkg/exporter/route.go and rule.go); its YAML
parser (goccy/go-yaml) ignores unknown keys silently, so a wrong key is a setting that never was.

The recorder pod carries the `results` role label: step recorder Jobs are scheduled next to it
(required pod affinity on the hostname), because the claim is ReadWriteOnce. The Deployment uses
the Recreate strategy for the same reason. Plain dicts, rendered by `infra.operators.install`.
"""

from __future__ import annotations

from typing import Any

from core.layout import (
    EVENT_RECORDER,
    EVENTS_FILE,
    LABEL_ROLE,
    NAMESPACE,
    RESULTS_MOUNT,
    RESULTS_PVC,
    ROLE_RESULTS,
    STEPS_DIR,
)
from core.versions import BUSYBOX
from core.versions import EVENT_RECORDER as OP
from infra.storage import STORAGE_CLASS

RESULTS_SIZE = "20Gi"  # a 256-node pulling run writes a few hundred MB of events
MAX_EVENTS_MB = 10_000  # lumberjack MaxSize is in megabytes: never rotate within a run (20 GB)


def exporter_config() -> str:
    import json

    # JSON is valid YAML; the exporter reads YAML. maxEventAgeSeconds: at start (and after a
    # restart) replay the events the API server still holds (it keeps them ~1 h); the default
    # 5 s would drop the cluster's and operators' start-up events. Replays share their uid.
    cfg = {
        "logLevel": "error",
        "logFormat": "json",
        "maxEventAgeSeconds": 3600,
        # No lookup of each event's involved object. At v1.7 a lookup is keyed by the object's
        # uid/resourceVersion (pkg/kube/objects.go), which changes between a pod's events, so
        # nearly every event costs an API discovery plus a GET through a client limited to
        # kubeQPS 5 / kubeBurst 10 (pkg/exporter/config.go SetDefaults), inside the informer's
        # handler (pkg/kube/watcher.go onEvent). A 256-node step emits thousands of events: the
        # file would lag by minutes (the recorder reads it 15 s after a step) and events queued
        # past maxEventAgeSeconds are discarded. The lookup only adds the object's labels;
        # node labels come from the nodes.json that `study collect` writes.
        "omitLookup": True,
        "route": {"routes": [{"match": [{"receiver": "results-file"}]}]},
        "receivers": [
            {
                "name": "results-file",
                "file": {
                    "path": EVENTS_FILE,
                    # The sink is a lumberjack logger: 0 means rotate at 100 MB into
                    # events-<time>.jsonl. One file per run is what the collector reads.
                    "maxsize": MAX_EVENTS_MB,
                },
            }
        ],
    }
    return json.dumps(cfg, indent=2)


def recorder_labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": EVENT_RECORDER, LABEL_ROLE: ROLE_RESULTS}


def results_claim() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": RESULTS_PVC,
            "namespace": NAMESPACE,
            # The class binds on first consumer: the claim stays Pending until the recorder
            # pod is scheduled, which comes after the claim. Do not wait for Bound.
            "annotations": {"pulumi.com/skipAwait": "true"},
        },
        "spec": {
            "storageClassName": STORAGE_CLASS,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": RESULTS_SIZE}},
        },
    }


def objects() -> list[dict[str, Any]]:
    """ServiceAccount, read-only cluster RBAC, config, results claim and the Deployment."""
    name, ns = EVENT_RECORDER, NAMESPACE
    labels = recorder_labels()
    prepare = (
        f"mkdir -p {RESULTS_MOUNT}/events {STEPS_DIR} && chmod 0777 {RESULTS_MOUNT}/events "
        f"{STEPS_DIR} && touch {EVENTS_FILE} && chmod 0666 {EVENTS_FILE}"
    )
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            # Events cluster-wide, nothing else: the exporter's informer lists and watches core
            # v1 Events, and with omitLookup it reads no involved objects.
            "rules": [
                {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns},
            "data": {"config.yaml": exporter_config()},
        },
        results_claim(),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # ReadWriteOnce claim: never two pods
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "initContainers": [
                            {
                                "name": "prepare-results",
                                "image": BUSYBOX.ref,
                                "command": ["sh", "-c", prepare],
                                "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT}],
                            }
                        ],
                        "containers": [
                            {
                                "name": "exporter",
                                "image": OP.controller.ref,  # type: ignore[union-attr]
                                "args": ["-conf=/config/config.yaml"],
                                "resources": {
                                    "requests": {"cpu": "100m", "memory": "128Mi"},
                                    "limits": {"memory": "512Mi"},
                                },
                                "volumeMounts": [
                                    {"name": "config", "mountPath": "/config"},
                                    {"name": "results", "mountPath": RESULTS_MOUNT},
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "config", "configMap": {"name": name}},
                            {
                                "name": "results",
                                "persistentVolumeClaim": {"claimName": RESULTS_PVC},
                            },
                        ],
                    },
                },
            },
        },
    ]
