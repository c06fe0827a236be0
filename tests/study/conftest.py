"""Fixtures shared by this directory's tests: a real OCI registry on loopback (tests/oci_registry)."""

from tests.oci_registry import auth_registry, registry, registry_b  # noqa: F401
