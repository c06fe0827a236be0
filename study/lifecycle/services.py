"""The real wiring for the CLI: Pulumi, the clouds' SDKs, the kubernetes client, the wall clock.

Tests never call this; they build `Services` from `tests/doubles/lifecycle.py`. The inventory
dispatches on the stack's cloud so one `Services` serves `study janitor` across GKE and EKS stacks.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from study.lifecycle.interfaces import CloudResource, QuotaReading
from study.lifecycle.run import Services


class CloudDispatch:
    """`CloudInventory` choosing the GCP or AWS implementation by `spec.cluster.cloud`."""

    def __init__(self) -> None:
        self._impl: dict[str, object] = {}

    def _for(self, spec):
        cloud = spec.cluster.cloud
        if cloud not in self._impl:
            if cloud == "gke":
                from study.lifecycle.gcp_inventory import GcpInventory

                self._impl[cloud] = GcpInventory()
            else:
                from study.lifecycle.aws_inventory import AwsInventory

                self._impl[cloud] = AwsInventory()
        return self._impl[cloud]

    def quota(self, spec) -> QuotaReading:
        return self._for(spec).quota(spec)  # type: ignore[attr-defined]

    def labelled(self, spec, stack: str) -> list[CloudResource]:
        return self._for(spec).labelled(spec, stack)  # type: ignore[attr-defined]

    def expiring_stacks(self, spec_hint=None) -> dict[str, datetime]:
        if spec_hint is None:
            return {}
        return self._for(spec_hint).expiring_stacks(spec_hint)  # type: ignore[attr-defined]


def results_root() -> Path:
    from core.stacks import project_dir

    return project_dir() / "results"


def real_services(progress=None) -> Services:
    """The real wiring, after checking what every lifecycle command needs (the pulumi CLI, the
    passphrase): one line and one exit code for all of them, before anything is read or touched."""
    from study.lifecycle.k8s_reader import reader_from_outputs
    from study.lifecycle.progress import default_progress
    from study.lifecycle.pulumi_backend import PulumiBackend
    from study.lifecycle.system import AtomicWriter, ProcessSignals, SystemClock

    backend = PulumiBackend()
    backend.check()
    return Services(
        backend=backend,
        inventory=CloudDispatch(),
        reader_factory=reader_from_outputs,
        clock=SystemClock(),
        signals=ProcessSignals(),
        writer=AtomicWriter(),
        progress=progress or default_progress(),
        results_root=results_root(),
        results_store=_results_store,
    )


def _results_store(spec):
    from study.lifecycle.object_store import store_for

    return store_for(spec)
