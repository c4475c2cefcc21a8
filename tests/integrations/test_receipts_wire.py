"""The receipt platform's requests and answers on our side (integrations/receipts/wire)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import date
from decimal import Decimal

import pytest
from gmssl import sm3 as gmssl_sm3

from integrations.receipts import wire
from integrations.receipts.base import (
    PayerType,
    ProviderDeclined,
    ProviderError,
    ReceiptItem,
    ReceiptRequest,
    RedReceiptRequest,
)

KEY = "app key 密钥"


def answer(result: str, message: dict, *, key: str = KEY, method: str = wire.HMAC_SM3) -> bytes:
    fields = {"result": result, "message": wire.encode_message(message)}
    return json.dumps({**fields, "sign": wire.sign(method, key, fields)}).encode()


def test_the_text_to_sign_is_every_other_parameter_sorted_as_name_value_pairs():
    parameters = {"version": "1.0", "appid": "a", "sign": "x", "message": "bQ==", "noise": "n"}
    assert wire.text_to_sign(parameters) == b"appid=a&message=bQ==&noise=n&version=1.0"


def test_hmac_sm3_is_rfc_2104_over_sm3_keyed_with_the_app_key():
    """Written out over gmssl's SM3, a second implementation of the hash."""
    parameters = {"appid": "t", "service": "issue"}
    block = KEY.encode().ljust(64, b"\0")

    def sm3(data: bytes) -> bytes:
        return bytes.fromhex(gmssl_sm3.sm3_hash(list(data)))

    inner = sm3(bytes(b ^ 0x36 for b in block) + b"appid=t&service=issue")
    expected = sm3(bytes(b ^ 0x5C for b in block) + inner).hex()
    assert wire.sign(wire.HMAC_SM3, KEY, parameters) == expected


def test_hmac_sha256_is_the_alternative_scheme():
    expected = hmac.new(KEY.encode(), b"appid=t", hashlib.sha256).hexdigest()
    assert wire.sign(wire.HMAC_SHA256, KEY, {"appid": "t"}) == expected
    with pytest.raises(ValueError, match="no signature method"):
        wire.sign("MD5", KEY, {"appid": "t"})


def test_a_request_carries_the_message_in_base64_json_and_its_sign():
    form = wire.signed_parameters(
        app_id="app-1",
        app_key=KEY,
        sign_method=wire.HMAC_SM3,
        service="query",
        message={"bizCode": "pay_1"},
        noise="0123456789abcdef",
    )

    assert set(form) == {"appid", "service", "version", "noise", "message", "sign"}
    assert json.loads(base64.b64decode(form["message"])) == {"bizCode": "pay_1"}
    assert form["sign"] == wire.sign(wire.HMAC_SM3, KEY, form)


def test_the_issue_message_writes_yuan_and_the_platforms_field_names():
    request = ReceiptRequest(
        business_id="pay_1",
        invoicing_party_code="SCJG01",
        invoicing_party_name="市监局",
        payer_type=PayerType.ORGANISATION,
        payer_name="某公司",
        payer_code="91330100MA2XXXXX0X",
        items=(ReceiptItem("FEE", "工本费", Decimal("2.50"), "本", 1005, 2513),),
        total_fen=2513,
        pay_code="11010012345678901238",
        pay_mode="alipay",
        paid_on=date(2025, 6, 1),
    )

    message = wire.issue_message(request)

    assert message["payerPartyType"] == "2" and message["payDate"] == "20250601"
    assert message["totalAmount"] == "25.13"
    assert message["details"] == [
        {
            "itemCode": "FEE",
            "itemName": "工本费",
            "itemQuantity": "2.5",
            "itemUnit": "本",
            "itemStd": "10.05",
            "itemAmount": "25.13",
        }
    ]


