"""SM4 (GB/T 32907-2016), the 128-bit block cipher, in the modes the parties use.

GCM is AEAD_SM4_GCM of RFC 8998: a 12-byte nonce, the 16-byte tag appended to the
ciphertext, and associated data that is authenticated but not encrypted. A nonce must
never be used twice with one key; ``new_nonce`` draws a random one.

CBC pads with PKCS#7. With an ``iv`` given, the result is the ciphertext alone (the parties
agree on the IV elsewhere); without one, a random IV is drawn and written before the
ciphertext, and decryption reads it from there. CBC authenticates nothing: a wrong key or
an altered ciphertext shows only when the padding comes out wrong, and not always then.

ECB pads with PKCS#7 too, and only because a party specifies it (EMS's messages): equal
blocks encrypt to equal blocks, so it hides less than CBC, and it authenticates nothing.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from integrations.crypto.errors import CryptoError, DecryptionFailed, InvalidKey

KEY_SIZE = 16
BLOCK_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16


def new_nonce() -> bytes:
    return os.urandom(NONCE_SIZE)


def gcm_seal(key: bytes, plaintext: bytes, *, nonce: bytes, associated_data: bytes = b"") -> bytes:
    """The ciphertext of ``plaintext`` followed by its 16-byte tag."""
    if len(nonce) != NONCE_SIZE:
        raise CryptoError(f"an SM4-GCM nonce is {NONCE_SIZE} bytes, not {len(nonce)}")
    encryptor = Cipher(algorithms.SM4(_checked(key)), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated_data)
    return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag


def gcm_open(key: bytes, sealed: bytes, *, nonce: bytes, associated_data: bytes = b"") -> bytes:
    """The plaintext of ``gcm_seal``'s output; DecryptionFailed unless the tag matches."""
    if len(nonce) != NONCE_SIZE or len(sealed) < TAG_SIZE:
        raise DecryptionFailed("the nonce or the sealed text is too short for SM4-GCM")
    ciphertext, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
    decryptor = Cipher(algorithms.SM4(_checked(key)), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(associated_data)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag as exc:
        raise DecryptionFailed("the SM4-GCM tag does not match: wrong key or altered") from exc


def cbc_encrypt(key: bytes, plaintext: bytes, *, iv: bytes | None = None) -> bytes:
    """The padded ciphertext; with no ``iv``, a random IV before it."""
    prefix = b""
    if iv is None:
        iv = prefix = os.urandom(BLOCK_SIZE)
    elif len(iv) != BLOCK_SIZE:
        raise CryptoError(f"an SM4-CBC IV is {BLOCK_SIZE} bytes, not {len(iv)}")
    encryptor = Cipher(algorithms.SM4(_checked(key)), modes.CBC(iv)).encryptor()
    return prefix + encryptor.update(_padded(plaintext)) + encryptor.finalize()


def cbc_decrypt(key: bytes, ciphertext: bytes, *, iv: bytes | None = None) -> bytes:
    """The plaintext of ``cbc_encrypt``'s output, given the same ``iv`` (or none)."""
    if iv is None:
        iv, ciphertext = ciphertext[:BLOCK_SIZE], ciphertext[BLOCK_SIZE:]
    if len(iv) != BLOCK_SIZE or not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise DecryptionFailed("not an SM4-CBC ciphertext: no IV or not whole blocks")
    decryptor = Cipher(algorithms.SM4(_checked(key)), modes.CBC(iv)).decryptor()
    return _unpadded(decryptor.update(ciphertext) + decryptor.finalize(), "CBC")


def ecb_encrypt(key: bytes, plaintext: bytes) -> bytes:
    """The PKCS#7-padded plaintext, each block encrypted on its own."""
    encryptor = Cipher(algorithms.SM4(_checked(key)), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(_padded(plaintext)) + encryptor.finalize()


def ecb_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """The plaintext of ``ecb_encrypt``'s output; DecryptionFailed if it does not unpad."""
    if not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise DecryptionFailed("not an SM4-ECB ciphertext: not whole blocks")
    decryptor = Cipher(algorithms.SM4(_checked(key)), modes.ECB()).decryptor()  # noqa: S305
    return _unpadded(decryptor.update(ciphertext) + decryptor.finalize(), "ECB")


def _padded(plaintext: bytes) -> bytes:
    padder = padding.PKCS7(BLOCK_SIZE * 8).padder()
    return padder.update(plaintext) + padder.finalize()


def _unpadded(padded: bytes, mode: str) -> bytes:
    unpadder = padding.PKCS7(BLOCK_SIZE * 8).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise DecryptionFailed(f"the SM4-{mode} padding is wrong: wrong key or altered") from exc


def _checked(key: bytes) -> bytes:
    if len(key) != KEY_SIZE:
        raise InvalidKey(f"an SM4 key is {KEY_SIZE} bytes, not {len(key)}")
    return key
