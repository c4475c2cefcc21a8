"""The shipment API: validation, idempotency, freight, cancel, personal data and lists.

In-process (APIClient) where no outside party is involved; over HTTP with the courier and
payment sandboxes and a real worker where one is.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import (
    FeeKind,
    OrderStatus,
    PaymentOrder,
    Refund,
    RefundStatus,
    RevenueRecord,
    StaffScope,
)
from billing.services import closing
from billing.services import orders as payment_orders
from billing.staff import ensure_finance_group
from core.auth import api_client_create
from core.models import AuditRecord, IdempotencyRecord
from ledger.models import LedgerPosting
from logistics import contacts
from logistics.models import CourierPush, PushStatus, Shipment, ShipmentStatus, UndeliverableRule
from logistics.services import booking
from logistics.services.shipments import AWAITING_CHOICE
from logistics.services.tracking import UNDELIVERABLE_ACTIONS
from logistics.tasks import sweep_bookings
from outbox.engine import apply_due
from tests.billing.conftest import portal_api
from tests.conftest import make_department
from tests.logistics.conftest import (
    applicant_payer,
    booked,
    create_shipment,
    get_shipment,
    shipment_body,
    wait_for,
)

SHIPMENTS = "/api/v1/shipments"
RECIPIENT_PHONE = "13800138000"
RECIPIENT_STREET = "文三路90号1幢302室"
SENDER_PHONE = "0571-87654321"
live = pytest.mark.django_db(transaction=True)
_keys = itertools.count()


# -- helpers ----------------------------------------------------------------------------


@pytest.fixture
def portal(agency, freight_item) -> APIClient:
    """The portal client, in-process; the agency collects freight."""
    return portal_api()


def post_shipment(api: APIClient, body: dict, *, key: str | None = None):
    return api.post(
        SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY=key or f"api-{next(_keys)}"
    )


def created(api: APIClient, **overrides) -> dict:
    response = post_shipment(api, shipment_body(**overrides))
    assert response.status_code == 201, response.content
    return response.json()


def applicant_pays(**overrides) -> dict:
    return {"freight_payer": "applicant", "payer": applicant_payer(), **overrides}


def recipient(**changes) -> dict:
    return {**shipment_body()["recipient"], **changes}


def item(agency_name: str) -> dict:
    return {"kind": "certificate", "title": "许可证", "issuing_agency": agency_name}


def error_of(response, status: int) -> dict:
    """The one error shape of every 4xx, checked; returns its inner object."""
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["message"]
    return error


def ids(page) -> set[str]:
    assert page.status_code == 200, page.content
    return {shipment["case_number"] for shipment in page.json()["results"]}


def audits(action: str, shipment_id: str):
    return AuditRecord.objects.filter(action=action, object_id=shipment_id)


def with_courier_settings(settings, courier: str, **changes) -> None:
    """Change one courier's LOGISTICS settings for this test only."""
    logistics = copy.deepcopy(settings.LOGISTICS)
    logistics["couriers"][courier].update(changes)
    settings.LOGISTICS = logistics


def staff_api(username: str, *, departments=(), view_contacts: bool = False) -> APIClient:
    """A finance staff user using the API with a session, as the console does."""
    user = User.objects.create_user(username, password=f"pw-{username}", is_staff=True)
    user.groups.add(ensure_finance_group())
    if departments:
        StaffScope.objects.create(user=user).departments.add(*departments)
    if view_contacts:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="logistics", codename="view_contacts")
        )
    api = APIClient()
    api.force_login(user)
    return api


