"""Signatures over canonical JSON, as the unified public payment platform uses them.

The signed text of a message is its JSON object without the ``sign`` field, serialised
with sorted keys (at every depth), no whitespace and unescaped UTF-8. The message's
top-level ``sign_type`` (itself signed) names the scheme, and ``sign`` carries the Base64
of the signature:

    RSA2   SHA256withRSA (PKCS#1 v1.5)
    SM2    SM2 with SM3 and the default user id, the signature in DER

A party signs in one scheme, chosen once: a ``Signer`` holds its private key and its
peer's public key in that scheme, and refuses a peer's message that declares another.
The RSA key loaders and ``loads_object`` serve the other channels' adapters too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from integrations.crypto import sm2

SIGN_TYPE = "RSA2"  # the scheme of the module's functions when none is given


class MalformedJson(ValueError):
    """Bytes that are not one JSON object in the protocol's strict subset."""


# Loading checks the whole RSA key (tens of milliseconds), and callers load per call.
@lru_cache(maxsize=16)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    return key


@lru_cache(maxsize=16)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA key")
    return key


def _rsa2_sign(text: bytes, key: rsa.RSAPrivateKey) -> bytes:
    return key.sign(text, padding.PKCS1v15(), hashes.SHA256())


def _rsa2_verify(signature: bytes, text: bytes, key: rsa.RSAPublicKey) -> bool:
    try:
        key.verify(signature, text, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class Scheme:
    """A signature scheme: its ``sign_type``, how its PEM keys load, how it signs bytes."""

    sign_type: str
    load_private_key: Callable[[str], Any]
    load_public_key: Callable[[str], Any]
    sign_bytes: Callable[[bytes, Any], bytes]  # (text, private key) -> signature
    verify_bytes: Callable[[bytes, bytes, Any], bool]  # (signature, text, public key)


RSA2 = Scheme(SIGN_TYPE, load_private_key, load_public_key, _rsa2_sign, _rsa2_verify)
SM2 = Scheme("SM2", sm2.load_private_key, sm2.load_public_key, sm2.sign, sm2.verify)
SCHEMES = {scheme.sign_type: scheme for scheme in (RSA2, SM2)}


def canonical_bytes(message: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed: the message minus ``sign``, in canonical JSON."""
    unsigned = {key: value for key, value in message.items() if key != "sign"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sign(message: Mapping[str, Any], private_key: Any, scheme: Scheme = RSA2) -> str:
    return base64.b64encode(scheme.sign_bytes(canonical_bytes(message), private_key)).decode()


def signed(message: Mapping[str, Any], private_key: Any, scheme: Scheme = RSA2) -> dict[str, Any]:
    """A copy of ``message`` with ``sign_type`` (which is itself signed) and ``sign`` added."""
    with_type = {**message, "sign_type": scheme.sign_type}
    return {**with_type, "sign": sign(with_type, private_key, scheme)}


def verify(message: Mapping[str, Any], public_key: Any, scheme: Scheme = RSA2) -> bool:
    """Whether ``message`` declares ``scheme`` and carries a valid signature in it by the
    holder of ``public_key``."""
    signature = message.get("sign")
    if message.get("sign_type") != scheme.sign_type or not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except binascii.Error:
        return False
    return scheme.verify_bytes(raw, canonical_bytes(message), public_key)


@dataclass(frozen=True)
class Signer:
    """One party's side of a signed exchange: its private key and its peer's public key,
    both in the one scheme the two agreed on."""

    scheme: Scheme
    private_key: Any
    peer_public_key: Any

    @classmethod
    def from_pems(cls, sign_type: str, *, private_key_pem: str, peer_public_key_pem: str) -> Signer:
        """The signer of ``sign_type`` ("RSA2" or "SM2"), its keys loaded and checked;
        raises for another type, or for a key that is not of the scheme's algorithm."""
        scheme = SCHEMES.get(sign_type)
        if scheme is None:
            raise ValueError(f"sign_type {sign_type!r} is not one of {', '.join(SCHEMES)}")
        return cls(
            scheme,
            scheme.load_private_key(private_key_pem),
            scheme.load_public_key(peer_public_key_pem),
        )

    @property
    def sign_type(self) -> str:
        return self.scheme.sign_type

    def signed(self, message: Mapping[str, Any]) -> dict[str, Any]:
        return signed(message, self.private_key, self.scheme)

    def refusal(self, message: Mapping[str, Any]) -> str | None:
        """Why the peer's ``message`` must not be trusted, or None when it verifies.

        A message that declares another ``sign_type`` is refused before its signature is
        looked at: the peer cannot be talked down to a scheme this party did not choose.
        """
        declared = message.get("sign_type")
        if declared is not None and declared != self.sign_type:
            return f"sign_type {declared!r} is not the configured {self.sign_type}"
        if not verify(message, self.peer_public_key, self.scheme):
            return "signature does not verify"
        return None


def loads_object(body: bytes | str) -> dict[str, Any]:
    """Parse one JSON object, refusing what canonical JSON cannot reproduce faithfully.

    Floats, NaN/Infinity and repeated keys are refused: the protocol has none, and each
    would let the signed text and the parsed values disagree.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        parsed = json.loads(
            text,
            parse_float=_refuse_float,
            parse_constant=_refuse_float,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise MalformedJson("the JSON document is not an object")
    return parsed


def _refuse_float(text: str) -> Any:
    raise MalformedJson(f"non-integer number {text!r}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedJson("a JSON object repeats a key")
    return result
