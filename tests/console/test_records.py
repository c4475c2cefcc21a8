"""Orders, refunds and shipments in the console: search, scoping, history and masking.

Orders and shipments are made through the API as the portal makes them; a paid order goes
through the public platform's sandbox in a live service, as in tests/billing.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone

from billing.models import FeeItem, Refund
from core import pii
from core.auth import AUDITOR_GROUP
from integrations.couriers.base import ShipmentStatus as CourierStatus
from integrations.couriers.base import TrackingEvent as CourierEvent
from logistics.models import EventSource, Shipment
from logistics.services import tracking
from logistics.services.status import lock_shipment
from tests.billing.conftest import NATURAL_ID, create_order, paid_at_platform, portal_api
from tests.conftest import SERVICE_ITEM, charged_by_service_item, make_department
from tests.console.conftest import logged_in, make_staff
from tests.logistics.conftest import create_in_process
from tests.waiting import eventually

OTHER_ID = "110101199003071233"  # a valid resident ID number nobody in these tests has
PAYER_NAME = "张三"
PAYER_PHONE = "13800138000"
SIGNER = "李四"
RECIPIENT_STREET = "文三路90号"


def ids(html: str, prefix: str) -> list[str]:
    """The public ids of the rows in a page: ``data-testid="order-po_…"``."""
    return re.findall(rf'data-testid="{prefix}-([a-z]+_[a-z0-9]+)"', html)


def get(client: Client, url: str, **params) -> tuple[int, str]:
    response = client.get(url, params)
    return response.status_code, response.content.decode()


def orders_found(client: Client, **params) -> list[str]:
    status, html = get(client, "/console/orders/", **params)
    assert status == 200, html
    return ids(html, "order")


def assert_no_personal_data(html: str) -> None:
    for secret in (NATURAL_ID, PAYER_NAME, PAYER_PHONE, SIGNER, RECIPIENT_STREET):
        assert secret not in html


@pytest.fixture
def portal(department):
    """The portal, with a fee of SCJG01 (the orders' default) and of a second department."""
    other = make_department("GA01", "市公安局")
    for code, owner, amount, service_item in (
        ("FEE-LIC", department, 1500, SERVICE_ITEM),
        ("GA-FEE", other, 2000, "GA-SERVICE"),
    ):
        fee = FeeItem.objects.create(
            code=code,
            name="工本费",
            department=owner,
            legal_basis="收费标准",
            standard_amount=amount,
        )
        charged_by_service_item(fee, code=service_item)
    return portal_api()


@pytest.fixture
def ours_and_theirs(portal) -> tuple[dict, dict]:
    """An order of SCJG01 paid by 张三, and one of GA01 paid by someone else."""
    ours = create_order(portal, case_number="SC-2026-1")
    theirs = create_order(
        portal,
        case_number="GA-2026-9",
        service_item_code="GA-SERVICE",
        department="GA01",
        payer={"type": "natural", "name": "王五", "id_number": OTHER_ID},
        lines=[{"fee_item": "GA-FEE", "quantity": 1, "amount": 2000}],
    )
    return ours, theirs


# -- orders: search ---------------------------------------------------------------------


@pytest.mark.django_db
def test_each_search_key_finds_its_order_and_only_it(clerk, ours_and_theirs):
    ours, theirs = ours_and_theirs
    for key in ("case_number", "payment_code", "id"):
        assert orders_found(clerk, q=ours[key]) == [ours["id"]], key
        assert orders_found(clerk, q=theirs[key]) == [theirs["id"]], key
    assert orders_found(clerk, q="no-such-case") == []
    assert sorted(orders_found(clerk)) == sorted([ours["id"], theirs["id"]])


@pytest.mark.django_db
def test_a_payer_id_number_is_found_through_the_blind_index_without_decrypting(
    clerk, ours_and_theirs, monkeypatch
):
    ours, theirs = ours_and_theirs

    def never(*args, **kwargs):
        raise AssertionError("the console decrypted personal data")

    monkeypatch.setattr(pii, "decrypt", never)
    # Typed as people type it: lower-case check letter, stray spaces.
    assert orders_found(clerk, payer_id=f" {NATURAL_ID.lower()} ") == [ours["id"]]
    assert orders_found(clerk, payer_id=OTHER_ID) == [theirs["id"]]
    assert orders_found(clerk, payer_id="33010619850101001X") == []  # valid, nobody's
    assert orders_found(clerk, payer_id=NATURAL_ID, q=theirs["case_number"]) == []


@pytest.mark.django_db
def test_an_invalid_payer_id_number_is_explained_and_finds_nothing(clerk, ours_and_theirs):
    status, html = get(clerk, "/console/orders/", payer_id="110105194912310021")
    assert status == 200
    assert 'data-testid="payer-id-error"' in html
    assert ids(html, "order") == []


@pytest.mark.django_db
def test_filters_narrow_the_list(clerk, ours_and_theirs):
    ours, theirs = ours_and_theirs
    today = timezone.localdate()
    assert orders_found(clerk, department="GA01") == [theirs["id"]]
    assert orders_found(clerk, status="unpaid", department="SCJG01") == [ours["id"]]
    assert orders_found(clerk, status="paid") == []
    assert orders_found(clerk, channel="alipay") == []  # nobody has tried to pay yet
    assert len(orders_found(clerk, created_from=today, created_to=today)) == 2
    assert orders_found(clerk, created_from=today + timedelta(days=1)) == []
    assert orders_found(clerk, created_to=today - timedelta(days=1)) == []


@pytest.mark.django_db
def test_pages_of_fifty_keep_the_search_in_their_links(clerk, portal):
    many = {create_order(portal, case_number="BULK-1")["id"] for _ in range(51)}
    create_order(portal, case_number="OTHER-1")

    status, first = get(clerk, "/console/orders/", q="BULK-1")
    assert status == 200
    assert len(ids(first, "order")) == 50
    next_link = re.search(r'href="([^"]+)" data-testid="page-next"', first).group(1)
    assert "q=BULK-1" in next_link and "page=2" in next_link

    second = clerk.get(f"/console/orders/{next_link.replace('&amp;', '&')}").content.decode()
    assert set(ids(first, "order")) | set(ids(second, "order")) == many


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 101},
        {"q": "BJ", "created_from": "2026-13-45"},
        {"created_to": "yesterday"},
        {"status": "stolen"},
        {"channel": "paypal"},
        {"department": "NOPE"},
        {"page": "-1"},
        {"page": "1e9"},
        {"payer_id": "1" * 33},
    ],
)
def test_bad_order_search_parameters_get_a_400_page(clerk, ours_and_theirs, params):
    response = clerk.get("/console/orders/", params)
    assert response.status_code == 400
    assert b"<html" in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/console/orders/", {"payer_id": "'; DROP TABLE x;--"}),
        ("/console/orders/", {"q": "<script>alert(1)</script>"}),
        ("/console/orders/", {"page": "999"}),
        ("/console/refunds/", {"q": "%00' OR 1=1"}),
        ("/console/shipments/", {"q": "\u202e"}),
    ],
)
def test_odd_but_short_inputs_find_nothing_and_never_fail(clerk, ours_and_theirs, url, params):
    response = clerk.get(url, params)
    assert response.status_code == 200
    assert b"<script>alert" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/console/refunds/", {"status": "done"}),
        ("/console/refunds/", {"created_from": "2026-02-30"}),
        ("/console/shipments/", {"courier": "dhl"}),
        ("/console/shipments/", {"flag": "late"}),
        ("/console/shipments/", {"status": "x" * 500}),
        ("/console/shipments/", {"q": "SF\x00"}),
        ("/console/orders/", {"payer_id": "\x00"}),
    ],
)
def test_bad_refund_and_shipment_parameters_get_a_400_page(clerk, url, params):
    assert clerk.get(url, params).status_code == 400