def test_the_red_letter_message_names_the_original_and_the_amount():
    message = wire.red_message(RedReceiptRequest("rf_1", "33010125", "0000000001", 5, "退款"))
    assert message == {
        "bizCode": "rf_1",
        "eInvoiceCode": "33010125",
        "eInvoiceNumber": "0000000001",
        "amount": "0.05",
        "reason": "退款",
    }


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "0.00"), (5, "0.05"), (150, "1.50"), (-500, "-5.00"), (10**11, "1000000000.00")],
)
def test_fen_and_yuan_convert_both_ways(fen, text):
    assert wire.yuan(fen) == text and wire.fen(text) == fen


@pytest.mark.parametrize("text", ["1.5", "1", "01.00", "1.000", "+1.00", "1,00", " 1.00", "１.00"])
def test_an_amount_not_written_with_two_decimals_is_refused(text):
    with pytest.raises(ValueError, match="two decimals"):
        wire.fen(text)


@pytest.mark.parametrize(
    ("quantity", "text"),
    [(Decimal(2), "2"), (Decimal("2.50"), "2.5"), (Decimal(100), "100"), (3, "3")],
)
def test_quantities_are_plain_decimals(quantity, text):
    assert wire.quantity_text(quantity) == text


def test_a_successful_answer_gives_its_message():
    assert wire.read_answer(
        answer("S0000", {"a": "b"}), sign_method=wire.HMAC_SM3, app_key=KEY
    ) == {"a": "b"}


def test_a_refusal_is_declined_with_the_platforms_code():
    with pytest.raises(ProviderDeclined) as declined:
        wire.read_answer(
            answer("E3002", {"msg": "only 3.00 remains"}), sign_method=wire.HMAC_SM3, app_key=KEY
        )
    assert declined.value.code == "E3002" and "3.00" in str(declined.value)


@pytest.mark.parametrize(
    "content",
    [
        answer("S0000", {"a": "b"}, key="another key"),
        answer("S0000", {"a": "b"}, method=wire.HMAC_SHA256),
        json.dumps({"result": "E1002", "message": "", "sign": ""}).encode(),
        json.dumps({"result": "S0000", "message": "e30=", "sign": "签名"}).encode(),
        b"<html>502 Bad Gateway</html>",
        json.dumps({"result": "S0000", "message": "bm90IGpzb24=", "sign": "x"}).encode(),
    ],
)
def test_an_answer_that_is_not_signed_with_the_app_key_is_not_trusted(content):
    with pytest.raises(ProviderError) as error:
        wire.read_answer(content, sign_method=wire.HMAC_SM3, app_key=KEY)
    assert not isinstance(error.value, ProviderDeclined)


def test_the_documented_example_signs_as_docs_receipt_platform_md_says():
    form = wire.signed_parameters(
        app_id="330000-app-0001",
        app_key="k3Y-example-appKey",
        sign_method=wire.HMAC_SM3,
        service="query",
        message={"bizCode": "pay_k5qz3w7xv2m4n6p8r0ta"},
        noise="5f0c9a1e7d3b4c6a8e2f1b0d9c7a6e54",
    )
    documented = "984e27b6a049e918328bba5146f1c3e84364b04827f6c5e3403d1949fbea2492"
    alternative = "3135d6ad56ea1e030acfef063ad66330f7e299c31b755e1b740aea9cb88681c5"

    assert wire.text_to_sign(form) == (
        b"appid=330000-app-0001&message=eyJiaXpDb2RlIjoicGF5X2s1cXozdzd4djJtNG42cDhyMHRhIn0=&"
        b"noise=5f0c9a1e7d3b4c6a8e2f1b0d9c7a6e54&service=query&version=1.0"
    )
    assert form["sign"] == documented
    assert wire.sign(wire.HMAC_SHA256, "k3Y-example-appKey", form) == alternative
    refusal = {
        "result": "E3001",
        "message": wire.encode_message({"msg": "no receipt for this bizCode"}),
    }
    assert refusal["message"] == "eyJtc2ciOiJubyByZWNlaXB0IGZvciB0aGlzIGJpekNvZGUifQ=="
    assert wire.sign(wire.HMAC_SM3, "k3Y-example-appKey", refusal) == (
        "33d7ae66b15f027fc8fcd1eb93e35570698efd7209959292235a275897308807"
    )
