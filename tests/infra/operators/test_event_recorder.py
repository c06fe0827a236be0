"""The event exporter's config against the pinned exporter's own config structs, and the claim.

The fixture `tests/fixtures/event-exporter/v1.7-config-keys.json` copies the key set and Go types
of resmoio/kubernetes-event-exporter at tag v1.7 (commit 2668c43): pkg/exporter/config.go,
pkg/sinks/receiver.go, pkg/sinks/file.go, pkg/exporter/route.go, pkg/exporter/rule.go. Its YAML
parser (goccy/go-yaml, pkg/setup/setup.go) ignores unknown keys, so only this test can tell a
key the exporter reads from one it silently drops.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from infra.operators import event_recorder
from infra.storage import STORAGE_CLASS
from study.schemas import validate_object
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "tests/fixtures/event-exporter/v1.7-config-keys.json").read_text())
STRUCTS: dict[str, dict[str, str]] = SCHEMA["structs"]


def _is(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "map":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    return isinstance(value, dict)  # any-map, object


def problems(value: Any, kind: str, where: str = "config") -> list[str]:
    """Every key of `value` the v1.7 structs do not have, or whose value has the wrong type."""
    if kind.startswith("list:"):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, v in enumerate(value) for p in problems(v, kind[5:], f"{where}[{i}]")]
    if kind not in STRUCTS:
        return [] if _is(value, kind) else [f"{where}: expected {kind}, got {value!r}"]
    if not isinstance(value, dict):
        return [f"{where}: expected a mapping"]
    fields = STRUCTS[kind]
    out = []
    for key, v in value.items():
        if key not in fields:
            out.append(f"{where}.{key}: not a field of the v1.7 {kind} struct")
        else:
            out += problems(v, fields[key], f"{where}.{key}")
    return out


class TestExporterConfigMatchesV17:
    """Every key the harness sets is read by exporter v1.7, with the type its struct declares."""

    def test_every_key_exists_with_its_type(self):
        cfg = yaml.safe_load(event_recorder.exporter_config())  # the exporter parses YAML
        assert problems(cfg, "config") == []

    def test_the_checker_reports_a_key_v17_does_not_read(self):
        bad = {"receivers": [{"name": "f", "file": {"path": "/x", "sentUpdateEvent": True}}]}
        assert problems(bad, "config") == [
            "config.receivers[0].file.sentUpdateEvent: not a field of the v1.7 file struct"
        ]

    def test_file_receiver_is_the_only_route_target(self):
        cfg = yaml.safe_load(event_recorder.exporter_config())
        names = [r["name"] for r in cfg["receivers"]]
        assert names == ["results-file"]
        assert cfg["route"] == {"routes": [{"match": [{"receiver": "results-file"}]}]}

    def test_values_v17_accepts(self):
        """main.go: logFormat json|pretty|""; zerolog level names; config.go
        validateMaxEventAgeSeconds: throttlePeriod and maxEventAgeSeconds are exclusive."""
        cfg = yaml.safe_load(event_recorder.exporter_config())
        assert cfg["logFormat"] == "json"
        assert cfg["logLevel"] in {"trace", "debug", "info", "warn", "error", "fatal", "panic"}
        assert cfg["maxEventAgeSeconds"] == 3600 and "throttlePeriod" not in cfg
        # lumberjack's MaxSize is megabytes; 0 would rotate at 100 MB into a second file.
        assert cfg["receivers"][0]["file"]["maxsize"] == event_recorder.MAX_EVENTS_MB


class TestExporterKeepsUp:
    """At v1.7 looking up an event's involved object costs API discovery plus a GET per event
    (pkg/kube/objects.go: cache keyed by uid/resourceVersion; pkg/exporter/config.go: a client
    limited to kubeQPS 5 / kubeBurst 10) inside the informer's handler (pkg/kube/watcher.go
    onEvent), where events queued longer than maxEventAgeSeconds are discarded."""

    def test_no_involved_object_lookups(self):
        cfg = yaml.safe_load(event_recorder.exporter_config())
        assert cfg["omitLookup"] is True

    def test_reads_events_and_nothing_else(self):
        (role,) = [o for o in event_recorder.objects() if o["kind"] == "ClusterRole"]
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]}
        ]


class TestResultsClaim:
    """The results claim names the harness's StorageClass (which binds on first consumer)."""

    def test_names_the_harness_class(self):
        claim = event_recorder.results_claim()
        assert claim["spec"]["storageClassName"] == STORAGE_CLASS
        assert validate_object(claim, "1.30") == []

    def test_does_not_wait_for_bound(self):
        """WaitForFirstConsumer leaves the claim Pending until its pod is scheduled; the pod
        (the recorder Deployment) is created after the claim."""
        claim = event_recorder.results_claim()
        assert claim["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
