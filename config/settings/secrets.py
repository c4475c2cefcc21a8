"""Reading key material from the environment; shared by the settings modules."""

from __future__ import annotations

import base64

from config.env import MissingSetting, env


def parse_keyring(spec: str) -> dict[str, bytes]:
    """``"k2:BASE64,k1:BASE64"`` -> ``{"k2": key, "k1": key}``; each key is 32 bytes."""
    keyring = {}
    for item in spec.split(","):
        key_id, _, encoded = item.strip().partition(":")
        key = base64.b64decode(encoded)
        if not key_id or len(key) != 32:
            raise ValueError("PII_KEYS entries must be KEY_ID:BASE64 of 32 bytes")
        keyring[key_id] = key
    return keyring


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