# -- scoping ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_department_scoped_staff_find_and_open_only_their_departments_orders(
    department, ours_and_theirs
):
    ours, theirs = ours_and_theirs
    scoped = logged_in(make_staff("scoped", department))

    assert orders_found(scoped) == [ours["id"]]
    assert orders_found(scoped, q=theirs["case_number"]) == []
    assert orders_found(scoped, payer_id=OTHER_ID) == []
    assert scoped.get("/console/orders/", {"department": "GA01"}).status_code == 400
    assert scoped.get(f"/console/orders/{ours['id']}/").status_code == 200
    assert scoped.get(f"/console/orders/{theirs['id']}/").status_code == 404
    assert scoped.get("/console/orders/po_nosuchorder/").status_code == 404
    assert scoped.get("/console/orders/po%00x/").status_code == 400
    assert scoped.get(f"/console/orders/{'x' * 5000}/").status_code == 404


@pytest.mark.django_db
def test_only_finance_staff_read_records(department, auditor):
    assert auditor.get("/console/orders/").status_code == 200
    assert Client().get("/console/orders/").status_code == 302  # to the login page
    outsider = make_staff("outsider", group="finance")
    outsider.groups.clear()
    for url in ("/console/orders/", "/console/refunds/", "/console/shipments/"):
        assert logged_in(outsider).get(url).status_code == 403


