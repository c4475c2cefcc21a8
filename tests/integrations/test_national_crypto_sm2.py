"""SM2 against GB/T 32918.5-2017's examples, and against a second implementation (gmssl)."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from gmssl.sm2 import CryptSM2

from integrations.crypto import sm2, sm2_ciphertext, sm3
from integrations.crypto.errors import CryptoError, DecryptionFailed, InvalidKey, MalformedEncoding

# GB/T 32918.5-2017 Appendix A (GM/T 0003.5-2012): the curve sm2p256v1 ...
CURVE_A = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"
CURVE_B = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"
BASE_X = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
BASE_Y = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"
# ... and its signature example, with the default user id.
D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
PUBLIC_X = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
PUBLIC_Y = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
MESSAGE = b"message digest"
Z = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
# Its encryption example (same key and k), C1 = (x1, y1), C3 and C2, as the ASN.1 of
# GM/T 0009-2012 §7.2 (also OpenSSL's sm2_internal_test.c).
ENCRYPTED = b"encryption standard"
C1_X = "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
C1_Y = "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
C3 = "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
C2 = "21886CA989CA9C7D58087307CA93092D651EFA"
CIPHERTEXT_ASN1 = bytes.fromhex("307C0220" + C1_X + "022100" + C1_Y + "0420" + C3 + "0413" + C2)


@pytest.fixture(scope="module")
def example_key() -> sm2.PrivateKey:
    return sm2.private_key_from_hex(D)


@pytest.fixture(scope="module")
def key() -> sm2.PrivateKey:
    return sm2.generate_private_key()


def flipped(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def gmssl(public_key: sm2.PublicKey, private_hex: str = "") -> CryptSM2:
    """gmssl's SM2 for a key (the private one as hex, if it is to sign or decrypt), C1C3C2."""
    implementation = CryptSM2(private_key=private_hex, public_key="", mode=1)
    # Set after construction: the constructor drops a leading "04" with str.lstrip, which
    # also eats the leading 0 and 4 digits of an X coordinate.
    implementation.public_key = sm2.public_key_hex(public_key)[2:]
    return implementation


# The standard's examples


def test_the_example_private_key_has_the_published_public_key(example_key):
    published = sm2.public_key_from_hex("04" + PUBLIC_X + PUBLIC_Y)

    assert example_key.public_key() == published
    assert sm2.public_key_hex(published) == ("04" + PUBLIC_X + PUBLIC_Y).lower()


def test_the_published_signature_verifies_and_nothing_else_does(example_key):
    signature = sm2.signature_from_raw(bytes.fromhex(R + S))
    public = example_key.public_key()

    assert sm2.verify(signature, MESSAGE, public)
    assert not sm2.verify(signature, b"message digesT", public)
    assert not sm2.verify(
        sm2.signature_from_raw(flipped(bytes.fromhex(R + S), 63)), MESSAGE, public
    )
    assert not sm2.verify(signature, MESSAGE, sm2.generate_private_key().public_key())


def test_z_with_the_default_user_id_and_the_published_k_reproduce_r_and_s():
    # Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA), e = SM3(Z || M): written out
    # here and checked against the standard, then signed by a second implementation.
    entl = (8 * len(sm2.DEFAULT_USER_ID)).to_bytes(2, "big")
    z = sm3.digest(
        entl
        + sm2.DEFAULT_USER_ID
        + bytes.fromhex(CURVE_A + CURVE_B + BASE_X + BASE_Y + PUBLIC_X + PUBLIC_Y)
    )
    e = sm3.digest(z + MESSAGE)
    implementation = gmssl(sm2.public_key_from_hex(PUBLIC_X + PUBLIC_Y), D)

    assert z.hex().upper() == Z
    assert e.hex().upper() == E
    assert implementation.sign(e, K).upper() == R + S


def test_the_published_ciphertext_decrypts_to_encryption_standard(example_key):
    assert sm2.decrypt(CIPHERTEXT_ASN1, example_key) == ENCRYPTED