def until(condition: Callable[[], object], seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, "the condition did not become true in time"
        time.sleep(0.05)
    return value


def pay_freight(http: requests.Session, order_id: str) -> dict:
    """Pay the freight order at the public platform's sandbox cashier."""
    started = http.post(
        f"{http.base}/api/v1/payment-orders/{order_id}/payments",
        json={"channel": "public_platform"},
    )
    assert started.status_code == 201, started.text
    attempt = started.json()
    paid = requests.post(attempt["pay_url"], json={"result": "success"}, timeout=10)
    assert paid.status_code == 200, paid.text
    return attempt


def cancel(http: requests.Session, shipment_id: str) -> requests.Response:
    return http.post(f"{http.base}{SHIPMENTS}/{shipment_id}/cancel", json={})


def courier_scan(http: requests.Session, courier: str, waybill_no: str, **body):
    return requests.post(
        f"{http.base}/sandbox/{courier}/_control/waybills/{waybill_no}/scan", json=body, timeout=5
    )


def expected_freight(courier: str, service_level: str, declared_value: int) -> int:
    tariff = settings.LOGISTICS["couriers"][courier]["tariff"]
    return tariff["base"][service_level] + declared_value * tariff["insurance_permille"] // 1000


# -- validation -------------------------------------------------------------------------

PAST = (timezone.now() - timedelta(hours=1)).isoformat()
BAD_INPUTS = [
    pytest.param(
        {"recipient": recipient(region_code="33010")},
        ("recipient", "region_code"),
        id="bad_region_code",
    ),
    pytest.param(
        {"recipient": recipient(phone="1380013800")}, ("recipient", "phone"), id="bad_phone"
    ),
    pytest.param({"department": "NOPE01"}, ("department",), id="unknown_department"),
    pytest.param({"deliver_by": PAST}, ("deliver_by",), id="deliver_by_in_the_past"),
    pytest.param({"courier": "dhl"}, ("courier",), id="unknown_courier"),
    pytest.param(
        {"courier": "ems", "service_level": "express"},
        ("service_level",),
        id="service_level_the_courier_lacks",
    ),
    pytest.param({"freight_payer": "applicant"}, ("payer",), id="applicant_freight_without_payer"),
    pytest.param(
        {"consolidation": "consolidated", "parallel_approval_id": "PA-1"},
        ("consolidation",),
        id="consolidated_with_one_agency",
    ),
    pytest.param(
        {"consolidation": "separate", "items": [item("市市场监督管理局")]},
        ("consolidation",),
        id="separate_without_parallel_approval_id",
    ),
    pytest.param(
        {
            "kind": "materials",
            "consolidation": "consolidated",
            "parallel_approval_id": "PA-1",
            "items": [item("市市场监督管理局"), item("市公安局")],
        },
        ("consolidation",),
        id="materials_consolidated",
    ),
]


@pytest.mark.parametrize(("overrides", "field"), BAD_INPUTS)
def test_bad_input_is_a_400_with_the_error_body_and_creates_nothing(
    portal, settings, overrides, field
):
    # Here EMS offers no express service, so one case asks for a level its courier lacks.
    with_courier_settings(settings, "ems", service_levels={"standard": "1"})

    response = post_shipment(portal, shipment_body(**overrides), key="bad-then-good")

    fields = error_of(response, 400)["fields"]
    for name in field:
        assert name in fields, fields
        fields = fields[name]
    assert not Shipment.objects.exists()
    assert not PaymentOrder.objects.exists()
    assert not AuditRecord.objects.filter(object_type__in=["Shipment", "PaymentOrder"]).exists()
    assert not IdempotencyRecord.objects.exists()
    # The refused request used up nothing: the same key then creates the valid shipment.
    assert post_shipment(portal, shipment_body(), key="bad-then-good").status_code == 201


def test_a_consolidated_result_of_two_agencies_is_accepted(portal):
    shipment = created(
        portal,
        consolidation="consolidated",
        parallel_approval_id="PA-7",
        items=[item("市市场监督管理局"), item("市公安局")],
    )

    assert (shipment["consolidation"], shipment["parallel_approval_id"]) == ("consolidated", "PA-7")
    assert len(shipment["items"]) == 2


# -- Idempotency-Key --------------------------------------------------------------------


def test_the_same_key_and_body_replay_the_first_response_and_create_once(portal):
    body = shipment_body(**applicant_pays())

    first = post_shipment(portal, body, key="once")
    again = post_shipment(portal, body, key="once")

    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Shipment.objects.count() == 1
    assert PaymentOrder.objects.filter(purpose=FeeKind.FREIGHT).count() == 1


def test_the_same_key_with_another_body_is_a_422_and_creates_nothing_more(portal):
    first = post_shipment(portal, shipment_body(), key="reused")

    other = post_shipment(portal, shipment_body(case_number="SC-2026-000999"), key="reused")

    assert first.status_code == 201
    assert error_of(other, 422)["code"] == "idempotency_key_reused"
    assert list(Shipment.objects.values_list("case_number", flat=True)) == ["SC-2026-000777"]


def test_a_create_without_an_idempotency_key_is_a_400_and_creates_nothing(portal):
    response = portal.post(SHIPMENTS, shipment_body(), format="json")

    assert error_of(response, 400)["code"] == "idempotency_key_missing"
    assert not Shipment.objects.exists()


# -- the applicant's freight ------------------------------------------------------------


def test_applicant_freight_becomes_a_freight_order_and_the_pickup_waits_for_it(portal):
    shipment = created(portal, **applicant_pays(courier="ems", declared_value=123_456))

    order = PaymentOrder.objects.get(public_id=shipment["freight_order"])
    freight = expected_freight("ems", "standard", 123_456)
    assert freight == 1800 + 1234  # the tariff's base plus 1% insurance, rounded down
    assert (order.purpose, order.amount, order.status) == (FeeKind.FREIGHT, freight, "unpaid")
    assert order.lines.get().fee_item.code == "SCJG-JDF"
    assert shipment["freight_amount"] == freight
    assert shipment["freight_payment_code"] == order.payment_code
    code = shipment["freight_verification_code"]
    assert len(code) == 6 and code.isdigit()
    assert payment_orders.verification_code_hash(code) == order.verification_code_hash
    assert (shipment["status"], shipment["waybill_no"]) == ("awaiting_freight", "")
    stored = Shipment.objects.get(public_id=shipment["id"])
    assert stored.next_booking_at is None
    assert stored.pk not in booking.shipments_due_for_booking(now=timezone.now() + timedelta(1))


def test_agency_freight_has_no_order_and_is_due_for_booking_at_once(portal):
    shipment = created(portal)

    assert shipment["freight_order"] is None
    assert shipment["freight_payment_code"] is None
    assert shipment["freight_verification_code"] == ""
    assert shipment["status"] == "pending"
    assert Shipment.objects.get(public_id=shipment["id"]).pk in booking.shipments_due_for_booking()


@live
def test_paid_freight_books_the_pickup_and_is_owed_to_the_courier_not_revenue(
    portal_http, task_worker
):
    shipment = create_shipment(portal_http, **applicant_pays())
    assert sweep_bookings() == 0  # nothing is booked before the freight is paid
    assert get_shipment(portal_http, shipment["id"])["waybill_no"] == ""

    attempt = pay_freight(portal_http, shipment["freight_order"])

    done = booked(portal_http, shipment["id"])
    assert done["status"] == "pending"
    order = PaymentOrder.objects.get(public_id=shipment["freight_order"])
    assert order.status == OrderStatus.PAID
    posting = LedgerPosting.objects.get(kind="payment", reference=attempt["id"])
    assert {(e.account.code, e.debit, e.credit) for e in posting.entries.all()} == {
        ("clearing:public_platform", order.amount, 0),
        ("freight_payable:SCJG01", 0, order.amount),
    }
    assert not RevenueRecord.objects.filter(order=order).exists()


@pytest.mark.parametrize(
    "close",
    [
        pytest.param(
            lambda order_id: closing.payment_order_expire(public_id=order_id), id="expired"
        ),
        pytest.param(
            lambda order_id: closing.payment_order_cancel(public_id=order_id, actor="user:clerk"),
            id="cancelled",
        ),
    ],
)
def test_a_freight_order_that_expires_or_is_cancelled_cancels_its_shipment(portal, close):
    shipment = created(portal, **applicant_pays())

    close(shipment["freight_order"])

    assert Shipment.objects.get(public_id=shipment["id"]).status == ShipmentStatus.AWAITING_FREIGHT
    assert apply_due("app_event") == 1  # billing's event, applied once it has committed
    stored = Shipment.objects.get(public_id=shipment["id"])
    assert (stored.status, stored.next_booking_at) == (ShipmentStatus.CANCELLED, None)
    row = audits("shipment.cancelled", shipment["id"]).get()
    assert (row.from_status, row.actor) == ("awaiting_freight", "system")


def test_cancelling_a_shipment_awaiting_freight_cancels_its_freight_order(portal):
    shipment = created(portal, **applicant_pays())

    response = portal.post(f"{SHIPMENTS}/{shipment['id']}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    order = PaymentOrder.objects.get(public_id=shipment["freight_order"])
    assert order.status == OrderStatus.CANCELLED


def test_the_portal_gives_its_reason_for_a_cancellation_or_a_default_is_recorded(portal):
    given = created(portal, **applicant_pays())
    left = created(portal, **applicant_pays())

    assert (
        portal.post(
            f"{SHIPMENTS}/{given['id']}/cancel", {"reason": "申请人改为窗口自取"}, format="json"
        ).status_code
        == 200
    )
    assert portal.post(f"{SHIPMENTS}/{left['id']}/cancel").status_code == 200
    too_long = portal.post(f"{SHIPMENTS}/{left['id']}/cancel", {"reason": "x" * 201}, format="json")

    assert audits("shipment.cancelled", given["id"]).get().reason == "申请人改为窗口自取"
    assert audits("shipment.cancelled", left["id"]).get().reason == "cancelled by the portal"
    assert too_long.status_code == 400
    assert too_long.json()["error"]["fields"]["reason"]


# -- cancel -----------------------------------------------------------------------------


@live
def test_a_booked_shipment_cancelled_before_pickup_is_cancelled_at_the_courier_too(
    portal_http, task_worker
):
    shipment = create_shipment(portal_http, courier="ems")
    waybill = booked(portal_http, shipment["id"])["waybill_no"]

    response = cancel(portal_http, shipment["id"])

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert courier_scan(portal_http, "ems", waybill, opCode="203").status_code == 409
    assert get_shipment(portal_http, shipment["id"])["status"] == "cancelled"


@live
@pytest.mark.parametrize("service_knows", [True, False], ids=["pickup_recorded", "pickup_unheard"])
def test_cancel_after_the_pickup_scan_is_a_409_and_changes_nothing(
    portal_http, task_worker, settings, service_knows
):
    if not service_knows:
        # The courier's push is refused (not from its addresses): only EMS knows of the pickup.
        with_courier_settings(settings, "ems", push_sources=["192.0.2.0/24"])
    shipment = create_shipment(portal_http, courier="ems")
    waybill = booked(portal_http, shipment["id"])["waybill_no"]
    assert courier_scan(portal_http, "ems", waybill, opCode="203").status_code == 200
    if not service_knows:
        until(lambda: CourierPush.objects.filter(status=PushStatus.REJECTED).exists())
    expected = "picked_up" if service_knows else "pending"
    before = wait_for(portal_http, shipment["id"], lambda s: s["status"] == expected)

    response = cancel(portal_http, shipment["id"])

    assert error_of(response, 409)["code"] == "illegal_transition"
    after = get_shipment(portal_http, shipment["id"])
    assert (after["status"], after["waybill_no"]) == (expected, waybill)
    assert after == before
    assert not audits("shipment.cancelled", shipment["id"]).exists()
    # The courier still has the parcel: it keeps scanning it.
    assert courier_scan(portal_http, "ems", waybill, opCode="306").status_code == 200


@live
def test_an_applicant_who_cancels_before_pickup_gets_the_freight_refunded(portal_http, task_worker):
    shipment = create_shipment(portal_http, **applicant_pays(courier="ems"))
    pay_freight(portal_http, shipment["freight_order"])
    waybill = booked(portal_http, shipment["id"])["waybill_no"]

    response = cancel(portal_http, shipment["id"])

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    refund = until(
        lambda: Refund.objects.filter(
            order__public_id=shipment["freight_order"], status=RefundStatus.SUCCEEDED
        ).first()
    )
    order = until(
        lambda: PaymentOrder.objects.filter(
            public_id=shipment["freight_order"], status=OrderStatus.REFUNDED
        ).first()
    )
    assert refund.amount == order.amount == order.refunded_amount == shipment["freight_amount"]
    reversal = LedgerPosting.objects.get(kind="refund", reference=refund.public_id)
    assert {(e.account.code, e.debit, e.credit) for e in reversal.entries.all()} == {
        ("freight_payable:SCJG01", refund.amount, 0),
        ("clearing:public_platform", 0, refund.amount),
    }
    assert courier_scan(portal_http, "ems", waybill, opCode="203").status_code == 409


# -- personal data ----------------------------------------------------------------------


def test_lists_and_details_show_only_masked_names_phones_and_addresses(portal):
    shipment = created(portal)

    listed = portal.get(SHIPMENTS)
    detail = portal.get(f"{SHIPMENTS}/{shipment['id']}")

    for response in (listed, detail):
        assert response.status_code == 200
        text = response.content.decode()
        for secret in (RECIPIENT_PHONE, RECIPIENT_STREET, "张三", SENDER_PHONE, "解放东路"):
            assert secret not in text
    shown = detail.json()
    assert shown["recipient"] == {
        "name": "张*",
        "phone": "138****8000",
        "province": "浙江省",
        "city": "杭州市",
        "district": "西湖区",
        "detail": "***",
        "region_code": "330106",
    }
    assert shown["sender"]["detail"] == "***"
    assert listed.json()["results"][0]["recipient"] == shown["recipient"]


def test_the_database_holds_no_plaintext_names_phones_or_addresses(portal):
    shipment = created(portal)

    stored = Shipment.objects.get(public_id=shipment["id"])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT row_to_json(s)::text FROM logistics_shipment s WHERE id = %s", [stored.pk]
        )
        (row,) = cursor.fetchone()
    for secret in (RECIPIENT_PHONE, RECIPIENT_STREET, "张三", SENDER_PHONE, "解放东路"):
        assert secret not in row
    assert RECIPIENT_PHONE not in stored.recipient_encrypted
    assert SENDER_PHONE not in stored.sender_encrypted
    # ...yet the columns do hold them, encrypted.
    sealed = contacts.unseal(stored.recipient_encrypted, column=contacts.RECIPIENT)
    assert (sealed.phone, sealed.detail) == (RECIPIENT_PHONE, RECIPIENT_STREET)
    assert contacts.unseal(stored.sender_encrypted, column=contacts.SENDER).phone == SENDER_PHONE


def finance_key_api() -> APIClient:
    _, key = api_client_create(name="finance-scripts", role="finance")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


CALLERS: dict[str, Callable[[APIClient], APIClient]] = {
    "creating_portal": lambda creator: creator,
    "other_portal": lambda creator: portal_api("other-portal"),
    "finance_without_permission": lambda creator: staff_api("clerk"),
    "finance_with_permission": lambda creator: staff_api("auditor", view_contacts=True),
    "finance_api_key": lambda creator: finance_key_api(),
}


@pytest.mark.parametrize(
    ("caller", "status", "actor"),
    [
        ("creating_portal", 200, "client:portal"),
        ("other_portal", 404, None),  # it cannot see the shipment at all
        ("finance_without_permission", 403, None),
        ("finance_with_permission", 200, "user:auditor"),
        ("finance_api_key", 403, None),  # no user, so no permission
    ],
)
def test_full_contacts_go_only_to_the_sender_and_permitted_staff_and_are_audited(
    portal, caller, status, actor
):
    shipment = created(portal)
    api = CALLERS[caller](portal)

    response = api.get(f"{SHIPMENTS}/{shipment['id']}/contacts")

    viewed = audits("shipment.contacts_viewed", shipment["id"])
    if status == 200:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["recipient"] == shipment_body()["recipient"]
        assert body["sender"] == shipment_body()["sender"]
        assert body["pod_signer"] == ""
        assert list(viewed.values_list("actor", flat=True)) == [actor]
    else:
        error_of(response, status)
        assert RECIPIENT_PHONE not in response.content.decode()
        assert not viewed.exists()


def test_each_reveal_of_the_contacts_is_audited_again(portal):
    shipment = created(portal)

    for _ in range(2):
        assert portal.get(f"{SHIPMENTS}/{shipment['id']}/contacts").status_code == 200

    assert audits("shipment.contacts_viewed", shipment["id"]).count() == 2


# -- lists ------------------------------------------------------------------------------


@pytest.fixture
def four_shipments(portal) -> dict[str, dict]:
    """A on time; B due within the at-risk margin; C overdue; D cancelled, long ago, late."""
    now = timezone.now()
    soon = (now + timedelta(hours=2)).isoformat()
    made = {
        "A": created(portal, case_number="A"),
        "B": created(portal, case_number="B", courier="ems", deliver_by=soon),
        "C": created(portal, case_number="C"),
        "D": created(portal, case_number="D", courier="ems"),
    }
    assert portal.post(f"{SHIPMENTS}/{made['D']['id']}/cancel").status_code == 200
    Shipment.objects.filter(case_number__in=["C", "D"]).update(deliver_by=now - timedelta(hours=1))
    Shipment.objects.filter(case_number="D").update(created_at=now - timedelta(days=10))
    return made


def dated(query: dict) -> dict:
    """created_from/created_to given as days ago, as dates of the business day."""
    return {
        name: (timezone.localdate() - timedelta(days=value)).isoformat()
        if name.startswith("created_")
        else value
        for name, value in query.items()
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"A", "B", "C", "D"}),
        ({"case_number": "B"}, {"B"}),
        ({"status": "cancelled"}, {"D"}),
        ({"status": "pending"}, {"A", "B", "C"}),
        ({"courier": "ems"}, {"B", "D"}),
        ({"created_from": 0}, {"A", "B", "C"}),
        ({"created_to": 5}, {"D"}),
        ({"created_from": 11, "created_to": 9}, {"D"}),
        ({"at_risk": "true"}, {"B", "C"}),
        ({"at_risk": "false"}, {"A", "D"}),
        ({"overdue": "true"}, {"C"}),
        ({"overdue": "false"}, {"A", "B", "D"}),
        ({"courier": "sf", "overdue": "true"}, {"C"}),
    ],
)
def test_the_list_filters(portal, four_shipments, query, expected):
    assert ids(portal.get(SHIPMENTS, dated(query))) == expected


