"""Reading key material from the environment; shared by the settings modules."""

from __future__ import annotations

import base64
from typing import NamedTuple

from config.env import MissingSetting, env

# The ciphers personal data can be sealed with (core/pii.py), and their key sizes.
PII_CIPHER_KEY_SIZES = {"aes256gcm": 32, "sm4gcm": 16}
# The keyed hashes a blind index can be (core/pii.py).
PII_INDEX_ALGORITHMS = ("hmac-sha256", "hmac-sm3")


class SealingKey(NamedTuple):
    algorithm: str
    secret: bytes


def parse_keyring(spec: str) -> dict[str, SealingKey]:
    """``"k2:sm4gcm:BASE64,k1:BASE64"`` -> ``{"k2": ("sm4gcm", key), "k1": ("aes256gcm", key)}``.

    Each item is ``KEY_ID:ALGORITHM:BASE64``; ``KEY_ID:BASE64``, the form from before SM4
    was offered, is an AES-256-GCM key.
    """
    keyring = {}
    for item in spec.split(","):
        parts = item.strip().split(":")
        if len(parts) == 2:
            parts.insert(1, "aes256gcm")
        if len(parts) != 3 or parts[1] not in PII_CIPHER_KEY_SIZES:
            raise ValueError(
                f"PII_KEYS entries must be KEY_ID:ALGORITHM:BASE64, the algorithm one of "
                f"{', '.join(PII_CIPHER_KEY_SIZES)}"
            )
        key_id, algorithm, encoded = parts
        size = PII_CIPHER_KEY_SIZES[algorithm]
        key = base64.b64decode(encoded)
        # A sealed value is "SCHEME.KEY_ID.PAYLOAD": a dot in the id would make it unreadable.
        if not key_id or "." in key_id or len(key) != size:
            raise ValueError(
                f"PII_KEYS entries must be KEY_ID:{algorithm}:BASE64 of {size} bytes, "
                "the key id without a dot"
            )
        keyring[key_id] = SealingKey(algorithm, key)
    return keyring


def parse_index_algorithms(spec: str) -> list[str]:
    """``"hmac-sm3,hmac-sha256"``: the first computes new blind indexes, lookups try each."""
    algorithms = [item.strip() for item in spec.split(",") if item.strip()]
    unknown = set(algorithms) - set(PII_INDEX_ALGORITHMS)
    if not algorithms or unknown:
        raise ValueError(
            f"PII_HASH_ALGORITHMS must list some of {', '.join(PII_INDEX_ALGORITHMS)}, not {spec!r}"
        )
    return algorithms


def pem_from_env(name: str) -> str | None:
    """A PEM given inline, or as a path with the ``_FILE`` suffix variable."""
    inline = env(name)
    if inline:
        return inline.replace("\\n", "\n")
    path = env(f"{name}_FILE")
    if path:
        with open(path) as handle:
            return handle.read()
    return None


def pem_required(name: str) -> str:
    """A PEM that must be given, inline or as a ``_FILE`` path."""
    pem = pem_from_env(name)
    if pem is None:
        raise MissingSetting(f"environment variable {name} must be set (or {name}_FILE, its path)")
    return pem