# -- the order's history ----------------------------------------------------------------


@pytest.fixture
def paid_and_refunded(live_service, portal) -> dict:
    """Paid at the platform's cashier, then 10.00 of its 30.00 refunded."""
    order, http = paid_at_platform(portal, live_service.url, case_number="SC-2026-PAID")
    attempt = order["attempt"]
    refund = http.post(
        f"{live_service.url}/api/v1/payment-orders/{order['id']}/refunds",
        json={"amount": 1000, "reason": "申请人撤回申请"},
        headers={"Idempotency-Key": "console-refund"},
    ).json()
    eventually(lambda: Refund.objects.get(public_id=refund["id"]).status == "succeeded")
    return {"order": order, "attempt": attempt, "refund": refund}


@pytest.mark.django_db(transaction=True)
def test_the_order_page_shows_its_whole_history_with_the_payer_masked(clerk, paid_and_refunded):
    order, attempt, refund = (paid_and_refunded[k] for k in ("order", "attempt", "refund"))
    assert orders_found(clerk, q=attempt["id"]) == [order["id"]]
    assert orders_found(clerk, channel="public_platform") == [order["id"]]

    clerk.cookies["django_language"] = "en"
    status, html = get(clerk, f"/console/orders/{order['id']}/")
    assert status == 200
    assert 'data-testid="order-history"' in html
    assert f'data-testid="attempt-{attempt["id"]}"' in html
    routing = re.search(rf'data-testid="routing-{attempt["id"]}">(.*?)</td>', html, re.S).group(1)
    platform = "Public payment platform"
    assert f"asked {platform}, chose {platform}" in routing
    assert f'data-testid="order-refund-{refund["id"]}"' in html
    postings = re.search(r'data-testid="order-postings">(.*?)</table>', html, re.S).group(1)
    for account in (f"Clearing at {platform}", "Payable to SCJG01"):
        assert account in postings
    assert 'title="clearing:public_platform"' in postings
    assert "30.00" in postings and "10.00" in postings
    assert re.search(r'data-testid="revenue-rv_', html)
    webhooks = re.search(r'data-testid="order-webhooks">(.*?)</table>', html, re.S).group(1)
    assert "Payment order · paid" in webhooks and "Refund · succeeded" in webhooks
    assert 'data-type="payment_order.paid"' in webhooks
    notifications = re.search(r'data-testid="order-notifications">(.*?)</table>', html, re.S)
    assert "applied" in notifications.group(1)
    audit = re.search(r'data-testid="audit-trail">(.*?)</table>', html, re.S).group(1)
    for action in ("Payment order · created", "Payment attempt · created", "Refund · requested"):
        assert action in audit, action
    assert 'data-action="refund.requested"' in audit
    assert "张*" in html and "1101**********002X" in html
    assert_no_personal_data(html)


@pytest.mark.django_db(transaction=True)
def test_refunds_are_found_by_refund_order_or_case_and_scoped(department, paid_and_refunded):
    order, refund = paid_and_refunded["order"], paid_and_refunded["refund"]
    clerk = logged_in(make_staff("clerk"))
    for q in (refund["id"], order["id"], order["case_number"], ""):
        _, html = get(clerk, "/console/refunds/", q=q)
        assert ids(html, "refund") == [refund["id"]], q
    assert f'href="/console/orders/{order["id"]}/"' in html
    assert ids(get(clerk, "/console/refunds/", status="failed")[1], "refund") == []

    other = make_department("JT01", "市交通运输局")
    elsewhere = logged_in(make_staff("elsewhere", other))
    assert ids(get(elsewhere, "/console/refunds/", q=refund["id"])[1], "refund") == []
    assert elsewhere.get(f"/console/orders/{order['id']}/").status_code == 404


# -- shipments --------------------------------------------------------------------------


def scan(shipment: Shipment, status: CourierStatus, minutes_ago: int, **fields) -> CourierEvent:
    return CourierEvent(
        courier=shipment.courier,
        waybill_no=shipment.waybill_no,
        event_id=f"sf-{uuid.uuid4().hex}",
        code="80" if status is CourierStatus.DELIVERED else "30",
        status=status,
        reason="",
        occurred_at=timezone.now() - timedelta(minutes=minutes_ago),
        location="杭州市西湖区",
        description=fields.pop("description", "快件运输中"),
        **fields,
    )


