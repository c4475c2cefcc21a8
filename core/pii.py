"""Personal data at rest: sealed under a key id, and keyed hashes for exact lookup.

A sealed value is ``<scheme>.<key id>.<base64(nonce || ciphertext || tag)>``: the scheme
``v1`` is AES-256-GCM (the only one before SM4 was offered, so values written then read
unchanged), ``sm4gcm`` is SM4-GCM. ``PII_KEYS`` declares each key's algorithm; new values
use ``PII_ACTIVE_KEY_ID``, and any value opens while its key is kept, so keys rotate and
the ring can move from one algorithm to the other (``manage.py reseal_personal_data``).
The column name is bound in as associated data, so a value copied into another column
does not open.

A blind index is a keyed hash of the value: HMAC-SHA256 or HMAC-SM3 under
``PII_HASH_KEY``. ``PII_HASH_ALGORITHMS`` lists the first for new indexes and every one a
lookup must match while rows are moved from one to the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from integrations.crypto import sm3, sm4

NONCE_SIZE = 12


class PiiError(ValueError):
    """A sealed value that cannot be opened: unreadable, of a key not in the ring, or one
    that does not open under its key (wrong key, wrong column, altered)."""


@dataclass(frozen=True)
class _Cipher:
    scheme: str  # the first field of a value it sealed
    seal: Callable[[bytes, bytes, bytes, bytes], bytes]  # key, nonce, plaintext, column
    open: Callable[[bytes, bytes, bytes, bytes], bytes]  # key, nonce, sealed, column


_CIPHERS = {
    "aes256gcm": _Cipher(
        scheme="v1",
        seal=lambda key, nonce, data, column: AESGCM(key).encrypt(nonce, data, column),
        open=lambda key, nonce, data, column: AESGCM(key).decrypt(nonce, data, column),
    ),
    "sm4gcm": _Cipher(
        scheme="sm4gcm",
        seal=lambda key, nonce, data, column: sm4.gcm_seal(
            key, data, nonce=nonce, associated_data=column
        ),
        open=lambda key, nonce, data, column: sm4.gcm_open(
            key, data, nonce=nonce, associated_data=column
        ),
    ),
}
_ALGORITHM_OF_SCHEME = {cipher.scheme: algorithm for algorithm, cipher in _CIPHERS.items()}

_INDEX_HASHES: dict[str, Callable[[bytes, bytes], bytes]] = {
    "hmac-sha256": lambda key, message: hmac.digest(key, message, hashlib.sha256),
    "hmac-sm3": sm3.hmac,
}


def encrypt(plaintext: str, *, column: str) -> str:
    key_id = settings.PII_ACTIVE_KEY_ID
    algorithm, key = settings.PII_KEYS[key_id]
    cipher = _CIPHERS[algorithm]
    nonce = os.urandom(NONCE_SIZE)
    sealed = cipher.seal(key, nonce, plaintext.encode(), column.encode())
    return f"{cipher.scheme}.{key_id}.{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, column: str) -> str:
    try:
        scheme, key_id, payload = token.split(".", 2)
        raw = base64.b64decode(payload, validate=True)
    except ValueError as exc:
        raise PiiError("unreadable sealed value") from exc
    if scheme not in _ALGORITHM_OF_SCHEME:
        raise PiiError(f"unknown sealed-value scheme {scheme!r}")
    if key_id not in settings.PII_KEYS:
        raise PiiError(f"key id {key_id!r} is not in PII_KEYS")
    algorithm, key = settings.PII_KEYS[key_id]
    if algorithm != _ALGORITHM_OF_SCHEME[scheme]:
        raise PiiError(
            f"key {key_id!r} is declared {algorithm} in PII_KEYS, "
            f"but the value was sealed with {_ALGORITHM_OF_SCHEME[scheme]}"
        )
    try:
        opened = _CIPHERS[algorithm].open(key, raw[:NONCE_SIZE], raw[NONCE_SIZE:], column.encode())
    except (InvalidTag, ValueError) as exc:  # the SM4 module's errors are ValueErrors
        raise PiiError(
            f"the value does not open under key {key_id!r} ({algorithm}) for {column}: "
            "a wrong key, another column's value, or altered"
        ) from exc
    return opened.decode()


def sealed_with_active_key(token: str) -> bool:
    """Whether ``encrypt`` would seal this value under the same key today."""
    return token.split(".", 2)[1:2] == [settings.PII_ACTIVE_KEY_ID]


def blind_index(value: str, *, purpose: str) -> str:
    """A keyed hash that finds a row by exact value without decrypting every row."""
    return _index(settings.PII_HASH_ALGORITHMS[0], value, purpose)


def blind_indexes(value: str, *, purpose: str) -> list[str]:
    """What a lookup matches: the value's index under each algorithm in use, the one new
    rows get first."""
    return [_index(algorithm, value, purpose) for algorithm in settings.PII_HASH_ALGORITHMS]


def _index(algorithm: str, value: str, purpose: str) -> str:
    return _INDEX_HASHES[algorithm](settings.PII_HASH_KEY, f"{purpose}:{value}".encode()).hex()


def mask_id_number(value: str) -> str:
    """``110101199003071234`` -> ``1101**********1234``."""
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """``张三`` -> ``张*``, ``欧阳小明`` -> ``欧***``: the surname's first character only."""
    return value[:1] + "*" * (len(value) - 1)
