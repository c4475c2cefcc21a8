"""SM3 and SM4 against their standards' examples, and the module's own contracts."""

from __future__ import annotations

import pytest

from integrations.crypto import sm3, sm4
from integrations.crypto.errors import CryptoError, DecryptionFailed, InvalidKey

# GB/T 32907-2016 Appendix A: the key is also the plaintext of both examples.
SM4_EXAMPLE_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")

# RFC 8998 Appendix A.1.
GCM_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
GCM_NONCE = bytes.fromhex("00001234567800000000ABCD")
GCM_PLAINTEXT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB"
    "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF"
    "EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
GCM_ASSOCIATED_DATA = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
GCM_CIPHERTEXT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D"
    "5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15"
    "A56834CBCF98C397B4024A2691233B8D"
)
GCM_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")

KEY = bytes(range(16))
OTHER_KEY = bytes(range(1, 17))


def flipped(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# SM3 (GB/T 32905-2016 Appendix A)


def test_sm3_of_abc_is_the_standards_first_example():
    assert sm3.digest(b"abc") == bytes.fromhex(
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )


def test_sm3_of_abcd_sixteen_times_is_the_standards_second_example():
    assert sm3.digest(b"abcd" * 16) == bytes.fromhex(
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


@pytest.mark.parametrize("key", [b"k", b"\x5a" * 64, b"\xa5" * 100], ids=["short", "block", "long"])
def test_hmac_sm3_is_rfc_2104_over_sm3(key):
    # RFC 2104 written out with the 64-byte block of SM3; a key longer than a block is
    # hashed first.
    block = sm3.digest(key) if len(key) > 64 else key
    block = block.ljust(64, b"\x00")
    inner = sm3.digest(bytes(b ^ 0x36 for b in block) + b"data")
    expected = sm3.digest(bytes(b ^ 0x5C for b in block) + inner)

    assert sm3.hmac(key, b"data") == expected


def test_an_hmac_matches_only_its_own_key_data_and_length():
    tag = sm3.hmac(b"key", b"data")

    assert sm3.hmac_matches(b"key", b"data", tag)
    assert not sm3.hmac_matches(b"key", b"data", flipped(tag, 31))
    assert not sm3.hmac_matches(b"key", b"date", tag)
    assert not sm3.hmac_matches(b"kez", b"data", tag)
    assert not sm3.hmac_matches(b"key", b"data", tag[:16])


# SM4 (GB/T 32907-2016 Appendix A), through CBC with a zero IV: the first block of CBC
# under a zero IV is the bare block cipher's output.


def test_sm4_encrypts_the_standards_first_example():
    ciphertext = sm4.cbc_encrypt(SM4_EXAMPLE_KEY, SM4_EXAMPLE_KEY, iv=bytes(16))

    assert ciphertext[:16] == bytes.fromhex("681edf34d206965e86b3e94f536e4246")


def test_sm4_encrypts_the_standards_second_example_a_million_times_over():
    # In CBC, a zero plaintext block after block C encrypts C itself: block i of the
    # ciphertext of P followed by 999,999 zero blocks is P encrypted i times.
    plaintext = SM4_EXAMPLE_KEY + bytes(16 * 999_999)

    ciphertext = sm4.cbc_encrypt(SM4_EXAMPLE_KEY, plaintext, iv=bytes(16))

    assert ciphertext[16 * 999_999 : 16 * 1_000_000] == bytes.fromhex(
        "595298c7c6fd271f0402f804c33d3f66"
    )


def test_sm4_gcm_seals_rfc_8998s_example():
    sealed = sm4.gcm_seal(
        GCM_KEY, GCM_PLAINTEXT, nonce=GCM_NONCE, associated_data=GCM_ASSOCIATED_DATA
    )

    assert sealed == GCM_CIPHERTEXT + GCM_TAG


def test_sm4_gcm_opens_rfc_8998s_example():
    opened = sm4.gcm_open(
        GCM_KEY, GCM_CIPHERTEXT + GCM_TAG, nonce=GCM_NONCE, associated_data=GCM_ASSOCIATED_DATA
    )

    assert opened == GCM_PLAINTEXT


@pytest.mark.parametrize("plaintext", [b"", b"x", "身份证 110101199003071234".encode() * 5])
def test_sm4_gcm_round_trips_with_and_without_associated_data(plaintext):
    nonce = sm4.new_nonce()

    sealed = sm4.gcm_seal(KEY, plaintext, nonce=nonce, associated_data=b"order:42")

    assert len(sealed) == len(plaintext) + sm4.TAG_SIZE
    assert sm4.gcm_open(KEY, sealed, nonce=nonce, associated_data=b"order:42") == plaintext
    assert sm4.gcm_open(KEY, sm4.gcm_seal(KEY, plaintext, nonce=nonce), nonce=nonce) == plaintext


def test_sm4_gcm_refuses_a_flipped_bit_anywhere_a_wrong_key_nonce_or_associated_data():
    nonce = sm4.new_nonce()
    sealed = sm4.gcm_seal(KEY, b"personal data", nonce=nonce, associated_data=b"ad")
    attempts = [
        *[(KEY, flipped(sealed, i), nonce, b"ad") for i in (0, len(sealed) - 1)],
        (OTHER_KEY, sealed, nonce, b"ad"),
        (KEY, sealed, flipped(nonce, 0), b"ad"),
        (KEY, sealed, nonce, b"ae"),
        (KEY, sealed[:-1], nonce, b"ad"),
        (KEY, sealed[:15], nonce, b"ad"),
        (KEY, sealed, nonce[:8], b"ad"),
    ]

    for key, attempt, attempt_nonce, associated_data in attempts:
        with pytest.raises(DecryptionFailed):
            sm4.gcm_open(key, attempt, nonce=attempt_nonce, associated_data=associated_data)


def test_sm4_keys_nonces_and_ivs_of_the_wrong_size_are_refused():
    with pytest.raises(InvalidKey):
        sm4.gcm_seal(bytes(32), b"x", nonce=sm4.new_nonce())
    with pytest.raises(InvalidKey):
        sm4.cbc_decrypt(bytes(15), bytes(32))
    with pytest.raises(CryptoError):
        sm4.gcm_seal(KEY, b"x", nonce=bytes(16))
    with pytest.raises(CryptoError):
        sm4.cbc_encrypt(KEY, b"x", iv=bytes(12))


@pytest.mark.parametrize("length", [0, 1, 15, 16, 17, 100])
def test_sm4_cbc_round_trips_with_a_given_iv_and_pads_to_whole_blocks(length):
    plaintext = bytes(range(length))
    iv = bytes(16)

    ciphertext = sm4.cbc_encrypt(KEY, plaintext, iv=iv)

    assert len(ciphertext) == (length // 16 + 1) * 16
    assert sm4.cbc_decrypt(KEY, ciphertext, iv=iv) == plaintext


def test_sm4_cbc_without_an_iv_draws_one_and_writes_it_first():
    first = sm4.cbc_encrypt(KEY, b"same plaintext")
    second = sm4.cbc_encrypt(KEY, b"same plaintext")

    assert first != second
    assert first[16:] == sm4.cbc_encrypt(KEY, b"same plaintext", iv=first[:16])
    assert sm4.cbc_decrypt(KEY, first) == b"same plaintext"


def test_sm4_cbc_pads_with_pkcs7():
    # A 12-byte plaintext takes four bytes of 0x04, making one block.
    ciphertext = sm4.cbc_encrypt(KEY, b"twelve bytes", iv=bytes(16))
    padded_by_hand = b"twelve bytes\x04\x04\x04\x04"

    assert ciphertext == sm4.cbc_encrypt(KEY, padded_by_hand, iv=bytes(16))[:16]


def test_sm4_cbc_refuses_bad_padding_and_partial_blocks():
    ciphertext = sm4.cbc_encrypt(KEY, b"personal data", iv=bytes(16))

    # These keys and this ciphertext are fixed, so the padding check fails every run.
    with pytest.raises(DecryptionFailed):
        sm4.cbc_decrypt(OTHER_KEY, ciphertext, iv=bytes(16))
    with pytest.raises(DecryptionFailed):
        sm4.cbc_decrypt(KEY, ciphertext[:-1], iv=bytes(16))
    with pytest.raises(DecryptionFailed):
        sm4.cbc_decrypt(KEY, b"", iv=bytes(16))
    with pytest.raises(DecryptionFailed):
        sm4.cbc_decrypt(KEY, bytes(16))  # an IV and nothing after it
