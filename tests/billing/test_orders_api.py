from __future__ import annotations

import pytest

from billing.models import FeeItem, OrderStatus, PaymentOrder
from billing.payment_codes import RegionSerialCode
from core.models import AuditRecord
from tests.billing.conftest import LEGAL_ID, NATURAL_ID, create_order, order_body, portal_api
from tests.conftest import SERVICE_ITEM, charged_by_service_item

pytestmark = pytest.mark.django_db


def post_order(api, body, key="k-1"):
    return api.post("/api/v1/payment-orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_created_order_is_unpaid_with_total_and_masked_payer(portal, fixed_fee):
    response = post_order(portal, order_body())

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("po_")
    assert body["status"] == "unpaid"
    assert body["amount"] == 3000
    assert body["currency"] == "CNY"
    assert body["payer"] == {"type": "natural", "name": "张三", "id_number": "1101**********002X"}
    assert body["lines"] == [
        {
            "fee_item": "FEE-LIC",
            "fee_item_name": "营业执照工本费",
            "quantity": 2,
            "unit_amount": 1500,
            "amount": 3000,
            "standard_unit_amount": 1500,
            "waiver_reason": "",
            "waiver_approved_by": "",
            "waiver_approval_ref": "",
        }
    ]
    assert (body["service_item_code"], body["stage"]) == (SERVICE_ITEM, "acceptance")
    assert RegionSerialCode().is_valid(body["payment_code"])
    assert body["payment_code"].startswith("330100")
    assert len(body["verification_code"]) == 6


def test_payer_identity_is_encrypted_at_rest_and_found_by_exact_value(portal, finance, fixed_fee):
    created = create_order(portal)
    create_order(portal, payer={"type": "legal", "name": "某某公司", "id_number": LEGAL_ID})

    row = PaymentOrder.objects.get(public_id=created["id"])
    assert NATURAL_ID not in row.payer_id_number_encrypted
    assert "13800138000" not in row.payer_phone_encrypted
    found = finance.get("/api/v1/payment-orders", {"payer_id_number": NATURAL_ID.lower()}).json()
    assert [order["id"] for order in found["results"]] == [created["id"]]


def test_id_number_with_a_wrong_check_digit_is_refused_by_field(portal, fixed_fee):
    body = order_body(payer={"type": "natural", "name": "张三", "id_number": "110105194912310021"})

    response = post_order(portal, body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert "id_number" in error["fields"]["payer"]
    assert not PaymentOrder.objects.exists()


def test_same_key_and_body_returns_the_first_order(portal, fixed_fee):
    first = post_order(portal, order_body(), key="same")
    second = post_order(portal, order_body(), key="same")

    assert second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert PaymentOrder.objects.count() == 1


def test_same_key_with_another_body_is_a_conflict(portal, fixed_fee):
    post_order(portal, order_body(), key="same")

    response = post_order(portal, order_body(case_number="OTHER-CASE"), key="same")

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert PaymentOrder.objects.count() == 1


def test_keys_of_different_clients_do_not_collide(portal, fixed_fee):
    other = portal_api("second-portal")
    first = post_order(portal, order_body(), key="same").json()
    second = post_order(other, order_body(case_number="X"), key="same").json()

    assert first["id"] != second["id"]


def test_missing_idempotency_key_is_refused(portal, fixed_fee):
    response = portal.post("/api/v1/payment-orders", order_body(), format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_missing"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ({"fee_item": "FEE-LIC", "quantity": 1, "amount": 1600}, "above the standard"),
        ({"fee_item": "FEE-LIC", "quantity": 1, "amount": 750}, "needs a waiver_reason"),
        (
            {"fee_item": "FEE-LIC", "quantity": 1, "amount": 750, "waiver_reason": "因为"},
            "not allowed",
        ),
        ({"fee_item": "FEE-RNG", "quantity": 1, "amount": 60000}, "above the range"),
        ({"fee_item": "NOPE", "quantity": 1, "amount": 100}, "Unknown"),
    ],
)
def test_lines_are_checked_against_the_catalogue(portal, fixed_fee, range_fee, line, problem):
    response = post_order(portal, order_body(lines=[line]))

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "fee_item_mismatch"
    assert problem in error["fields"]["lines"]["0"][0]


def test_a_waiver_allowed_by_the_fee_item_reduces_the_amount(portal, fixed_fee, range_fee):
    lines = [
        {
            "fee_item": "FEE-LIC",
            "quantity": 1,
            "amount": 750,
            "waiver_reason": "低保对象减半",
            "waiver_approved_by": "王科长",
            "waiver_approval_ref": "JM-2026-001",
        },
        {"fee_item": "FEE-RNG", "quantity": 1, "amount": 20000},
    ]
    response = post_order(portal, order_body(lines=lines))

    assert response.status_code == 201
    assert response.json()["amount"] == 20750


def test_a_zero_total_without_a_waiver_makes_no_order(portal, department):
    free = FeeItem.objects.create(
        code="FEE-FREE",
        name="查询费",
        department=department,
        legal_basis="收费标准",
        min_amount=0,
        max_amount=500,
    )
    charged_by_service_item(free)
    lines = [{"fee_item": "FEE-FREE", "quantity": 1, "amount": 0}]

    response = post_order(portal, order_body(lines=lines))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "zero_amount"
    assert not PaymentOrder.objects.exists()


def test_a_fee_item_of_another_department_is_refused(portal, fixed_fee, other_department):
    response = post_order(portal, order_body(department="GA01"))

    assert response.status_code == 400
    assert "not collected by department GA01" in response.json()["error"]["fields"]["lines"]["0"][0]


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"lines": "x", "payer": 5, "region_code": 12}', "application/json"),
        ("\u0000\udc80".encode("utf-8", "surrogatepass"), "application/json"),
    ],
)
def test_malformed_bodies_get_a_json_4xx(portal, fixed_fee, payload, content_type):
    response = portal.generic(
        "POST",
        "/api/v1/payment-orders",
        payload,
        content_type=content_type,
        HTTP_IDEMPOTENCY_KEY="m",
    )

    assert 400 <= response.status_code < 500
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"]


