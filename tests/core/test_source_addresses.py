"""An outside party's callbacks are taken from its configured networks only, if it has any."""

from __future__ import annotations

import pytest

from core.source_addresses import source_allowed

NETWORKS = ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]


@pytest.mark.parametrize("address", ["203.0.113.9", "2001:db8::1", "198.51.100.7"])
def test_an_address_in_one_of_the_networks_is_allowed(address):
    assert source_allowed(address, NETWORKS)


@pytest.mark.parametrize("address", ["198.51.100.8", "2001:db9::1", "", "not an address", "::1"])
def test_any_other_address_or_none_is_refused(address):
    assert not source_allowed(address, NETWORKS)


@pytest.mark.parametrize("address", ["198.51.100.8", ""])
def test_without_networks_every_caller_is_allowed(address):
    assert source_allowed(address, [])
