"""WeChat Pay APIv3's two cryptographic schemes; a deployment uses one, chosen once.

``rsa``  ``WECHATPAY2-SHA256-RSA2048``: SHA256withRSA (PKCS#1 v1.5) signatures, resources
         sealed with AEAD_AES_256_GCM under the APIv3 key's 32 bytes.
``sm2``  ``WECHATPAY2-SM2-WITH-SM3``, the national mode (国密, "APIv3接口使用国家商用密码
         指引"): SM2 signatures with SM3 (the default user id, DER, "RS_ASN1"), resources
         sealed with AEAD_SM4_GCM under the first 16 bytes of SM3(APIv3 key).

The signed texts, headers and resource fields are the same in both; only these differ.
The merchant's private key and the platform's public key are the scheme's own (an SM2
merchant certificate and WeChat's SM2 platform key, each under its own serial number).
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from integrations.crypto import sm2, sm3, sm4
from integrations.crypto.errors import CryptoError
from integrations.payments import signing


class Scheme(Protocol):
    """Signs the merchant's requests, checks the platform's signatures, opens resources."""

    name: str
    signature_type: str  # the Authorization scheme, and the Wechatpay-Signature-Type
    resource_algorithm: str  # resource.algorithm of notifications and certificates

    def sign(self, text: bytes) -> str:
        """The merchant's signature of ``text``, in Base64."""

    def verify(self, text: bytes, signature: str) -> bool:
        """Whether ``signature`` (Base64) is the platform's signature of ``text``."""

    def open(self, sealed: bytes, *, nonce: bytes, associated_data: bytes) -> bytes:
        """The plaintext of a resource's ciphertext (tag appended); ValueError if it will
        not open."""


class RsaScheme:
    name = "rsa"
    signature_type = "WECHATPAY2-SHA256-RSA2048"
    resource_algorithm = "AEAD_AES_256_GCM"

    def __init__(self, *, private_key_pem: str, platform_public_key_pem: str, apiv3_key: str):
        try:
            self._private_key = signing.load_private_key(private_key_pem)
            self._platform_key = signing.load_public_key(platform_public_key_pem)
        except UnsupportedAlgorithm as exc:  # an SM2 key, say
            raise ValueError(f"the rsa scheme takes RSA keys: {exc}") from exc
        self._cipher = AESGCM(apiv3_key.encode("utf-8"))

    def sign(self, text: bytes) -> str:
        return _base64(self._private_key.sign(text, padding.PKCS1v15(), hashes.SHA256()))

    def verify(self, text: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
            self._platform_key.verify(raw, text, padding.PKCS1v15(), hashes.SHA256())
        except (binascii.Error, ValueError, InvalidSignature):
            return False
        return True

    def open(self, sealed: bytes, *, nonce: bytes, associated_data: bytes) -> bytes:
        try:
            return self._cipher.decrypt(nonce, sealed, associated_data)
        except InvalidTag as exc:
            raise ValueError("resource does not decrypt with the APIv3 key") from exc


class Sm2Scheme:
    name = "sm2"
    signature_type = "WECHATPAY2-SM2-WITH-SM3"
    resource_algorithm = "AEAD_SM4_GCM"

    def __init__(self, *, private_key_pem: str, platform_public_key_pem: str, apiv3_key: str):
        self._private_key = sm2.load_private_key(private_key_pem)
        self._platform_key = sm2.load_public_key(platform_public_key_pem)
        self._resource_key = sm3.digest(apiv3_key.encode("utf-8"))[: sm4.KEY_SIZE]

    def sign(self, text: bytes) -> str:
        return _base64(sm2.sign(text, self._private_key))

    def verify(self, text: bytes, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
        except binascii.Error:
            return False
        return sm2.verify(raw, text, self._platform_key)

    def open(self, sealed: bytes, *, nonce: bytes, associated_data: bytes) -> bytes:
        try:
            return sm4.gcm_open(
                self._resource_key, sealed, nonce=nonce, associated_data=associated_data
            )
        except CryptoError as exc:
            raise ValueError("resource does not decrypt with the APIv3 key's SM4 key") from exc


SCHEMES: dict[str, type[RsaScheme] | type[Sm2Scheme]] = {
    RsaScheme.name: RsaScheme,
    Sm2Scheme.name: Sm2Scheme,
}


def build_scheme(
    name: str, *, private_key_pem: str, platform_public_key_pem: str, apiv3_key: str
) -> Scheme:
    """The scheme called ``name``, with its keys loaded; ValueError for another name or a
    key that is not the scheme's."""
    kind = SCHEMES.get(name)
    if kind is None:
        raise ValueError(f"the WeChat Pay scheme must be one of {sorted(SCHEMES)}, not {name!r}")
    return kind(
        private_key_pem=private_key_pem,
        platform_public_key_pem=platform_public_key_pem,
        apiv3_key=apiv3_key,
    )


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