def test_the_time_limit_flags_shown_agree_with_the_filters(portal, four_shipments):
    flags = {
        s["case_number"]: (s["time_limit"]["at_risk"], s["time_limit"]["overdue"])
        for s in portal.get(SHIPMENTS).json()["results"]
    }

    assert flags == {
        "A": (False, False),
        "B": (True, False),
        "C": (True, True),
        "D": (False, False),
    }


@pytest.mark.parametrize(
    "query", [{"status": "lost"}, {"courier": "dhl"}, {"created_from": "yesterday"}]
)
def test_a_bad_filter_is_a_400(portal, query):
    assert "fields" in error_of(portal.get(SHIPMENTS, query), 400)


def test_department_scoped_staff_see_only_their_departments_shipments(portal):
    police = make_department("GA01", "市公安局")
    ours = created(portal, case_number="SCJG")
    created(portal, case_number="GA", department="GA01", items=[item("市公安局")])
    scoped = staff_api("clerk", departments=[police])

    assert ids(scoped.get(SHIPMENTS)) == {"GA"}
    assert error_of(scoped.get(f"{SHIPMENTS}/{ours['id']}"), 404)["code"] == "not_found"
    assert ids(staff_api("chief").get(SHIPMENTS)) == {"SCJG", "GA"}
    assert ids(portal.get(SHIPMENTS)) == {"SCJG", "GA"}
    assert ids(portal_api("other-portal").get(SHIPMENTS)) == set()


