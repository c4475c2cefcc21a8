"""RSA2 and SM2 signatures over canonical JSON: pure functions, no database, no network."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl.sm2 import CryptSM2

from integrations.crypto import sm2
from integrations.crypto.errors import InvalidKey
from integrations.payments import signing
from tests.integrations.helpers import key_pems, new_key


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPublicKey]:
    private_pem, public_pem = key_pems(new_key())
    return signing.load_private_key(private_pem), signing.load_public_key(public_pem)


@pytest.fixture(scope="module")
def stranger() -> rsa.RSAPrivateKey:
    return new_key()


MESSAGE = {
    "app_id": "app-1",
    "method": "trade.create",
    "biz_content": {"subject": "营业执照补办 <费>", "amount": 12345, "out_trade_no": "pay_1"},
}


def test_the_canonical_text_sorts_keys_at_every_depth_without_whitespace_or_escapes():
    message = {"b": 1, "sign": "ignored", "a": {"d": "缴费", "c": [2, {"z": None, "y": True}]}}

    assert signing.canonical_bytes(message) == (
        '{"a":{"c":[2,{"y":true,"z":null}],"d":"缴费"},"b":1}'.encode()
    )


def test_a_signed_message_carries_rsa2_and_verifies_with_the_signers_public_key(keys):
    private, public = keys

    message = signing.signed(MESSAGE, private)

    assert message["sign_type"] == "RSA2"
    assert signing.verify(message, public)


def test_the_signature_survives_transport_in_any_key_order_and_spacing(keys):
    private, public = keys
    message = signing.signed(MESSAGE, private)
    wire = json.dumps(dict(reversed(list(message.items()))), indent=2, ensure_ascii=True)

    assert signing.verify(signing.loads_object(wire.encode()), public)


def test_changing_any_signed_field_breaks_the_signature(keys):
    private, public = keys
    message = signing.signed(MESSAGE, private)
    tampered = {**message, "biz_content": {**message["biz_content"], "amount": 1}}

    assert not signing.verify(tampered, public)


def test_the_sign_type_is_signed_too(keys):
    private, public = keys
    message = signing.signed(MESSAGE, private)

    assert not signing.verify({**message, "sign_type": "RSA"}, public)


def test_a_signature_by_another_key_does_not_verify(keys, stranger):
    _, public = keys

    assert not signing.verify(signing.signed(MESSAGE, stranger), public)


@pytest.mark.parametrize("sign", [None, "", "not base64!", 12345])
def test_a_missing_or_garbled_signature_does_not_verify(keys, sign):
    private, public = keys
    message = {**signing.signed(MESSAGE, private), "sign": sign}

    assert not signing.verify(message, public)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        b'{"amount": 100.5}',
        b'{"amount": NaN}',
        b'{"amount": 1, "amount": 2}',
        b'{"subject": "\xff"}',
        b"",
    ],
    ids=["syntax", "array", "float", "nan", "repeated-key", "bad-utf8", "empty"],
)
def test_bodies_outside_the_protocols_json_are_refused(body):
    with pytest.raises(signing.MalformedJson):
        signing.loads_object(body)


def test_a_key_that_is_not_rsa_is_refused():
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )

    with pytest.raises(ValueError, match="not an RSA key"):
        signing.load_private_key(pem)


# -- SM2 with SM3, and a signer of one scheme ------------------------------------------


@pytest.fixture(scope="module")
def sm2_keys() -> tuple[sm2.PrivateKey, sm2.PublicKey]:
    key = sm2.generate_private_key()
    return key, key.public_key()


def sm2_signer(private: sm2.PrivateKey, peer: sm2.PublicKey) -> signing.Signer:
    return signing.Signer.from_pems(
        "SM2",
        private_key_pem=sm2.private_key_pem(private),
        peer_public_key_pem=sm2.public_key_pem(peer),
    )


def rsa2_signer(private: rsa.RSAPrivateKey, peer: rsa.RSAPublicKey) -> signing.Signer:
    return signing.Signer(signing.RSA2, private, peer)


def test_an_sm2_signature_is_base64_der_over_the_canonical_text(sm2_keys):
    private, public = sm2_keys

    message = signing.signed(MESSAGE, private, signing.SM2)

    raw = base64.b64decode(message["sign"], validate=True)
    r, s = decode_dss_signature(raw)  # DER: SEQUENCE { r INTEGER, s INTEGER }
    assert message["sign_type"] == "SM2"
    assert sm2.verify(raw, signing.canonical_bytes(message), public)
    assert signing.verify(message, public, signing.SM2)
    assert 0 < r < sm2.ORDER and 0 < s < sm2.ORDER


def test_another_sm2_implementation_verifies_the_signature_with_the_default_user_id(sm2_keys):
    private, public = sm2_keys
    message = signing.signed(MESSAGE, private, signing.SM2)
    raw = sm2.signature_to_raw(base64.b64decode(message["sign"]))

    other = CryptSM2(private_key="", public_key="", mode=1)
    other.public_key = sm2.public_key_hex(public)[2:]  # set after: its constructor mangles "04"

    assert other.verify_with_sm3(raw.hex(), signing.canonical_bytes(message))
    assert not other.verify_with_sm3(raw.hex(), signing.canonical_bytes(MESSAGE))


def test_an_sm2_signer_signs_and_verifies_its_peer(sm2_keys):
    private, public = sm2_keys
    signer = sm2_signer(private, public)

    message = signer.signed(MESSAGE)

    assert signer.sign_type == "SM2" and message["sign_type"] == "SM2"
    assert signer.refusal(message) is None


@pytest.mark.parametrize(
    "change",
    [
        {"biz_content": {**MESSAGE["biz_content"], "amount": 1}},
        {"app_id": "app-2"},
        {"sign": None},
        {"sign": "not base64!"},
    ],
    ids=["nested-field", "field", "no-sign", "garbled-sign"],
)
def test_a_tampered_sm2_message_is_refused(sm2_keys, change):
    private, public = sm2_keys
    signer = sm2_signer(private, public)

    assert signer.refusal({**signer.signed(MESSAGE), **change}) == "signature does not verify"


def test_an_sm2_signature_as_raw_r_and_s_is_refused(sm2_keys):
    private, public = sm2_keys
    signer = sm2_signer(private, public)
    message = signer.signed(MESSAGE)
    raw = sm2.signature_to_raw(base64.b64decode(message["sign"]))

    as_raw = {**message, "sign": base64.b64encode(raw).decode()}

    assert signer.refusal(as_raw) == "signature does not verify"


def test_an_sm2_message_by_another_key_is_refused(sm2_keys):
    private, public = sm2_keys
    stranger = sm2_signer(sm2.generate_private_key(), public)

    assert sm2_signer(private, public).refusal(stranger.signed(MESSAGE)) is not None


def test_an_sm2_signer_refuses_a_valid_rsa2_message_before_looking_at_its_signature(keys):
    rsa_private, rsa_public = keys
    rsa2_message = signing.signed(MESSAGE, rsa_private)
    sm2_private = sm2.generate_private_key()
    signer = sm2_signer(sm2_private, sm2_private.public_key())

    assert signing.verify(rsa2_message, rsa_public)  # genuine, in the other scheme
    assert signer.refusal(rsa2_message) == "sign_type 'RSA2' is not the configured SM2"


def test_an_rsa2_signer_refuses_a_valid_sm2_message(keys, sm2_keys):
    rsa_private, rsa_public = keys
    sm2_message = signing.signed(MESSAGE, sm2_keys[0], signing.SM2)

    refusal = rsa2_signer(rsa_private, rsa_public).refusal(sm2_message)

    assert refusal == "sign_type 'SM2' is not the configured RSA2"


def test_relabelling_an_sm2_message_as_rsa2_does_not_make_it_verify(keys, sm2_keys):
    rsa_private, rsa_public = keys
    relabelled = {**signing.signed(MESSAGE, sm2_keys[0], signing.SM2), "sign_type": "RSA2"}

    assert rsa2_signer(rsa_private, rsa_public).refusal(relabelled) == "signature does not verify"


def test_a_signer_of_an_unknown_scheme_or_with_keys_of_the_other_is_refused(keys, sm2_keys):
    rsa_pems = key_pems(new_key())
    sm2_pems = sm2.private_key_pem(sm2_keys[0]), sm2.public_key_pem(sm2_keys[1])

    with pytest.raises(ValueError, match="not one of RSA2, SM2"):
        signing.Signer.from_pems(
            "SM3", private_key_pem=sm2_pems[0], peer_public_key_pem=sm2_pems[1]
        )
    with pytest.raises(InvalidKey):
        signing.Signer.from_pems(
            "SM2", private_key_pem=rsa_pems[0], peer_public_key_pem=sm2_pems[1]
        )
    with pytest.raises(UnsupportedAlgorithm):
        signing.Signer.from_pems(
            "RSA2", private_key_pem=sm2_pems[0], peer_public_key_pem=rsa_pems[1]
        )
