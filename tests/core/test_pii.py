from __future__ import annotations

import base64
import os

import pytest

from core import pii


def test_a_value_round_trips_and_the_ciphertext_names_its_key(settings):
    token = pii.encrypt("11010519491231002X", column="order.payer_id_number")

    assert token.startswith(f"v1.{settings.PII_ACTIVE_KEY_ID}.")
    assert "11010519491231002X" not in token
    assert pii.decrypt(token, column="order.payer_id_number") == "11010519491231002X"


def test_the_same_value_encrypts_differently_each_time():
    first = pii.encrypt("13800138000", column="order.payer_phone")
    second = pii.encrypt("13800138000", column="order.payer_phone")

    assert first != second


def test_after_rotation_new_values_use_the_new_key_and_old_ones_still_decrypt(settings):
    before = pii.encrypt("13800138000", column="order.payer_phone")
    settings.PII_KEYS = {**settings.PII_KEYS, "k2": ("aes256gcm", os.urandom(32))}
    settings.PII_ACTIVE_KEY_ID = "k2"

    after = pii.encrypt("13800138000", column="order.payer_phone")

    assert after.split(".")[1] == "k2"
    assert pii.decrypt(before, column="order.payer_phone") == "13800138000"
    assert pii.decrypt(after, column="order.payer_phone") == "13800138000"


def test_a_value_moved_to_another_column_does_not_decrypt():
    token = pii.encrypt("13800138000", column="order.payer_phone")

    with pytest.raises(pii.PiiError):
        pii.decrypt(token, column="order.payer_id_number")


def test_a_tampered_ciphertext_is_refused():
    version, key_id, payload = pii.encrypt("x", column="c").split(".")
    raw = bytearray(base64.b64decode(payload))
    raw[-1] ^= 1

    with pytest.raises(pii.PiiError):
        pii.decrypt(f"{version}.{key_id}.{base64.b64encode(bytes(raw)).decode()}", column="c")


def test_an_unknown_key_id_is_a_clear_error():
    with pytest.raises(pii.PiiError):
        pii.decrypt("v1.nokey.AAAA", column="c")


def test_blind_index_is_stable_keyed_and_purpose_bound(settings):
    first = pii.blind_index("11010519491231002X", purpose="id_number")

    assert first == pii.blind_index("11010519491231002X", purpose="id_number")
    assert first != pii.blind_index("11010519491231002X", purpose="phone")
    settings.PII_HASH_KEY = os.urandom(32)
    assert first != pii.blind_index("11010519491231002X", purpose="id_number")


def test_masks_keep_only_the_ends():
    assert pii.mask_id_number("11010519491231002X") == "1101**********002X"
    assert pii.mask_phone("13800138000") == "138****8000"
