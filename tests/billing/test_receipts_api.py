"""The receipts as the payer gets them: the portal's orders' receipts, the public lookup by
payment code and check code, and each as a PDF with its QR code."""

from __future__ import annotations

from io import BytesIO

import pytest
import zxingcpp
from django.core.cache import cache
from django.db import transaction
from pypdf import PdfReader
from rest_framework.test import APIClient

from billing.models import PaymentOrder, Receipt, ReceiptStatus
from billing.payment_codes import payment_code_format
from billing.receipt_pdf import qr_payload
from billing.receipts import receipt_file, receipt_red_request, receipt_request
from tests.billing.conftest import portal_api
from tests.billing.test_receipts import held_back, send_now
from tests.billing.test_revenue_push import department_in, paid_order, refund_of

S = ReceiptStatus


def issue(receipt: Receipt) -> Receipt:
    receipt = send_now(held_back(receipt))  # against the live sandbox
    assert receipt.status == S.ISSUED, receipt.last_error
    return receipt


@pytest.fixture
def portal(live_service):
    return portal_api()


def portals_paid_order(portal, department) -> PaymentOrder:
    """A paid order of ``portal``'s, with a payment code the public lookup accepts."""
    order = paid_order(department)
    order.payment_code = payment_code_format().generate(region_code=department.region_code)
    order.created_by = portal.api_client
    order.save(update_fields=["payment_code", "created_by"])
    return order


@pytest.fixture
def order(portal) -> PaymentOrder:
    return portals_paid_order(portal, department_in("330100", code="330100-SCJG"))


@pytest.fixture
def blue(order) -> Receipt:
    with transaction.atomic():
        receipt = receipt_request(order=order)
    return issue(receipt)


@pytest.fixture
def red(order, blue) -> Receipt:
    with transaction.atomic():
        receipt = receipt_red_request(order=order, refund=refund_of(order, 1000))
    return issue(receipt)


def error_code(response) -> str:
    return response.json()["error"]["code"]


# The portal


def test_the_portal_reads_its_orders_receipt_with_its_face_and_red_letter_receipts(
    portal, order, blue, red
):
    answer = portal.get(f"/api/v1/payment-orders/{order.public_id}/receipt")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["order"] == order.public_id
    assert (body["kind"], body["status"], body["amount"]) == ("normal", "issued", 3000)
    assert (body["code"], body["number"], body["check_code"]) == (
        blue.code,
        blue.number,
        blue.check_code,
    )
    assert body["download"] == f"/api/v1/payment-orders/{order.public_id}/receipt.pdf"
    face = body["face"]
    assert (face["payer_type"], face["payer_name"], face["payer_code"]) == ("person", "张三", "")
    assert face["invoicing_party_code"] == "330100-SCJG"
    assert face["pay_code"] == order.payment_code and face["total"] == 3000
    assert face["items"] == [
        {
            "code": "FEE-330100-SCJG",
            "name": "营业执照工本费",
            "quantity": "2",
            "unit": "次",
            "standard": 1500,
            "amount": 3000,
        }
    ]
    assert "id_number" not in str(body) and "110101" not in str(body)
    [reddened] = body["red_receipts"]
    assert (reddened["kind"], reddened["amount"], reddened["number"]) == ("red", -1000, red.number)
    assert reddened["face"]["related_number"] == blue.number
    assert reddened["download"].endswith(f"receipt.pdf?number={red.number}")


def test_a_receipt_not_yet_issued_is_answered_with_its_status_only(portal, order, settings):
    settings.RECEIPTS = {**settings.RECEIPTS, "base_url": "http://127.0.0.1:9/receipts"}  # down
    with transaction.atomic():
        receipt_request(order=order)

    body = portal.get(f"/api/v1/payment-orders/{order.public_id}/receipt").json()

    assert body["status"] == "requested"
    assert body["code"] is body["face"] is body["download"] is None
    pdf = portal.get(f"/api/v1/payment-orders/{order.public_id}/receipt.pdf")
    assert pdf.status_code == 404 and error_code(pdf) == "receipt_not_issued"


def test_another_portals_order_and_an_unpaid_order_have_no_receipt_to_read(
    portal, order, blue, finance
):
    other = portal_api("other-portal")
    unpaid = portals_paid_order(portal, order.department)  # no receipt asked for

    for path in ("receipt", "receipt.pdf"):
        theirs = other.get(f"/api/v1/payment-orders/{order.public_id}/{path}")
        assert theirs.status_code == 404 and error_code(theirs) == "not_found"
        none_yet = portal.get(f"/api/v1/payment-orders/{unpaid.public_id}/{path}")
        assert none_yet.status_code == 404 and error_code(none_yet) == "receipt_not_found"
        assert finance.get(f"/api/v1/payment-orders/{order.public_id}/{path}").status_code == 200


