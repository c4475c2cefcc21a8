"""WeChat Pay's two ways of signing and sealing, as the platform side uses them.

``RSA``: SHA256withRSA (PKCS#1 v1.5) under ``WECHATPAY2-SHA256-RSA2048``, resources sealed
with AES-256-GCM under the APIv3 key's UTF-8 bytes (AEAD_AES_256_GCM). ``SM2``, the
national mode of "APIv3接口使用国家商用密码指引": SM2 with SM3 (the standard's default user
id 1234567812345678, the signature in DER) under ``WECHATPAY2-SM2-WITH-SM3``, resources
sealed with SM4-GCM under the first 16 bytes of SM3(APIv3 key) (AEAD_SM4_GCM). Both write
signatures and ciphertexts (with the 16-byte tag appended) in Base64.

Keys are PEM texts of the scheme's algorithm. SM2 is ``tongsuopy``'s, SM3 and SM4 are
``cryptography``'s: the sandbox shares no code with the adapter it is tested against.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, CipherAlgorithm, algorithms, modes
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature as SM2InvalidSignature
from tongsuopy.crypto.exceptions import UnsupportedAlgorithm as SM2UnsupportedAlgorithm

from sandboxes import keys

TAG_SIZE = 16
# What the libraries raise for a signature that is not the key holder's, is not Base64 or
# DER, or is checked with a key of another algorithm.
_NOT_VERIFIED = (
    binascii.Error,
    ValueError,
    InvalidSignature,
    SM2InvalidSignature,
    UnsupportedAlgorithm,
    SM2UnsupportedAlgorithm,
)


@dataclass(frozen=True)
class Scheme:
    name: str  # as SANDBOX_WECHATPAY's merchants name it: "rsa" or "sm2"
    signature_type: str  # the Authorization scheme, and the Wechatpay-Signature-Type
    resource_algorithm: str
    _sign: Callable[[bytes, str], bytes]  # (message, private key PEM) -> signature
    _verify: Callable[[bytes, bytes, str], None]  # (signature, message, public key PEM)
    _resource_cipher: Callable[[str], CipherAlgorithm]  # of an APIv3 key

    def sign(self, message: bytes, private_key_pem: str) -> str:
        return base64.b64encode(self._sign(message, private_key_pem)).decode("ascii")

    def verify(self, message: bytes, signature: str, public_key_pem: str) -> bool:
        """Whether ``signature`` (Base64) is the key holder's signature of ``message``."""
        try:
            self._verify(base64.b64decode(signature, validate=True), message, public_key_pem)
        except _NOT_VERIFIED:
            return False
        return True

    def seal(self, apiv3_key: str, plaintext: bytes, *, nonce: str, associated_data: str) -> str:
        """Base64 of the GCM ciphertext with its tag appended; the nonce and associated
        data are the UTF-8 bytes of the texts."""
        mode = modes.GCM(nonce.encode("utf-8"))
        encryptor = Cipher(self._resource_cipher(apiv3_key), mode).encryptor()
        encryptor.authenticate_additional_data(associated_data.encode("utf-8"))
        sealed = encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag
        return base64.b64encode(sealed).decode("ascii")

    def open(self, apiv3_key: str, ciphertext: str, *, nonce: str, associated_data: str) -> bytes:
        """The plaintext of ``seal``'s output; raises ValueError when it will not open."""
        try:
            sealed = base64.b64decode(ciphertext, validate=True)
            mode = modes.GCM(nonce.encode("utf-8"), sealed[-TAG_SIZE:])
            decryptor = Cipher(self._resource_cipher(apiv3_key), mode).decryptor()
            decryptor.authenticate_additional_data(associated_data.encode("utf-8"))
            return decryptor.update(sealed[:-TAG_SIZE]) + decryptor.finalize()
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise ValueError("the resource does not open with this key") from exc


def _rsa_sign(message: bytes, private_key_pem: str) -> bytes:
    return keys.load_private_key(private_key_pem).sign(message, padding.PKCS1v15(), hashes.SHA256())


def _rsa_verify(signature: bytes, message: bytes, public_key_pem: str) -> None:
    keys.load_public_key(public_key_pem).verify(
        signature, message, padding.PKCS1v15(), hashes.SHA256()
    )


# tongsuopy signs SM3(Z || message) with an SM2 key and this algorithm, Z by the default id.
_SM2_WITH_SM3 = ec.ECDSA(sm_hashes.SM3())


@lru_cache(maxsize=32)
def _sm2_private_key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = sm_serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SM2):
        raise ValueError("the private key is not an SM2 key")
    return key


@lru_cache(maxsize=32)
def _sm2_public_key(pem: str) -> ec.EllipticCurvePublicKey:
    key = sm_serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SM2):
        raise ValueError("the public key is not an SM2 key")
    return key


def _sm2_sign(message: bytes, private_key_pem: str) -> bytes:
    return _sm2_private_key(private_key_pem).sign(message, _SM2_WITH_SM3)


def _sm2_verify(signature: bytes, message: bytes, public_key_pem: str) -> None:
    # tongsuopy fails with an internal error, not InvalidSignature, on DER it cannot read.
    decode_dss_signature(signature)
    _sm2_public_key(public_key_pem).verify(signature, message, _SM2_WITH_SM3)


def _aes_key(apiv3_key: str) -> CipherAlgorithm:
    return algorithms.AES(apiv3_key.encode("utf-8"))


def _sm4_key(apiv3_key: str) -> CipherAlgorithm:
    digest = hashes.Hash(hashes.SM3())
    digest.update(apiv3_key.encode("utf-8"))
    return algorithms.SM4(digest.finalize()[:16])


RSA = Scheme(
    "rsa", "WECHATPAY2-SHA256-RSA2048", "AEAD_AES_256_GCM", _rsa_sign, _rsa_verify, _aes_key
)
SM2 = Scheme("sm2", "WECHATPAY2-SM2-WITH-SM3", "AEAD_SM4_GCM", _sm2_sign, _sm2_verify, _sm4_key)
SCHEMES = {scheme.name: scheme for scheme in (RSA, SM2)}
BY_SIGNATURE_TYPE = {scheme.signature_type: scheme for scheme in (RSA, SM2)}