def test_the_published_ciphertext_in_raw_form_is_c1_c3_c2():
    raw = bytes.fromhex("04" + C1_X + C1_Y + C3 + C2)

    assert sm2_ciphertext.to_raw(CIPHERTEXT_ASN1) == raw
    assert sm2_ciphertext.from_raw(raw) == CIPHERTEXT_ASN1


# Signatures


def test_a_signature_is_der_verifies_and_differs_each_time(key):
    first = sm2.sign(b"GET\n/v3/certificates\n1700000000\nnonce\n\n", key)
    second = sm2.sign(b"GET\n/v3/certificates\n1700000000\nnonce\n\n", key)

    assert first[0] == 0x30 and first != second
    assert sm2.verify(first, b"GET\n/v3/certificates\n1700000000\nnonce\n\n", key.public_key())
    assert sm2.verify(second, b"GET\n/v3/certificates\n1700000000\nnonce\n\n", key.public_key())


def test_a_flipped_bit_in_the_message_or_the_signature_is_refused(key):
    message = "缴费单 2024000123 金额 12345".encode()
    signature = sm2.sign(message, key)
    public = key.public_key()

    for index in (0, len(message) - 1):
        assert not sm2.verify(signature, flipped(message, index), public)
    raw = sm2.signature_to_raw(signature)
    for index in (0, 31, 32, 63):
        assert not sm2.verify(sm2.signature_from_raw(flipped(raw, index)), message, public)


@pytest.mark.parametrize(
    "signature",
    [b"", b"garbage", b"\x30\x00", b"\x30\x06\x02\x01\x00\x02\x01\x01"],
    ids=["empty", "not-der", "empty-sequence", "r-zero"],
)
def test_an_unreadable_or_out_of_range_signature_is_false_not_an_error(key, signature):
    assert not sm2.verify(signature, b"m", key.public_key())


def test_a_signature_with_trailing_bytes_or_r_equal_to_n_is_refused(key):
    signature = sm2.sign(b"m", key)
    s = sm2.signature_to_raw(signature)[32:]
    r_equal_to_n = sm2.signature_from_raw(sm2.ORDER.to_bytes(32, "big") + s)

    assert not sm2.verify(signature + b"\x00", b"m", key.public_key())
    assert not sm2.verify(r_equal_to_n, b"m", key.public_key())


def test_raw_r_s_and_der_convert_both_ways_keeping_leading_zeros():
    raw = bytes(31) + b"\x01" + bytes.fromhex(S)

    der = sm2.signature_from_raw(raw)

    assert der == bytes.fromhex("3026020101022100" + S)
    assert sm2.signature_to_raw(der) == raw
    with pytest.raises(MalformedEncoding):
        sm2.signature_from_raw(raw[:63])
    with pytest.raises(MalformedEncoding):
        sm2.signature_to_raw(b"\x30\x00")
    with pytest.raises(MalformedEncoding):
        sm2.signature_to_raw(encode_dss_signature(2**256, 1))


def test_gmssl_verifies_our_signatures(key):
    message = b'{"out_trade_no":"pay_1","amount":{"total":100}}'

    raw = sm2.signature_to_raw(sm2.sign(message, key))

    assert gmssl(key.public_key()).verify_with_sm3(raw.hex(), message)
    assert not gmssl(key.public_key()).verify_with_sm3(raw.hex(), message + b" ")


def test_we_verify_gmssls_signatures():
    d = secrets.randbelow(sm2.ORDER - 2) + 1
    key = sm2.private_key_from_hex(f"{d:064x}")
    message = "电子票据 1100000001".encode()

    raw = bytes.fromhex(gmssl(key.public_key(), f"{d:064x}").sign_with_sm3(message))

    assert sm2.verify(sm2.signature_from_raw(raw), message, key.public_key())
    assert not sm2.verify(sm2.signature_from_raw(raw), message[:-1], key.public_key())


# Keys