@pytest.fixture
def delivered_shipment(portal) -> Shipment:
    """Booked with SF, scanned twice and delivered to 李四, all confirmed by a route query."""
    shipment = create_in_process(portal)
    Shipment.objects.filter(pk=shipment.pk).update(
        waybill_no="SF1234567890123", booked_at=timezone.now()
    )
    shipment.refresh_from_db()
    events = [
        scan(shipment, CourierStatus.PICKED_UP, 90),
        scan(shipment, CourierStatus.IN_TRANSIT, 60),
        scan(
            shipment,
            CourierStatus.DELIVERED,
            5,
            signer=SIGNER,
            description=f"已签收，签收人：{SIGNER}",
        ),
    ]
    with transaction.atomic():
        tracking.events_ingest(lock_shipment(shipment.pk), events, source=EventSource.QUERY)
    shipment.refresh_from_db()
    return shipment


@pytest.mark.django_db
def test_a_shipment_is_found_by_waybill_and_shows_every_scan_masked(clerk, delivered_shipment):
    other = create_in_process(portal_api("another-portal"), case_number="SC-2026-000888")
    shipment = delivered_shipment

    for q in (shipment.waybill_no, shipment.case_number, shipment.public_id):
        status, html = get(clerk, "/console/shipments/", q=q)
        assert ids(html, "shipment") == [shipment.public_id], q
    assert ids(get(clerk, "/console/shipments/", q="SF0000000000000")[1], "shipment") == []
    assert ids(get(clerk, "/console/shipments/", status="delivered")[1], "shipment") == [
        shipment.public_id
    ]
    assert set(ids(get(clerk, "/console/shipments/")[1], "shipment")) == {
        shipment.public_id,
        other.public_id,
    }

    status, html = get(clerk, f"/console/shipments/{shipment.public_id}/")
    assert status == 200
    assert 'data-testid="shipment-history"' in html
    events = re.findall(r'data-testid="event-(sf-[0-9a-f]+)"', html)
    assert events == list(shipment.events.values_list("event_id", flat=True))
    assert len(events) == 3
    assert re.search(r'data-testid="pod-signer">李\*<', html)
    assert "张*" in html and "138****8000" in html
    assert (
        "shipment.created" in re.search(r'data-testid="audit-trail">(.*?)</table>', html, re.S)[0]
    )
    assert_no_personal_data(html)


@pytest.mark.django_db
def test_the_time_limit_flag_filter_finds_overdue_shipments(clerk, portal):
    on_time = create_in_process(portal)
    late = create_in_process(portal, case_number="SC-2026-LATE")
    Shipment.objects.filter(pk=late.pk).update(deliver_by=timezone.now() - timedelta(hours=1))

    assert ids(get(clerk, "/console/shipments/", flag="overdue")[1], "shipment") == [late.public_id]
    assert ids(get(clerk, "/console/shipments/", flag="at_risk")[1], "shipment") == [late.public_id]
    assert ids(get(clerk, "/console/shipments/", flag="stale")[1], "shipment") == []
    assert 'data-testid="flag-overdue"' in get(clerk, f"/console/shipments/{late.public_id}/")[1]
    assert (
        'data-testid="flag-overdue"'
        not in get(clerk, f"/console/shipments/{on_time.public_id}/")[1]
    )


@pytest.mark.django_db
def test_department_scoped_staff_see_only_their_departments_shipments(department, portal):
    ours = create_in_process(portal)
    theirs = create_in_process(portal, department="GA01", case_number="GA-2026-000001")
    scoped = logged_in(make_staff("scoped", department))

    assert ids(get(scoped, "/console/shipments/")[1], "shipment") == [ours.public_id]
    assert ids(get(scoped, "/console/shipments/", q=theirs.case_number)[1], "shipment") == []
    assert scoped.get(f"/console/shipments/{ours.public_id}/").status_code == 200
    assert scoped.get(f"/console/shipments/{theirs.public_id}/").status_code == 404
    assert scoped.get("/console/shipments/shp%00/").status_code == 400
    assert scoped.get("/console/shipments/", {"department": "GA01"}).status_code == 400


@pytest.mark.django_db
def test_an_auditor_reads_an_order_and_a_shipment(department, portal):
    order = create_order(portal)
    shipment = create_in_process(portal)
    reader = logged_in(make_staff("reader", group=AUDITOR_GROUP))
    assert reader.get(f"/console/orders/{order['id']}/").status_code == 200
    assert reader.get(f"/console/shipments/{shipment.public_id}/").status_code == 200
