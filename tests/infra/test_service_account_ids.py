"""Every GSA a stack creates (results writer, guard) is named by one rule: GCP accepts account
ids of 6-30 characters, a lowercase letter first, lowercase letters, digits and hyphens, no
hyphen last (IAM API reference, projects.serviceAccounts.create: `accountId` must match
`[a-z]([-a-z0-9]*[a-z0-9])`, 6-30 characters)."""

from __future__ import annotations

import re

import pytest

from infra.clusters.gke import results_account_id, service_account_id

ACCOUNT_ID = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])")
LONG = ("gke-64-artifact-registry-nightly-a", "gke-64-artifact-registry-nightly-b")


@pytest.mark.parametrize("prefix", ["results", "guard"])
def test_long_stack_names_give_valid_distinct_ids(prefix):
    ids = [service_account_id(prefix, s) for s in LONG]
    assert [bool(ACCOUNT_ID.fullmatch(i)) and 6 <= len(i) <= 30 for i in ids] == [True, True]
    assert ids[0] != ids[1]
    assert [i.startswith(f"{prefix}-gke-64-") for i in ids] == [True, True]


def test_a_short_stack_keeps_its_name_and_the_writer_uses_the_rule():
    assert service_account_id("guard", "gke-2-smoke") == "guard-gke-2-smoke"
    assert results_account_id(LONG[0]) == service_account_id("results", LONG[0])
