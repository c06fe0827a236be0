"""EC2 instance facts and the EKS hourly price: the figures the plan's cost and quota rest on."""

from __future__ import annotations

import pytest

from infra.aws_instances import efa_instance_types, instance_shape, instance_table
from infra.pricing import eks_hourly, price_table
from infra.spec import load_spec
from infra.spec.common import PriceOverride
from tests.conftest import sections, to_config


def cluster(**changes):
    sec = sections("eks-6-topology")
    sec["cluster"].update(changes)
    return load_spec(to_config(sec)).cluster


class TestInstanceTable:
    """Every type the spec accepts has a shape and a price; EFA support matches AWS's list."""

    def test_every_known_type_has_a_price(self):
        priced = set(price_table()["aws"]["default"]["machines"])
        assert set(instance_table()) <= priced

    def test_seed_type_shape(self):
        shape = instance_shape("c5a.4xlarge")
        assert (shape.vcpus, shape.memory_gb, shape.efa) == (16, 32.0, False)
        assert shape.quota_name.startswith("Running On-Demand Standard")

    def test_efa_types(self):
        assert efa_instance_types() == ["c5n.18xlarge", "c5n.9xlarge", "hpc6a.48xlarge"]
        assert instance_shape("hpc6a.48xlarge").quota_name == "Running On-Demand HPC instances"

    def test_unknown_type_names_the_known_ones(self):
        with pytest.raises(ValueError, match=r"unknown EC2 instance type; known: c5\.4xlarge, "):
            instance_shape("c5a.5xlarge")


class TestEksHourly:
    """Instance + root volume per node; EKS fee + one NAT gateway for the cluster."""

    def test_seed_topology_node(self):
        p = eks_hourly(cluster(), PriceOverride())
        assert p.machine == 0.616
        assert p.boot_disk == pytest.approx(150 * 0.10 / 730)
        assert p.control_plane == pytest.approx(0.10 + 0.045)
        assert p.local_ssd == 0.0
        assert p.total == pytest.approx(0.145 + 6 * (0.616 + 150 * 0.10 / 730))

    def test_gp3_iops_above_the_free_baseline_are_billed(self):
        base = eks_hourly(cluster(boot_disk_type="gp3"), PriceOverride()).boot_disk
        more = eks_hourly(cluster(boot_disk_type="gp3", boot_disk_iops=4000), PriceOverride())
        assert more.boot_disk - base == pytest.approx(1000 * 0.005 / 730)

    def test_io1_iops_are_billed(self):
        p = eks_hourly(cluster(boot_disk_type="io1", boot_disk_iops=3000), PriceOverride())
        assert p.boot_disk == pytest.approx((150 * 0.125 + 3000 * 0.065) / 730)

    def test_overrides_win(self):
        p = eks_hourly(cluster(), PriceOverride(machine_usd_per_hour=0.5,
                                                control_plane_usd_per_hour=0.6))
        assert (p.machine, p.control_plane) == (0.5, 0.6)
