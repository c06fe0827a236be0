"""The cost model follows the dated price table; the seed study's own figures check it."""

from __future__ import annotations

import pytest

from infra.estimate import estimate
from infra.machines import gce_shape
from infra.pricing import gce_machine_price, price_table
from infra.spec import load_spec
from tests.conftest import sections, to_config


def test_machine_price_is_vcpu_plus_memory_rates():
    rates = price_table()["gcp"]["default"]["family_rates"]["c2d"]
    shape = gce_shape("c2d-standard-32")
    assert shape.vcpus == 32 and shape.memory_gb == 128
    assert gce_machine_price("c2d-standard-32", "us-central1") == pytest.approx(
        32 * rates[0] + 128 * rates[1]
    )


def test_n1_standard_16_matches_the_seed_studys_figure():
    assert gce_machine_price("n1-standard-16", "us-central1") == pytest.approx(0.76, abs=0.005)


def test_local_ssd_and_control_plane_are_included():
    base = load_spec(to_config(sections("gke-64-ghcr")))
    ssd = load_spec(to_config(sections("gke-64-localssd")))
    a, b = estimate(base).price, estimate(ssd).price
    table = price_table()
    per_disk = 375 * table["gcp"]["default"]["local_ssd_gb_month"] / table["hours_per_month"]
    assert b.local_ssd == pytest.approx(per_disk)
    assert a.local_ssd == 0
    assert a.control_plane == 0.10
    assert b.total - a.total == pytest.approx(64 * per_disk)


def test_price_override_wins():
    sec = sections("gke-64-ghcr")
    sec["prices"] = {"machine_usd_per_hour": 0.5, "control_plane_usd_per_hour": 0}
    p = estimate(load_spec(to_config(sec))).price
    assert p.machine == 0.5 and p.control_plane == 0
    assert p.total == pytest.approx(64 * (0.5 + p.boot_disk))


def test_cost_is_price_times_hours():
    est = estimate(load_spec(to_config(sections("gke-6-topology"))))
    assert est.usd == pytest.approx(est.price.total * est.hours)
    assert est.node_hours == pytest.approx(6 * est.hours)