def test_keys_round_trip_through_pem_and_still_sign_for_each_other(key):
    private_pem = sm2.private_key_pem(key)
    public_pem = sm2.public_key_pem(key.public_key())
    loaded = sm2.load_private_key(private_pem)

    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert sm2.load_public_key(public_pem) == key.public_key()
    assert loaded.public_key() == key.public_key()
    assert sm2.verify(sm2.sign(b"m", loaded), b"m", key.public_key())
    # The loaded key signs as SM2 with Z, not as plain ECDSA on the SM2 curve.
    raw = sm2.signature_to_raw(sm2.sign(b"m", loaded))
    assert gmssl(key.public_key()).verify_with_sm3(raw.hex(), b"m")


def test_a_sec1_pem_private_key_is_read_too():
    # The standard's key d, as `openssl ec` writes it ("EC PRIVATE KEY", curve SM2).
    pem = (
        "-----BEGIN EC PRIVATE KEY-----\n"
        "MHcCAQEEIDlFII97IUSxPzbjisbTn5WIk5NpKGC1GkL7ge9N98W4oAoGCCqBHM9V\n"
        "AYItoUQDQgAECfnfMR5UIaFQ3X0WHkvFxnIXn60YM/wHa7CP81bzUCDM6kkM4md1\n"
        "pS3G6nGMwapgCu0F+/NeCEpmMvYHLamtEw==\n"
        "-----END EC PRIVATE KEY-----\n"
    )

    key = sm2.load_private_key(pem)

    assert sm2.public_key_hex(key.public_key()) == ("04" + PUBLIC_X + PUBLIC_Y).lower()
    assert sm2.decrypt(CIPHERTEXT_ASN1, key) == ENCRYPTED


def test_pem_keys_name_the_sm2_curve():
    # id-ecPublicKey with the named curve sm2p256v1 (1.2.156.10197.1.301).
    key = sm2.private_key_from_hex(D)
    curve_oid = bytes.fromhex("06082A811CCF5501822D")

    for pem in (sm2.private_key_pem(key), sm2.public_key_pem(key.public_key())):
        body = "".join(pem.strip().splitlines()[1:-1])
        assert curve_oid in base64.b64decode(body)


@pytest.mark.parametrize("prefix", ["04", ""], ids=["04XY", "XY"])
def test_public_keys_round_trip_through_hex_with_or_without_04(key, prefix):
    published = sm2.public_key_hex(key.public_key())

    assert len(published) == 130 and published.startswith("04")
    assert sm2.public_key_from_hex(prefix + published[2:]) == key.public_key()
    assert sm2.public_key_from_hex((prefix + published[2:]).upper()) == key.public_key()


@pytest.mark.parametrize(
    "point",
    ["05" + PUBLIC_X + PUBLIC_Y, "04" + PUBLIC_X + PUBLIC_X, PUBLIC_X, "zz" + PUBLIC_Y + PUBLIC_Y],
    ids=["not-uncompressed", "not-on-the-curve", "too-short", "not-hex"],
)
def test_a_public_point_that_is_not_an_sm2_key_is_refused(point):
    with pytest.raises(InvalidKey):
        sm2.public_key_from_hex(point)


@pytest.mark.parametrize("d", [0, sm2.ORDER - 1, sm2.ORDER], ids=["zero", "n-1", "n"])
def test_a_private_scalar_out_of_range_is_refused(d):
    with pytest.raises(InvalidKey):
        sm2.private_key_from_hex(f"{d:064x}")


