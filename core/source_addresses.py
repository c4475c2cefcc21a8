"""Whether a caller's address is one an outside party posts from (its CIDRs, as configured)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable


def source_allowed(source_ip: str, allowed: Iterable[str]) -> bool:
    """True when ``source_ip`` is in one of the ``allowed`` networks, or none is configured;
    an address that is not one (empty, malformed) is never allowed by a list."""
    networks = list(allowed)
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
