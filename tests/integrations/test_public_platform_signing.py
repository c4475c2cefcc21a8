"""RSA2 signatures over canonical JSON: pure functions, no database, no network."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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
