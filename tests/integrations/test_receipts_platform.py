"""The receipt platform adapter against its sandbox, a real HTTP peer on loopback."""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import date
from decimal import Decimal

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings
from gmssl import sm3 as gmssl_sm3
from gmssl.sm2 import CryptSM2
from pytest_django.live_server_helper import LiveServer

from integrations.crypto import sm2
from integrations.errors import ConfigurationError
from integrations.receipts import wire
from integrations.receipts.base import (
    InvalidReceipt,
    PayerType,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    ReceiptItem,
    ReceiptRequest,
    RedReceiptRequest,
)
from integrations.receipts.platform import HttpReceiptPlatform, build_receipt_platform
from sandboxes import state
from tests.integrations.helpers import unreachable_url, wait_for

pytestmark = pytest.mark.urls("config.sandbox_urls")


@pytest.fixture(scope="module")
def live_sandboxes():
    server = LiveServer("127.0.0.1:0")
    yield server
    server.stop()


@pytest.fixture
def server(live_sandboxes):
    """The sandboxes' server, every sandbox's state forgotten."""
    state.reset_all()
    return live_sandboxes


def platform_at(base_url: str, **changes) -> HttpReceiptPlatform:
    return build_receipt_platform({**settings.RECEIPTS, "base_url": base_url, **changes})


@pytest.fixture
def platform(server) -> HttpReceiptPlatform:
    return platform_at(f"{server.url}/sandbox/receipts")


def control(server, what: str, **body):
    url = f"{server.url}/sandbox/receipts/_control/{what}"
    answer = requests.post(url, json=body, timeout=5) if body else requests.get(url, timeout=5)
    answer.raise_for_status()
    return answer.json()


def paid(business_id: str = "pay_0001", **changes) -> ReceiptRequest:
    fields = {
        "business_id": business_id,
        "invoicing_party_code": "SCJG01",
        "invoicing_party_name": "市市场监督管理局",
        "payer_type": PayerType.PERSON,
        "payer_name": "张三",
        "items": (
            ReceiptItem("FEE-LIC", "营业执照工本费", Decimal(2), "本", 1500, 3000),
            ReceiptItem("FEE-COPY", "复印费 <A4> & 装订", Decimal("0.5"), "页", 100, 50),
        ),
        "total_fen": 3050,
        "pay_code": "11010012345678901238",
        "pay_mode": "public_platform",
        "paid_on": date(2025, 6, 1),
    }
    return ReceiptRequest(**{**fields, **changes})


def refund(original, amount_fen: int, business_id: str = "rf_0001") -> RedReceiptRequest:
    return RedReceiptRequest(business_id, original.code, original.number, amount_fen, "退款")


def gmssl_verifies(public_pem: str, signature: bytes, message: bytes) -> bool:
    """gmssl's SM2, a second implementation, on r||s in hex and the published key's point."""
    der = base64.b64decode("".join(public_pem.strip().splitlines()[1:-1]))
    implementation = CryptSM2(private_key="", public_key="", mode=1)
    implementation.public_key = der[-64:].hex()
    r, s = decode_dss_signature(signature)
    return implementation.verify_with_sm3(f"{r:064x}{s:064x}", message)


# -- issuing and downloading --------------------------------------------------------------


def test_an_issued_receipt_downloads_and_both_signatures_verify_here_and_with_gmssl(platform):
    receipt = platform.issue(paid())
    downloaded = platform.download(receipt.code, receipt.number)

    assert downloaded == receipt and downloaded.xml == receipt.xml
    assert re.fullmatch(r"3301[0-9]{4}", receipt.code) and receipt.number == "0000000001"
    assert receipt.total_fen == 3050 and receipt.business_id == "pay_0001"
    assert receipt.face.items[1].name == "复印费 <A4> & 装订"
    assert receipt.face.items[1].quantity == Decimal("0.5")
    assert receipt.face.paid_on == date(2025, 6, 1)
    # Anyone with the published keys and another SM2 implementation: the file's bytes.
    text = downloaded.xml.decode()
    original = "".join(
        re.search(f"<{part}>.*</{part}>", text, re.S)[0] for part in ("Header", "EInvoiceData")
    ).encode()
    issuer_value, finance_value = [
        base64.b64decode(value) for value in re.findall(r"<SignatureValue>([^<]*)<", text)
    ]
    [issuer_pem] = settings.RECEIPTS["issuer_public_keys"].values()
    [finance_pem] = settings.RECEIPTS["finance_public_keys"].values()
    digest = bytes.fromhex(gmssl_sm3.sm3_hash(list(original)))
    assert gmssl_verifies(issuer_pem, issuer_value, original)
    assert gmssl_verifies(finance_pem, finance_value, digest + issuer_value)