def test_pem_keys_of_other_algorithms_or_curves_are_refused():
    others = [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)]

    for other in others:
        private_pem = other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public_pem = (
            other.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        with pytest.raises(InvalidKey):
            sm2.load_private_key(private_pem)
        with pytest.raises(InvalidKey):
            sm2.load_public_key(public_pem)
    with pytest.raises(InvalidKey):
        sm2.load_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


# Encryption


@pytest.mark.parametrize("length", [1, 19, 127, 128, 1000])
def test_encryption_round_trips_and_its_ciphertext_is_c1c3c2_asn1(key, length):
    plaintext = secrets.token_bytes(length)

    ciphertext = sm2.encrypt(plaintext, key.public_key())

    raw = sm2_ciphertext.to_raw(ciphertext)
    assert len(raw) == 65 + 32 + length
    assert sm2_ciphertext.from_raw(raw) == ciphertext
    assert sm2.decrypt(ciphertext, key) == plaintext
    assert sm2.encrypt(plaintext, key.public_key()) != ciphertext


def test_a_flipped_bit_in_c1_c3_or_c2_or_the_wrong_key_fails_to_decrypt(key):
    raw = sm2_ciphertext.to_raw(sm2.encrypt(b"110101199003071234", key.public_key()))

    for index in (1, 64, 65, 96, 97, len(raw) - 1):  # X, Y, C3 and C2 at both ends
        with pytest.raises(DecryptionFailed):
            sm2.decrypt(sm2_ciphertext.from_raw(flipped(raw, index)), key)
    with pytest.raises(DecryptionFailed):
        sm2.decrypt(sm2_ciphertext.from_raw(raw), sm2.generate_private_key())


@pytest.mark.parametrize("ciphertext", [b"", b"junk", b"\x30\x00", CIPHERTEXT_ASN1[:-1]])
def test_a_malformed_ciphertext_fails_to_decrypt(example_key, ciphertext):
    with pytest.raises(DecryptionFailed):
        sm2.decrypt(ciphertext, example_key)


def test_an_empty_message_cannot_be_encrypted(key):
    with pytest.raises(CryptoError):
        sm2.encrypt(b"", key.public_key())


def test_gmssl_decrypts_ours_and_we_decrypt_gmssls(example_key):
    public = example_key.public_key()
    implementation = gmssl(public, D)
    plaintext = b"6222020000000000000"

    ours = sm2_ciphertext.to_raw(sm2.encrypt(plaintext, public))
    theirs = implementation.encrypt(plaintext)

    # gmssl writes C1 without its 04 byte.
    assert implementation.decrypt(ours[1:]) == plaintext
    assert sm2.decrypt(sm2_ciphertext.from_raw(b"\x04" + theirs), example_key) == plaintext


# The ciphertext forms


def test_short_coordinates_are_minimal_der_integers_and_come_back_padded():
    raw = bytes([4]) + bytes(31) + b"\x01" + bytes(31) + b"\x80" + bytes(32) + b"c2"

    asn1 = sm2_ciphertext.from_raw(raw)

    assert asn1.startswith(bytes.fromhex("302D02010102020080"))
    assert sm2_ciphertext.to_raw(asn1) == raw


@pytest.mark.parametrize(
    "asn1",
    [
        CIPHERTEXT_ASN1 + b"\x00",
        bytes.fromhex("307B0220" + C1_X + "0220" + C1_Y + "0420" + C3 + "0413" + C2),
        bytes.fromhex("307D022100" + C1_X + "022100" + C1_Y + "0420" + C3 + "0413" + C2),
        bytes.fromhex("307C0220" + C1_X + "022101" + C1_Y + "0420" + C3 + "0413" + C2),
        bytes.fromhex("307C0220" + C1_X + "022100" + C1_Y + "0420" + C3 + "0413" + C2)[:-1],
        bytes.fromhex("30817C0220" + C1_X + "022100" + C1_Y + "0420" + C3 + "0413" + C2),
        bytes.fromhex("307B0220" + C1_X + "022100" + C1_Y + "041F" + C3[2:] + "0413" + C2),
        bytes.fromhex("30680220" + C1_X + "022100" + C1_Y + "0420" + C3 + "0400"),
    ],
    ids=[
        "trailing",
        "negative-y",
        "zero-padded-x",
        "y-over-256-bits",
        "truncated",
        "long-form-length",
        "short-hash",
        "empty-c2",
    ],
)
def test_malformed_asn1_ciphertexts_are_refused(asn1):
    with pytest.raises(MalformedEncoding):
        sm2_ciphertext.to_raw(asn1)


@pytest.mark.parametrize(
    "raw",
    [bytes(98), bytes.fromhex("04" + C1_X + C1_Y + C3)],
    ids=["no-04", "no-c2"],
)
def test_malformed_raw_ciphertexts_are_refused(raw):
    with pytest.raises(MalformedEncoding):
        sm2_ciphertext.from_raw(raw)