# The public lookup


@pytest.fixture
def anyone():
    client = APIClient(REMOTE_ADDR="203.0.113.7")  # a bucket of its own for the throttle
    yield client
    cache.clear()


def test_anyone_with_the_payment_code_and_check_code_sees_the_receipts_face(anyone, order, red):
    found = anyone.get(
        f"/api/v1/payment-codes/{order.payment_code}/receipt", {"check_code": red.check_code}
    )

    assert found.status_code == 200, found.content
    body = found.json()
    assert (body["kind"], body["number"], body["amount"]) == ("red", red.number, -1000)
    assert body["face"]["payer_name"] == "张三"
    assert body["download"] == (
        f"/api/v1/payment-codes/{order.payment_code}/receipt.pdf?check_code={red.check_code}"
    )
    assert "order" not in body and "red_receipts" not in body


def test_a_wrong_or_malformed_check_code_finds_nothing(anyone, portal, order, blue):
    wrong = "0" * 6 if blue.check_code != "0" * 6 else "1" * 6
    url = f"/api/v1/payment-codes/{order.payment_code}/receipt"

    missing = anyone.get(url, {"check_code": wrong})
    malformed = anyone.get(url, {"check_code": "ABC!"})
    another = portals_paid_order(portal, order.department)
    other_order = anyone.get(
        f"/api/v1/payment-codes/{another.payment_code}/receipt", {"check_code": blue.check_code}
    )

    assert missing.status_code == 404 and error_code(missing) == "receipt_not_found"
    assert malformed.status_code == 400 and "check_code" in malformed.json()["error"]["fields"]
    assert other_order.status_code == 404
    pdf = anyone.get(f"{url}.pdf", {"check_code": wrong})
    assert pdf.status_code == 404 and pdf["Content-Type"] == "application/json"


def test_the_lookup_and_its_pdf_are_throttled_at_the_payment_code_lookups_rate(anyone, order, blue):
    url = f"/api/v1/payment-codes/{order.payment_code}/receipt"
    answers = [anyone.get(url, {"check_code": blue.check_code}).status_code for _ in range(25)]
    answers += [anyone.get(f"{url}.pdf", {"check_code": "0" * 6}).status_code for _ in range(6)]

    assert answers[:25] == [200] * 25 and answers[25:30] == [404] * 5
    throttled = anyone.get(f"{url}.pdf", {"check_code": blue.check_code})
    assert answers[30] == 429
    assert throttled.status_code == 429 and error_code(throttled) == "throttled"


# The PDF


def pdf_of(response) -> PdfReader:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    return PdfReader(BytesIO(response.content))


def qr_text(reader: PdfReader) -> str:
    [image] = reader.pages[0].images
    [code] = zxingcpp.read_barcodes(image.image)
    return code.text


def test_the_receipts_pdf_shows_its_face_and_a_qr_code_to_verify_it(portal, order, blue):
    reader = pdf_of(portal.get(f"/api/v1/payment-orders/{order.public_id}/receipt.pdf"))

    text = reader.pages[0].extract_text()
    for shown in (blue.code, blue.number, blue.check_code, "张三", "营业执照工本费"):
        assert shown in text
    assert "叁拾元整" in text and "30.00" in text
    assert "330100-SCJG" in text
    day = blue.issued_at.astimezone(receipt_file(blue).issued_at.tzinfo).strftime("%Y%m%d")
    assert qr_text(reader) == f"{blue.code},{blue.number},{blue.check_code},30.00,{day}"
    assert qr_text(reader) == qr_payload(receipt_file(blue))


def test_a_red_letter_receipts_pdf_names_the_receipt_it_reddens(portal, anyone, order, blue, red):
    by_portal = pdf_of(
        portal.get(f"/api/v1/payment-orders/{order.public_id}/receipt.pdf", {"number": red.number})
    )
    by_anyone = pdf_of(
        anyone.get(
            f"/api/v1/payment-codes/{order.payment_code}/receipt.pdf",
            {"check_code": red.check_code},
        )
    )

    for reader in (by_portal, by_anyone):
        text = reader.pages[0].extract_text()
        assert red.number in text and "（红字）" in text
        assert "负壹拾元整" in text and "-10.00" in text
        assert f"{blue.code}-{blue.number}" in text
        assert qr_text(reader).startswith(f"{red.code},{red.number},{red.check_code},-10.00,")
    unknown = portal.get(
        f"/api/v1/payment-orders/{order.public_id}/receipt.pdf", {"number": "9999999999"}
    )
    assert unknown.status_code == 404 and error_code(unknown) == "receipt_not_found"