def test_issuing_again_under_the_same_business_id_answers_the_same_receipt(platform, server):
    first = platform.issue(paid())
    again = platform.issue(paid())

    assert again == first
    assert len(control(server, "receipts")["receipts"]) == 1


def test_the_same_business_id_with_another_content_is_declined(platform):
    platform.issue(paid())
    with pytest.raises(ProviderDeclined) as declined:
        platform.issue(paid(payer_name="李四"))
    assert declined.value.code == "E2002"


def test_an_organisation_payer_is_issued_with_its_code(platform):
    receipt = platform.issue(
        paid(
            payer_type=PayerType.ORGANISATION, payer_code="91330100MA2XXXXX0X", payer_name="某公司"
        )
    )
    assert receipt.face.payer_type is PayerType.ORGANISATION
    assert receipt.face.payer_code == "91330100MA2XXXXX0X"


def test_concurrent_issues_number_the_range_without_gaps_or_duplicates(platform, server):
    business_ids = [f"pay_{n:04d}" for n in range(20)] + ["pay_0000"] * 6
    numbers: list[str] = []
    errors: list[Exception] = []

    def issue(business_id: str) -> None:
        try:
            numbers.append(platform.issue(paid(business_id)).number)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(bid,)) for bid in business_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(set(numbers)) == [f"{n:010d}" for n in range(1, 21)]
    issued = control(server, "receipts")["receipts"]
    assert sorted(entry["number"] for entry in issued) == sorted(set(numbers))


def test_an_app_on_hmac_sha256_is_served_in_it(server):
    apps = settings.SANDBOX_RECEIPTS["apps"]
    [app_id] = [app_id for app_id, app in apps.items() if app["sign_method"] == "HMAC-SHA256"]
    platform = platform_at(
        f"{server.url}/sandbox/receipts",
        app_id=app_id,
        app_key=apps[app_id]["app_key"],
        sign_method="HMAC-SHA256",
    )
    assert platform.issue(paid()).number == "0000000001"


# -- red-letter receipts ------------------------------------------------------------------


def test_a_red_letter_receipt_for_part_then_more_than_remains_is_declined(platform):
    original = platform.issue(paid())

    red = platform.issue_red(refund(original, 3000))
    again = platform.issue_red(refund(original, 3000))
    with pytest.raises(ProviderDeclined) as declined:
        platform.issue_red(refund(original, 51, business_id="rf_0002"))
    rest = platform.issue_red(refund(original, 50, business_id="rf_0003"))

    assert again == red and red.is_red and red.total_fen == -3000
    assert (red.face.related_code, red.face.related_number) == (original.code, original.number)
    assert red.face.red_reason == "退款" and red.number == "0000000002"
    assert declined.value.code == "E3002"
    assert rest.total_fen == -50
    verified = platform.verify(original.code, original.number, original.check_code)
    assert verified.reddened_fen == 3050


def test_a_red_letter_receipt_of_an_unknown_receipt_is_declined(platform):
    original = platform.issue(paid())
    with pytest.raises(ProviderDeclined) as declined:
        platform.issue_red(RedReceiptRequest("rf_1", original.code, "0000009999", 100, "退款"))
    assert declined.value.code == "E3001"


# -- query, verify, download --------------------------------------------------------------


def test_query_finds_the_receipt_of_a_business_id_or_none(platform):
    receipt = platform.issue(paid())
    assert platform.query("pay_0001") == receipt
    assert platform.query("pay_9999") is None


