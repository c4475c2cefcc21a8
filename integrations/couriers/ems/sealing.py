"""EMS's message protection: ``|$4|`` + Base64 of the SM4-ECB (PKCS#7) ciphertext.

The key EMS issues with a sender number (签名钥匙) is 16 random bytes in Base64; SM4 is
keyed with the decoded bytes. A request seals its message followed by that Base64 text,
which the platform checks once it has opened it; a push seals the trace alone. ECB
authenticates nothing: see docs/ems.md for what stands in for it.
"""

from __future__ import annotations

import base64
import binascii

from integrations.crypto import sm4
from integrations.crypto.errors import CryptoError, InvalidKey

PREFIX = "|$4|"


def sm4_key(sign_key: str) -> bytes:
    """The SM4 key of EMS's Base64 sign key; InvalidKey unless it decodes to 16 bytes."""
    try:
        key = base64.b64decode(sign_key, validate=True)
    except binascii.Error as exc:
        raise InvalidKey("the EMS sign key is not Base64") from exc
    if len(key) != sm4.KEY_SIZE:
        raise InvalidKey(f"the EMS sign key is {len(key)} bytes, not {sm4.KEY_SIZE}")
    return key


def seal(text: str, key: bytes) -> str:
    return PREFIX + base64.b64encode(sm4.ecb_encrypt(key, text.encode("utf-8"))).decode()


def unseal(sealed: str, key: bytes) -> str:
    """The text of ``seal``'s output; CryptoError for anything that does not open."""
    if not sealed.startswith(PREFIX):
        raise CryptoError(f"the message does not start with {PREFIX}")
    try:
        ciphertext = base64.b64decode(sealed.removeprefix(PREFIX), validate=True)
        return sm4.ecb_decrypt(key, ciphertext).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise CryptoError("the message is not Base64 of UTF-8 text under SM4") from exc
