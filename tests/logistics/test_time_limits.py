"""The delivery time limit and silence: the watch's flags, and what the API shows of them.

In-process: shipments are created through the API with an APIClient (inside the test's
transaction, so no booking task runs) and the watch is swept at chosen times.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import WebhookEvent
from core.models import AuditRecord
from integrations.couriers.base import ShipmentStatus as CourierStatus
from integrations.couriers.base import TrackingEvent as CourierEvent
from logistics import states
from logistics.models import EventSource, Shipment, ShipmentStatus
from logistics.services import tracking
from logistics.services.status import lock_shipment
from logistics.services.watch import shipments_watch
from tests.billing.conftest import portal_api
from tests.logistics.conftest import create_in_process

pytestmark = pytest.mark.django_db

MINUTE = timedelta(minutes=1)
NOTHING_RAISED = {"shipment.at_risk": 0, "shipment.overdue": 0, "shipment.stale": 0}


@pytest.fixture
def api(agency) -> APIClient:
    return portal_api()


def shipment_where(api: APIClient, **fields) -> Shipment:
    """A new shipment with some fields set as the courier's scans would have left them."""
    shipment = create_in_process(api)
    Shipment.objects.filter(pk=shipment.pk).update(**fields)
    shipment.refresh_from_db()
    return shipment


def told(shipment: Shipment, event_type: str) -> tuple[int, int]:
    """How many audit rows and webhook events announce ``event_type`` for the shipment."""
    audits = AuditRecord.objects.filter(action=event_type, object_id=shipment.public_id)
    events = WebhookEvent.objects.filter(type=event_type, payload__id=shipment.public_id)
    return audits.count(), events.count()


def in_flight(*, booked_at: datetime, last_event_at: datetime | None = None) -> dict:
    """Picked up, with its time limit far enough away to be neither at risk nor overdue."""
    return {
        "status": ShipmentStatus.PICKED_UP,
        "waybill_no": f"SF{uuid.uuid4().int % 10**13:013d}",
        "booked_at": booked_at,
        "last_event_at": last_event_at,
        "deliver_by": booked_at + timedelta(days=30),
    }


def test_a_shipment_turns_at_risk_within_the_margin_of_its_time_limit_once(api):
    shipment = create_in_process(api)
    turns_at_risk = shipment.deliver_by - settings.LOGISTICS["at_risk_before"]

    assert shipments_watch(now=turns_at_risk - MINUTE) == NOTHING_RAISED
    assert shipments_watch(now=turns_at_risk + MINUTE) == {**NOTHING_RAISED, "shipment.at_risk": 1}
    assert shipments_watch(now=turns_at_risk + 2 * MINUTE) == NOTHING_RAISED

    shipment.refresh_from_db()
    assert shipment.at_risk_since == turns_at_risk + MINUTE
    assert (shipment.overdue_since, shipment.stale_since) == (None, None)
    assert told(shipment, "shipment.at_risk") == (1, 1)
    assert told(shipment, "shipment.overdue") == (0, 0)


def test_a_shipment_is_overdue_past_its_time_limit_once(api):
    shipment = create_in_process(api)
    deadline = shipment.deliver_by

    assert shipments_watch(now=deadline)["shipment.overdue"] == 0
    assert shipments_watch(now=deadline + MINUTE)["shipment.overdue"] == 1
    assert shipments_watch(now=deadline + 2 * MINUTE) == NOTHING_RAISED

    shipment.refresh_from_db()
    assert shipment.overdue_since == deadline + MINUTE
    assert shipment.at_risk_since == deadline
    assert told(shipment, "shipment.overdue") == (1, 1)
    assert told(shipment, "shipment.at_risk") == (1, 1)


@pytest.mark.parametrize("silent_since", ["last_event_at", "booked_at"])
def test_a_shipment_without_scans_turns_stale_once_and_is_asked_for_its_route(api, silent_since):
    quiet_from = timezone.now()
    if silent_since == "last_event_at":
        times = {"booked_at": quiet_from - timedelta(hours=1), "last_event_at": quiet_from}
    else:
        times = {"booked_at": quiet_from}
    shipment = shipment_where(api, **in_flight(**times))
    turns_stale = quiet_from + settings.LOGISTICS["stale_after"]

    assert shipments_watch(now=turns_stale - MINUTE) == NOTHING_RAISED
    assert shipments_watch(now=turns_stale + MINUTE) == {**NOTHING_RAISED, "shipment.stale": 1}
    assert shipments_watch(now=turns_stale + 2 * MINUTE) == NOTHING_RAISED

    shipment.refresh_from_db()
    assert shipment.stale_since == turns_stale + MINUTE
    assert shipment.next_poll_at == turns_stale + MINUTE
    assert tracking.shipments_due_for_poll(now=turns_stale + MINUTE) == [shipment.pk]
    assert told(shipment, "shipment.stale") == (1, 1)


