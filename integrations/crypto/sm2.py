"""SM2 (GB/T 32918-2016) on its recommended curve sm2p256v1: keys, signatures, encryption.

A signature is SM2 with SM3 over Z || message, where Z is the SM3 hash of the signer's
user id, the curve and the public key. The user id is always the default of GM/T 0009,
1234567812345678: the underlying library supports no other, and WeChat Pay's national
mode uses it. Signatures are DER
(``SEQUENCE { r INTEGER, s INTEGER }``, "RS_ASN1"); parties that send r||s in 64 bytes
are served by ``signature_to_raw`` and ``signature_from_raw``.

Encryption is SM2 public-key encryption with SM3; its ciphertext is the ASN.1 C1C3C2 of
GM/T 0009 (WeChat Pay's C1C3C2_ASN1), and ``sm2_ciphertext`` converts it to the raw form.

Keys are read and written as PEM (PKCS#8 private, SubjectPublicKeyInfo public), and as
the hex some parties publish: the private scalar d, the public point 04||X||Y or X||Y.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from tongsuopy.backends.tongsuo.backend import backend as _tongsuo
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InvalidSignature, UnsupportedAlgorithm

from integrations.crypto.errors import CryptoError, DecryptionFailed, InvalidKey, MalformedEncoding

DEFAULT_USER_ID = b"1234567812345678"
# The order n of sm2p256v1's base point (GB/T 32918.5-2017).
ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_SCALAR_SIZE = 32
_ALGORITHM = ec.ECDSA(hashes.SM3())  # SM2 with SM3 on an SM2 key, Z included


class PublicKey:
    """An SM2 public key; read, write and use it through this module."""

    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self._key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and _point(self) == _point(other)

    def __hash__(self) -> int:
        return hash(_point(self))


class PrivateKey:
    """An SM2 private key; read, write and use it through this module."""

    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self._key = key

    def public_key(self) -> PublicKey:
        return PublicKey(self._key.public_key())


def generate_private_key() -> PrivateKey:
    return PrivateKey(ec.generate_private_key(ec.SM2()))


# Callers load per call, as with the RSA keys; a load costs about 20 µs of CPU against
# 240 µs for a signature.
@lru_cache(maxsize=16)
def load_private_key(pem: str) -> PrivateKey:
    """A private key from PEM: PKCS#8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE KEY")."""
    try:
        return PrivateKey(serialization.load_pem_private_key(pem.encode(), password=None))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"not an unencrypted SM2 private key in PEM: {exc}") from exc


@lru_cache(maxsize=16)
def load_public_key(pem: str) -> PublicKey:
    """A public key from PEM (SubjectPublicKeyInfo, "PUBLIC KEY")."""
    try:
        return PublicKey(serialization.load_pem_public_key(pem.encode()))
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidKey(f"not an SM2 public key in PEM: {exc}") from exc


def private_key_from_hex(scalar: str) -> PrivateKey:
    """A private key from its scalar d in hex (64 digits)."""
    value = _hex(scalar, {2 * _SCALAR_SIZE})
    d = int.from_bytes(value, "big")
    if not 0 < d < ORDER - 1:
        raise InvalidKey("an SM2 private scalar lies in [1, n - 2]")
    return PrivateKey(ec.derive_private_key(d, ec.SM2()))


def public_key_from_hex(point: str) -> PublicKey:
    """A public key from its point in hex: 04||X||Y (130 digits) or X||Y (128 digits)."""
    value = _hex(point, {4 * _SCALAR_SIZE, 4 * _SCALAR_SIZE + 2})
    if len(value) == 2 * _SCALAR_SIZE:
        value = b"\x04" + value
    try:
        return PublicKey(ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), value))
    except ValueError as exc:
        raise InvalidKey("the point is not uncompressed, or not on the SM2 curve") from exc


def private_key_pem(key: PrivateKey) -> str:
    """PKCS#8 PEM, unencrypted."""
    return key._key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key: PublicKey) -> str:
    return key._key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_hex(key: PublicKey) -> str:
    """The point as 04||X||Y in lower-case hex (130 digits)."""
    x, y = _point(key)
    return "04" + x.to_bytes(_SCALAR_SIZE, "big").hex() + y.to_bytes(_SCALAR_SIZE, "big").hex()


def sign(message: bytes, key: PrivateKey) -> bytes:
    """The DER signature of ``message`` (SM2 with SM3, default user id)."""
    return key._key.sign(message, _ALGORITHM)


