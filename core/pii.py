"""Personal data at rest: AES-256-GCM with a key id, and keyed hashes for exact lookup.

Ciphertexts look like ``v1.<key id>.<base64(nonce || ciphertext || tag)>`` so keys can
rotate: new values use the active key, old values stay readable while their key is kept.
The column name is bound in as associated data, so a value copied into another column
does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings


class PiiError(ValueError):
    pass


def encrypt(plaintext: str, *, column: str) -> str:
    key_id = settings.PII_ACTIVE_KEY_ID
    nonce = os.urandom(12)
    sealed = AESGCM(settings.PII_KEYS[key_id]).encrypt(nonce, plaintext.encode(), column.encode())
    return f"v1.{key_id}.{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, column: str) -> str:
    try:
        version, key_id, payload = token.split(".", 2)
        raw = base64.b64decode(payload)
        key = settings.PII_KEYS[key_id]
    except (ValueError, KeyError) as exc:
        raise PiiError("unreadable ciphertext or unknown key id") from exc
    if version != "v1":
        raise PiiError(f"unknown ciphertext version {version}")
    return AESGCM(key).decrypt(raw[:12], raw[12:], column.encode()).decode()


def blind_index(value: str, *, purpose: str) -> str:
    """A keyed hash that finds a row by exact value without decrypting every row."""
    message = f"{purpose}:{value}".encode()
    return hmac.new(settings.PII_HASH_KEY, message, hashlib.sha256).hexdigest()


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
