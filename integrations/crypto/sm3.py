"""SM3 (GB/T 32905-2016), the 256-bit hash, and HMAC-SM3 (RFC 2104 over SM3)."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

DIGEST_SIZE = 32


def digest(data: bytes) -> bytes:
    hasher = hashes.Hash(hashes.SM3())
    hasher.update(data)
    return hasher.finalize()


def hmac(key: bytes, data: bytes) -> bytes:
    return _hmac(key, data).finalize()


def hmac_matches(key: bytes, data: bytes, tag: bytes) -> bool:
    """Whether ``tag`` is the HMAC-SM3 of ``data`` under ``key``, compared in constant time."""
    try:
        _hmac(key, data).verify(tag)
    except InvalidSignature:
        return False
    return True


def _hmac(key: bytes, data: bytes) -> HMAC:
    mac = HMAC(key, hashes.SM3())
    mac.update(data)
    return mac