def test_verification_says_whether_a_receipt_is_genuine(platform):
    receipt = platform.issue(paid())
    other = "000000" if receipt.check_code != "000000" else "000001"

    genuine = platform.verify(receipt.code, receipt.number, receipt.check_code)
    forged = platform.verify(receipt.code, receipt.number, other)

    assert genuine.genuine and genuine.receipt == receipt and genuine.reddened_fen == 0
    assert not forged.genuine and forged.receipt is None


def test_a_days_download_holds_every_receipt_issued_that_day_in_order(platform):
    first = platform.issue(paid())
    second = platform.issue(paid("pay_0002"))
    red = platform.issue_red(refund(first, 100))

    day = first.issued_at.date()

    # All three, unless Beijing's midnight fell between them.
    expected = tuple(r for r in (first, second, red) if r.issued_at.date() == day)
    assert platform.download_day(day) == expected and expected[0] == first
    assert platform.download_day(date(2020, 1, 1)) == ()


def test_downloading_an_unknown_receipt_is_declined(platform):
    with pytest.raises(ProviderDeclined) as declined:
        platform.download("33010125", "0000009999")
    assert declined.value.code == "E3001"


def test_a_receipt_kept_and_tampered_with_no_longer_verifies(platform):
    receipt = platform.issue(paid())
    assert platform.read(receipt.xml) == receipt

    tampered = receipt.xml.replace("张三".encode(), "李四".encode())

    with pytest.raises(InvalidReceipt, match="does not verify"):
        platform.read(tampered)


# -- failures -----------------------------------------------------------------------------


def test_a_platform_that_is_down_or_too_slow_is_unavailable_which_is_retryable(platform, server):
    control(server, "mode", mode="down")
    with pytest.raises(ProviderUnavailable):
        platform.issue(paid())

    control(server, "mode", mode="slow", delay_ms=800)
    impatient = platform_at(platform.base_url, timeout=(1.0, 0.3))
    with pytest.raises(ProviderUnavailable):
        impatient.issue(paid())

    control(server, "mode", mode="up")
    # The slow call was issued after all: issuing again answers that receipt, numbered once.
    wait_for(lambda: len(control(server, "receipts")["receipts"]) == 1)
    assert platform.issue(paid()).number == "0000000001"
    assert len(control(server, "receipts")["receipts"]) == 1


def test_an_unreachable_platform_is_unavailable():
    with pytest.raises(ProviderUnavailable):
        platform_at(unreachable_url()).issue(paid())


def test_a_request_signed_with_another_key_is_refused_and_nothing_issued(platform, server):
    forger = platform_at(platform.base_url, app_key="not the app key")

    with pytest.raises(ProviderError) as refused:
        forger.issue(paid())

    # The platform signs its refusal with the real key, which the forger cannot check.
    assert not isinstance(refused.value, ProviderUnavailable | ProviderDeclined)
    assert control(server, "receipts")["receipts"] == []


def test_an_answer_carrying_another_receipt_than_asked_for_is_refused(platform, stub_server):
    other = platform.issue(paid("pay_0002"))
    message = {
        "bizCode": other.business_id,
        "eInvoiceCode": other.code,
        "eInvoiceNumber": other.number,
        "randomNumber": other.check_code,
        "totalAmount": wire.yuan(other.total_fen),
        "eInvoiceXml": base64.b64encode(other.xml).decode(),
    }
    fields = {"result": "S0000", "message": wire.encode_message(message)}
    sign = wire.sign(platform.sign_method, settings.RECEIPTS["app_key"], fields)
    impostor = stub_server(default=(200, json.dumps({**fields, "sign": sign}).encode()))

    with pytest.raises(ProviderError, match="not the one asked for"):
        platform_at(impostor.url).issue(paid("pay_0001"))


def test_a_signing_key_that_cannot_be_read_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        platform_at("http://receipts.invalid", issuer_public_keys={"1": "not a key"})
    with pytest.raises(ConfigurationError):
        platform_at("http://receipts.invalid", sign_method="MD5")
    stranger = sm2.public_key_pem(sm2.generate_private_key().public_key())
    assert platform_at("http://receipts.invalid", finance_public_keys={"9": stranger})
