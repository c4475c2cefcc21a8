"""Personal data sealed with AES-256-GCM or SM4-GCM in one key ring, and blind indexes as
HMAC-SHA256 or HMAC-SM3."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from config.settings.secrets import parse_index_algorithms, parse_keyring
from core import pii
from integrations.crypto import sm4

AES_KEY = b"\x01" * 32
SM4_KEY = b"\x03" * 16
HASH_KEY = b"\x02" * 32
ID_NUMBER = "11010519491231002X"
COLUMN = "order.payer_id_number"
# Written by core/pii.py before SM4 was offered, under AES_KEY as key id k1.
STORED_BEFORE_SM4 = "v1.k1.3K2DqBatERNpV074Zaz3NlvuLrh/hNZyW4ei8qCfkceHAyT/fFLvSLyGa7VIUQ=="


@pytest.fixture
def ring(settings):
    settings.PII_KEYS = {"k1": ("aes256gcm", AES_KEY), "s1": ("sm4gcm", SM4_KEY)}
    settings.PII_HASH_KEY = HASH_KEY
    return settings


@pytest.mark.parametrize(("key_id", "scheme"), [("k1", "v1"), ("s1", "sm4gcm")])
def test_each_algorithm_seals_and_opens_and_the_value_names_its_scheme_and_key(
    ring, key_id, scheme
):
    ring.PII_ACTIVE_KEY_ID = key_id

    token = pii.encrypt(ID_NUMBER, column=COLUMN)

    assert token.split(".")[:2] == [scheme, key_id]
    assert ID_NUMBER not in token
    assert pii.decrypt(token, column=COLUMN) == ID_NUMBER
    assert pii.sealed_with_active_key(token)


def test_a_ring_holding_both_opens_values_of_either(ring):
    ring.PII_ACTIVE_KEY_ID = "k1"
    under_aes = pii.encrypt(ID_NUMBER, column=COLUMN)
    ring.PII_ACTIVE_KEY_ID = "s1"
    under_sm4 = pii.encrypt(ID_NUMBER, column=COLUMN)

    assert pii.decrypt(under_aes, column=COLUMN) == pii.decrypt(under_sm4, column=COLUMN)
    assert not pii.sealed_with_active_key(under_aes)
    assert pii.sealed_with_active_key(under_sm4)


def test_a_value_stored_before_sm4_still_opens(ring):
    assert pii.decrypt(STORED_BEFORE_SM4, column=COLUMN) == ID_NUMBER


def test_an_sm4_value_is_the_nonce_then_rfc8998_sm4_gcm_with_the_column_as_associated_data(ring):
    nonce = bytes(range(12))
    sealed = sm4.gcm_seal(SM4_KEY, ID_NUMBER.encode(), nonce=nonce, associated_data=COLUMN.encode())

    token = f"sm4gcm.s1.{base64.b64encode(nonce + sealed).decode()}"

    assert pii.decrypt(token, column=COLUMN) == ID_NUMBER


@pytest.mark.parametrize("key_id", ["k1", "s1"])
def test_a_wrong_key_of_the_same_algorithm_is_a_clear_error(ring, key_id):
    ring.PII_ACTIVE_KEY_ID = key_id
    token = pii.encrypt(ID_NUMBER, column=COLUMN)
    algorithm, key = ring.PII_KEYS[key_id]
    ring.PII_KEYS = {**ring.PII_KEYS, key_id: (algorithm, bytes(len(key)))}

    with pytest.raises(pii.PiiError, match=f"does not open under key '{key_id}' \\({algorithm}\\)"):
        pii.decrypt(token, column=COLUMN)


def test_a_key_id_declared_with_the_other_algorithm_is_named_as_such(ring):
    ring.PII_KEYS = {"k1": ("sm4gcm", SM4_KEY)}

    with pytest.raises(pii.PiiError, match=r"declared sm4gcm .* sealed with aes256gcm"):
        pii.decrypt(STORED_BEFORE_SM4, column=COLUMN)


@pytest.mark.parametrize(
    "token", ["", "v1.k1", "v1.k1.not base64!", "v9.k1.AAAA", "v1.nokey.AAAA", "sm4gcm.s1.AAAA"]
)
def test_unreadable_values_are_a_pii_error(ring, token):
    with pytest.raises(pii.PiiError):
        pii.decrypt(token, column=COLUMN)


def test_the_sha256_blind_index_is_unchanged_and_the_sm3_one_is_hmac_sm3(ring):
    ring.PII_HASH_ALGORITHMS = ["hmac-sha256"]
    sha256 = pii.blind_index(ID_NUMBER, purpose="id_number")
    ring.PII_HASH_ALGORITHMS = ["hmac-sm3"]
    sm3 = pii.blind_index(ID_NUMBER, purpose="id_number")

    message = f"id_number:{ID_NUMBER}".encode()
    assert sha256 == hmac.new(HASH_KEY, message, hashlib.sha256).hexdigest()
    # As OpenSSL's SM3 under Python's own HMAC computes it.
    assert sm3 == "6a1e54c91254591e221a9194df75e799d3ebfc1cb39d786a4b466e6ee1d9a65e"


def test_lookups_match_every_index_in_use_the_written_one_first(ring):
    ring.PII_HASH_ALGORITHMS = ["hmac-sm3", "hmac-sha256"]

    indexes = pii.blind_indexes(ID_NUMBER, purpose="id_number")

    assert indexes[0] == pii.blind_index(ID_NUMBER, purpose="id_number")
    ring.PII_HASH_ALGORITHMS = ["hmac-sha256"]
    assert indexes[1] == pii.blind_index(ID_NUMBER, purpose="id_number")
    assert len(set(indexes)) == 2


def test_the_keyring_reads_both_forms_and_the_old_form_is_aes():
    aes, sm4_key = base64.b64encode(AES_KEY).decode(), base64.b64encode(SM4_KEY).decode()

    ring = parse_keyring(f"s1:sm4gcm:{sm4_key}, k2:aes256gcm:{aes},k1:{aes}")

    assert ring == {
        "s1": ("sm4gcm", SM4_KEY),
        "k2": ("aes256gcm", AES_KEY),
        "k1": ("aes256gcm", AES_KEY),
    }


@pytest.mark.parametrize(
    "spec",
    [
        f"s1:sm4gcm:{base64.b64encode(AES_KEY).decode()}",  # 32 bytes for SM4
        f"k1:{base64.b64encode(SM4_KEY).decode()}",  # 16 bytes for AES-256
        f"k1:des:{base64.b64encode(AES_KEY).decode()}",
        f"k.1:{base64.b64encode(AES_KEY).decode()}",
        f"k1:aes256gcm:x:{base64.b64encode(AES_KEY).decode()}",
        "",
    ],
)
def test_the_keyring_refuses_what_cannot_seal(spec):
    with pytest.raises(ValueError, match="PII_KEYS entries must be"):
        parse_keyring(spec)


def test_the_index_algorithms_are_checked():
    assert parse_index_algorithms("hmac-sm3, hmac-sha256") == ["hmac-sm3", "hmac-sha256"]
    for spec in ("", "hmac-md5", "hmac-sm3,sm3"):
        with pytest.raises(ValueError, match="PII_HASH_ALGORITHMS"):
            parse_index_algorithms(spec)