@pytest.mark.parametrize("status", sorted(states.TERMINAL))
def test_a_finished_shipment_is_never_flagged(api, status):
    long_ago = timezone.now() - timedelta(days=30)
    shipment = shipment_where(
        api,
        status=status,
        booked_at=long_ago,
        last_event_at=long_ago,
        deliver_by=long_ago + timedelta(days=1),
    )

    assert shipments_watch() == NOTHING_RAISED
    assert shipments_watch(now=timezone.now() + timedelta(days=365)) == NOTHING_RAISED

    shipment.refresh_from_db()
    assert (shipment.at_risk_since, shipment.overdue_since, shipment.stale_since) == (
        None,
        None,
        None,
    )
    time_limit = api.get(f"/api/v1/shipments/{shipment.public_id}").json()["time_limit"]
    assert (time_limit["at_risk"], time_limit["overdue"], time_limit["stale"]) == (
        False,
        False,
        False,
    )


def listed(api: APIClient, **filters: str) -> set[str]:
    response = api.get("/api/v1/shipments", {**filters, "page_size": 200})
    assert response.status_code == 200, response.content
    return {shipment["id"] for shipment in response.json()["results"]}


def assert_the_api_agrees(api: APIClient, expected: dict[str, dict[str, bool]]) -> None:
    """Each shipment's time_limit block, and the list filtered by each flag, say the same."""
    everyone = set(expected)
    for shipment_id, flags in expected.items():
        block = api.get(f"/api/v1/shipments/{shipment_id}").json()["time_limit"]
        assert {flag: block[flag] for flag in flags} == flags, shipment_id
    for flag in ("at_risk", "overdue", "stale"):
        flagged = {shipment_id for shipment_id, flags in expected.items() if flags[flag]}
        assert listed(api, **{flag: "true"}) == flagged, flag
        assert listed(api, **{flag: "false"}) == everyone - flagged, flag


def test_the_api_shows_the_flags_the_watch_raised(api):
    now = timezone.now()
    margin, silence = settings.LOGISTICS["at_risk_before"], settings.LOGISTICS["stale_after"]
    cases = {
        "on_time": (create_in_process(api), (False, False, False)),
        "at_risk": (
            shipment_where(api, deliver_by=now + margin / 2),
            (True, False, False),
        ),
        "overdue": (shipment_where(api, deliver_by=now - MINUTE), (True, True, False)),
        "stale": (
            shipment_where(
                api, **in_flight(booked_at=now - 2 * silence, last_event_at=now - silence - MINUTE)
            ),
            (False, False, True),
        ),
        "delivered": (
            shipment_where(
                api, status=ShipmentStatus.DELIVERED, deliver_by=now - MINUTE, delivered_at=now
            ),
            (False, False, False),
        ),
    }

    shipments_watch()

    expected = {}
    for shipment, (at_risk, overdue, stale) in cases.values():
        shipment.refresh_from_db()
        assert (
            shipment.at_risk_since is not None,
            shipment.overdue_since is not None,
            shipment.stale_since is not None,
        ) == (at_risk, overdue, stale), shipment.public_id
        expected[shipment.public_id] = {"at_risk": at_risk, "overdue": overdue, "stale": stale}
    assert_the_api_agrees(api, expected)


def scan_of(shipment: Shipment, status: CourierStatus, occurred_at: datetime) -> CourierEvent:
    return CourierEvent(
        courier=shipment.courier,
        waybill_no=shipment.waybill_no,
        event_id=f"sf-{uuid.uuid4().hex}",
        code="80" if status is CourierStatus.DELIVERED else "30",
        status=status,
        reason="",
        occurred_at=occurred_at,
        location="杭州市",
        description="test scan",
    )


def ingest(shipment: Shipment, event: CourierEvent, source: str) -> None:
    with transaction.atomic():
        tracking.events_ingest(lock_shipment(shipment.pk), [event], source=source)


def test_a_stale_shipment_delivered_once_its_scan_is_confirmed_is_listed_as_it_is_shown(api):
    """Stale while its pushed delivered scan waited for the route query; then delivered."""
    now = timezone.now()
    silence = settings.LOGISTICS["stale_after"]
    shipment = shipment_where(api, **in_flight(booked_at=now - 2 * silence))
    old_scan = scan_of(shipment, CourierStatus.IN_TRANSIT, now - silence - MINUTE)
    ingest(shipment, old_scan, EventSource.QUERY)
    delivered = scan_of(shipment, CourierStatus.DELIVERED, now)
    ingest(shipment, delivered, EventSource.PUSH)  # unconfirmed: the route query is due
    assert shipments_watch()["shipment.stale"] == 1
    ingest(shipment, delivered, EventSource.QUERY)  # the query confirms it

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.DELIVERED
    flags = {"at_risk": False, "overdue": False, "stale": False}
    assert_the_api_agrees(api, {shipment.public_id: flags})