def test_non_json_media_type_is_refused(portal, fixed_fee):
    response = portal.generic(
        "POST",
        "/api/v1/payment-orders",
        "a=b",
        content_type="application/x-www-form-urlencoded",
        HTTP_IDEMPOTENCY_KEY="m",
    )

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_callers_without_a_key_or_with_the_wrong_role_are_refused(client, fixed_fee):
    from core.auth import api_client_create

    anonymous = client.get("/api/v1/payment-orders")
    _, courier_key = api_client_create(name="sf", role="courier")
    courier = client.get("/api/v1/payment-orders", HTTP_AUTHORIZATION=f"Bearer {courier_key}")
    revoked = client.get("/api/v1/payment-orders", HTTP_AUTHORIZATION="Bearer gpk_unknown")

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    assert courier.status_code == 403
    assert courier.json()["error"]["code"] == "permission_denied"
    assert revoked.status_code == 401


def test_unknown_paths_answer_json_404(portal):
    response = portal.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_portal_sees_only_its_own_orders(portal, fixed_fee):
    mine = create_order(portal)
    other = portal_api("second-portal")

    assert other.get(f"/api/v1/payment-orders/{mine['id']}").status_code == 404
    assert other.get("/api/v1/payment-orders").json()["results"] == []
    assert portal.get(f"/api/v1/payment-orders/{mine['id']}").json()["id"] == mine["id"]


def test_a_portal_cannot_start_paying_another_portals_order(portal, fixed_fee):
    mine = create_order(portal)
    other = portal_api("second-portal")

    response = other.post(
        f"/api/v1/payment-orders/{mine['id']}/payments",
        {"channel": "public_platform"},
        format="json",
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    order = PaymentOrder.objects.get(public_id=mine["id"])
    assert order.status == OrderStatus.UNPAID and not order.attempts.exists()


def test_list_filters_and_pages_with_a_cursor(portal, fixed_fee):
    ids = [create_order(portal, case_number=f"CASE-{n % 2}")["id"] for n in range(5)]

    first = portal.get("/api/v1/payment-orders", {"page_size": 2}).json()
    second = portal.get(first["next"]).json()
    by_case = portal.get("/api/v1/payment-orders", {"case_number": "CASE-1"}).json()
    bad_filter = portal.get("/api/v1/payment-orders", {"status": "nonsense"})

    assert [o["id"] for o in first["results"] + second["results"]] == ids[::-1][:4]
    assert {o["id"] for o in by_case["results"]} == {ids[1], ids[3]}
    assert bad_filter.status_code == 400


def test_public_lookup_needs_the_verification_code(client, portal, fixed_fee):
    order = create_order(portal)
    url = f"/api/v1/payment-codes/{order['payment_code']}"

    found = client.get(url, {"verification_code": order["verification_code"]})
    wrong = client.get(
        url, {"verification_code": str((int(order["verification_code"]) + 1) % 10**6).zfill(6)}
    )
    malformed = client.get("/api/v1/payment-codes/12345", {"verification_code": "000000"})

    assert found.status_code == 200
    assert found.json()["amount"] == 3000
    assert found.json()["payer_name"] == "张*"
    assert wrong.status_code == 404
    assert malformed.status_code == 400


def test_cancelling_an_unpaid_order_is_audited_and_final(portal, fixed_fee):
    order = create_order(portal)

    cancelled = portal.post(
        f"/api/v1/payment-orders/{order['id']}/cancel", {"reason": "withdrawn"}, format="json"
    )
    again = portal.post(f"/api/v1/payment-orders/{order['id']}/cancel", {}, format="json")

    assert cancelled.json()["status"] == OrderStatus.CANCELLED
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "illegal_transition"
    audit = AuditRecord.objects.get(object_id=order["id"], action="payment_order.cancelled")
    assert (audit.from_status, audit.to_status, audit.reason) == (
        "unpaid",
        "cancelled",
        "withdrawn",
    )