# -- the undeliverable choice -----------------------------------------------------------


def choose(api: APIClient, shipment_id: str, choice: str):
    return api.post(
        f"{SHIPMENTS}/{shipment_id}/undeliverable-choice", {"choice": choice}, format="json"
    )


def test_an_undeliverable_choice_is_a_409_when_none_is_awaited(portal):
    shipment = created(portal)

    response = choose(portal, shipment["id"], "hold")

    assert error_of(response, 409)["code"] == "illegal_transition"
    assert Shipment.objects.get(public_id=shipment["id"]).undeliverable_action == ""
    assert not audits("shipment.undeliverable_choice", shipment["id"]).exists()


def test_an_awaited_undeliverable_choice_is_recorded_once(portal):
    shipment = created(portal, undeliverable_rule="ask")
    # What tracking records when the ask rule applies after the last failed attempt.
    asking = UNDELIVERABLE_ACTIONS[UndeliverableRule.ASK]
    Shipment.objects.filter(public_id=shipment["id"]).update(undeliverable_action=asking)

    chosen = choose(portal, shipment["id"], "hold")
    again = choose(portal, shipment["id"], "return")

    assert chosen.status_code == 200, chosen.content
    assert chosen.json()["undeliverable_action"] == "hold_for_pickup"
    assert error_of(again, 409)["code"] == "illegal_transition"
    assert Shipment.objects.get(public_id=shipment["id"]).undeliverable_action == "hold_for_pickup"
    assert audits("shipment.undeliverable_choice", shipment["id"]).get().data == {"choice": "hold"}


@live
def test_after_the_last_failed_attempt_the_applicant_is_asked_and_the_choice_recorded(
    portal_http, task_worker
):
    shipment = create_shipment(portal_http, courier="ems", undeliverable_rule="ask")
    waybill = booked(portal_http, shipment["id"])["waybill_no"]
    for op_code in ("203", "705", "702", "705"):  # picked up, then two failed deliveries
        assert courier_scan(portal_http, "ems", waybill, opCode=op_code).status_code == 200
    wait_for(
        portal_http,
        shipment["id"],
        lambda s: s["failed_attempts"] == 2 and s["undeliverable_action"] == AWAITING_CHOICE,
    )

    url = f"{portal_http.base}{SHIPMENTS}/{shipment['id']}/undeliverable-choice"
    chosen = portal_http.post(url, json={"choice": "return"})
    again = portal_http.post(url, json={"choice": "hold"})

    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["undeliverable_action"] == "return_to_agency"
    assert error_of(again, 409)["code"] == "illegal_transition"