def verify(signature: bytes, message: bytes, key: PublicKey) -> bool:
    """Whether ``signature`` (DER) is the holder of ``key``'s signature of ``message``."""
    # The library raises an internal error, not InvalidSignature, on DER it cannot read.
    try:
        _signature_numbers(signature)
        key._key.verify(signature, message, _ALGORITHM)
    except (MalformedEncoding, InvalidSignature):
        return False
    return True


def signature_to_raw(signature: bytes) -> bytes:
    """r||s, 32 bytes each, of a DER signature."""
    r, s = _signature_numbers(signature)
    return r.to_bytes(_SCALAR_SIZE, "big") + s.to_bytes(_SCALAR_SIZE, "big")


def signature_from_raw(signature: bytes) -> bytes:
    """The DER form of an r||s signature of 64 bytes."""
    if len(signature) != 2 * _SCALAR_SIZE:
        raise MalformedEncoding(f"a raw SM2 signature is 64 bytes, not {len(signature)}")
    r = int.from_bytes(signature[:_SCALAR_SIZE], "big")
    s = int.from_bytes(signature[_SCALAR_SIZE:], "big")
    return encode_dss_signature(r, s)


def encrypt(plaintext: bytes, key: PublicKey) -> bytes:
    """The DER (C1C3C2 ASN.1) ciphertext of ``plaintext`` for the holder of ``key``."""
    if not plaintext:
        raise CryptoError("SM2 cannot encrypt an empty message")
    # C1's coordinates and C3 take 96 bytes, and the DER around them and C2 under 32.
    return _evp_pkey_crypt(
        key,
        plaintext,
        capacity=len(plaintext) + 128,
        encrypting=True,
        error=CryptoError("SM2 encryption failed"),
    )


def decrypt(ciphertext: bytes, key: PrivateKey) -> bytes:
    """The plaintext of a DER (C1C3C2 ASN.1) ciphertext; DecryptionFailed if it is not
    for ``key``, or was altered (its SM3 hash C3 does not match)."""
    # The plaintext is shorter than the ciphertext that holds it: no size query, which
    # OpenSSL before 1.1.1l got wrong (CVE-2021-3711).
    return _evp_pkey_crypt(
        key,
        ciphertext,
        capacity=max(len(ciphertext), 1),
        encrypting=False,
        error=DecryptionFailed("the SM2 ciphertext does not open: wrong key, altered or malformed"),
    )


def _evp_pkey_crypt(
    key: PublicKey | PrivateKey,
    data: bytes,
    *,
    capacity: int,
    encrypting: bool,
    error: CryptoError,
) -> bytes:
    """One EVP_PKEY_encrypt or EVP_PKEY_decrypt into a buffer of ``capacity`` bytes.

    tongsuopy offers SM2 encryption only through its OpenSSL binding: these are the
    EVP_PKEY calls of its own signatures, on the same key object. The tests pin them to
    the standard's example.
    """
    lib, ffi = _tongsuo._lib, _tongsuo._ffi
    init, crypt = (
        (lib.EVP_PKEY_encrypt_init, lib.EVP_PKEY_encrypt)
        if encrypting
        else (lib.EVP_PKEY_decrypt_init, lib.EVP_PKEY_decrypt)
    )
    context = lib.EVP_PKEY_CTX_new(key._key._evp_pkey, ffi.NULL)
    _tongsuo.openssl_assert(context != ffi.NULL)
    context = ffi.gc(context, lib.EVP_PKEY_CTX_free)
    size = ffi.new("size_t *", capacity)
    out = ffi.new("unsigned char[]", capacity)
    if init(context) != 1 or crypt(context, out, size, data, len(data)) != 1:
        _tongsuo._consume_errors()
        raise error
    return ffi.buffer(out, size[0])[:]


def _signature_numbers(signature: bytes) -> tuple[int, int]:
    try:
        r, s = decode_dss_signature(signature)
    except ValueError as exc:
        raise MalformedEncoding("not a DER SM2 signature") from exc
    if not (0 < r < ORDER and 0 < s < ORDER):
        raise MalformedEncoding("an SM2 signature's r and s lie in [1, n - 1]")
    return r, s


def _point(key: PublicKey) -> tuple[int, int]:
    numbers = key._key.public_numbers()
    return numbers.x, numbers.y


def _hex(text: str, lengths: set[int]) -> bytes:
    if len(text) not in lengths:
        raise InvalidKey(f"a key in hex of {len(text)} digits, not {sorted(lengths)}")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise InvalidKey("a key in hex with a character that is not a hex digit") from exc
