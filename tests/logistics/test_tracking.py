"""Tracking over HTTP: the courier sandboxes scan and push, a real worker applies the pushes.

Every shipment is booked with a courier sandbox mounted in the live service. The sandbox
pushes each scan to /notify/couriers/<code>/push; the service stores it raw, a task stores
each scan once and a terminal scan counts once a route query shows it too.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from billing.models import WebhookEvent
from core.models import AuditRecord
from core.money import BEIJING
from integrations.couriers.ems import sealing as ems_sealing
from integrations.couriers.ems import wire as ems
from integrations.couriers.sf import wire as sf
from logistics import tasks
from logistics.models import CourierPush, EventSource, PushStatus, Shipment, TrackingEvent
from logistics.services import tracking
from outbox.engine import apply_due, sweep
from tests.billing.conftest import portal_api
from tests.integrations.helpers import unreachable_url
from tests.integrations.helpers import wait_for as eventually
from tests.logistics.conftest import (
    booked,
    create_in_process,
    create_shipment,
    get_shipment,
    scan,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

SIGNER = "李四"
# Tasks queued while the test worker is busy (a burst of pushes, the route query queued by
# an apply) may wait for its consumer's 10-second poll.
WAIT_SECONDS = 60
SIGNER_MASKED = "李*"


# -- the couriers, as the tests drive them ------------------------------------------------


@dataclass(frozen=True)
class Courier:
    """A courier's scan codes and push wire format, for driving the service like it does."""

    code: str
    picked_up: str
    in_transit: str
    out_for_delivery: str
    delivered: str
    failed: str
    returning: str
    returned: str | None  # SF's opCode table maps nothing to returned
    text_field: str  # the scan's free text in the sandbox's scan body
    not_home: str  # a failed delivery's text that reads as "not home"
    accepted: dict  # what the courier's acknowledgement body says
    refused: dict
    forged_error: str  # in the error kept with a push whose credentials are wrong

    def record(self, waybill_no: str, op_code: str, at: datetime, text: str) -> dict:
        """One scan as the courier's push carries it."""
        raise NotImplementedError

    def wire(self, records: list[dict], *, forged: bool) -> tuple[dict, bytes, str]:
        """The push's query, body and content type; ``forged`` gets its credentials wrong."""
        raise NotImplementedError

    def replay(self, base: str, waybill_no: str) -> int:
        """Have the sandbox push every scan again, duplicated, newest first; the pushes sent."""
        raise NotImplementedError

    def push(self, base: str, records: list[dict], *, forged: bool = False) -> requests.Response:
        query, body, content_type = self.wire(records, forged=forged)
        return requests.post(
            f"{base}/notify/couriers/{self.code}/push?{urlencode(query)}",
            data=body,
            headers={"Content-Type": content_type},
            timeout=5,
        )


class SfCourier(Courier):
    def record(self, waybill_no: str, op_code: str, at: datetime, text: str) -> dict:
        return {
            "mailno": waybill_no,
            "orderid": "",
            "id": uuid.uuid4().hex[:16],
            "acceptTime": at.astimezone(BEIJING).strftime(sf.TIME_FORMAT),
            "acceptAddress": "杭州市西湖区",
            "remark": text,
            "opCode": op_code,
        }

    def wire(self, records: list[dict], *, forged: bool) -> tuple[dict, bytes, str]:
        token = "forged-token" if forged else settings.SF_EXPRESS["push_token"]
        body = json.dumps({"Body": {"WaybillRoute": records}}, ensure_ascii=False).encode()
        return {"token": token}, body, "application/json;charset=UTF-8"

    def replay(self, base: str, waybill_no: str) -> int:
        answer = requests.post(
            f"{base}/sandbox/sf/_control/waybills/{waybill_no}/replay",
            json={"duplicate": True, "reverse": True},
            timeout=5,
        )
        assert answer.status_code == 200, answer.text
        return math.ceil(answer.json()["routes"] / sf.MAX_ROUTES_PER_PUSH)


class EmsCourier(Courier):
    FORGED_KEY = bytes(range(16))

    def record(self, waybill_no: str, op_code: str, at: datetime, text: str) -> dict:
        return {
            "waybillNo": waybill_no,
            "opCode": op_code,
            "opName": "测试",
            "opTime": ems.beijing_time(at),
            "opOrgCode": "100099",
            "opOrgName": "杭州市邮区中心局",
            "opDesc": text,
        }

    def wire(self, records: list[dict], *, forged: bool) -> tuple[dict, bytes, str]:
        [trace] = records  # EMS pushes one trace at a time
        key = self.FORGED_KEY if forged else ems_sealing.sm4_key(settings.EMS["secret"])
        trace_text = json.dumps(trace, ensure_ascii=False, separators=(",", ":"))
        push = {
            "logitcsInterface": ems_sealing.seal(trace_text, key),
            "method": "040002",
            "msgType": "0",
            "senderNo": settings.EMS["sender_no"],
            "serialNo": uuid.uuid4().hex.upper(),
            "timeStamp": ems.beijing_time(timezone.now()),
            "version": "V1.0.0",
        }
        return {}, json.dumps(push, ensure_ascii=False).encode(), "application/json;charset=UTF-8"

    def replay(self, base: str, waybill_no: str) -> int:
        answer = requests.post(
            f"{base}/sandbox/ems/_control/waybills/{waybill_no}/push",
            json={"copies": 3, "reverse": True},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return len(answer.json()["deliveries"])


SF = SfCourier(
    code="sf",
    picked_up="50",
    in_transit="30",
    out_for_delivery="44",
    delivered="80",
    failed="70",
    returning="99",
    returned=None,
    text_field="remark",
    not_home="收件人不在家，改日派送",
    accepted={"return_code": "0000"},
    refused={"return_code": "1000"},
    forged_error="token",
)
EMS = EmsCourier(
    code="ems",
    picked_up="203",
    in_transit="306",
    out_for_delivery="702",
    delivered="704",
    failed="705",
    returning="711",
    returned="712",
    text_field="opDesc",
    not_home="未妥投：收件人无人在家",
    accepted={"code": "00000"},
    refused={"code": "S00001"},
    forged_error="logitcsInterface does not open",
)


@pytest.fixture(params=[SF, EMS], ids=lambda courier: courier.code)
def courier(request) -> Courier:
    return request.param


@pytest.fixture
def own_sf_partner(settings) -> str:
    """An SF partner of this test's own, pushing to this test's service by default.

    The SF sandbox keeps a push address registered for a partner for the whole process
    (tests/integrations/test_sf_courier.py registers stub servers for the dev partner), and
    a registered address wins over the default one.
    """
    partner = f"SFTRACK{uuid.uuid4().hex[:10].upper()}"
    dev_partner, sandbox = settings.SF_EXPRESS["partner_id"], settings.SANDBOX_SF_EXPRESS
    settings.SANDBOX_SF_EXPRESS = {
        **sandbox,
        "partners": {**sandbox["partners"], partner: settings.SF_EXPRESS["checkword"]},
        "push_urls": {**sandbox["push_urls"], partner: sandbox["push_urls"][dev_partner]},
    }
    settings.SF_EXPRESS = {**settings.SF_EXPRESS, "partner_id": partner}
    return partner


@pytest.fixture
def http(portal_http, task_worker, own_sf_partner):
    return portal_http


# -- helpers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Booked:
    id: str
    waybill_no: str


def book(http, courier: Courier, **overrides) -> Booked:
    created = create_shipment(http, courier=courier.code, **overrides)
    return Booked(created["id"], booked(http, created["id"])["waybill_no"])


def advance(
    http, courier: Courier, shipment: Booked, op_code: str, until: Callable[[dict], bool], **body
) -> dict:
    """Scan the waybill at the sandbox and wait until the service shows the scan's effect."""
    scan(http, courier.code, shipment.waybill_no, opCode=op_code, **body)
    return wait_for(http, shipment.id, until, seconds=WAIT_SECONDS)


def status_is(status: str) -> Callable[[dict], bool]:
    return lambda shipment: shipment["status"] == status


def picked_up(http, courier: Courier, **overrides) -> Booked:
    shipment = book(http, courier, **overrides)
    advance(http, courier, shipment, courier.picked_up, status_is("picked_up"))
    return shipment


def status_changes(shipment_id: str) -> list[tuple[str, str]]:
    events = WebhookEvent.objects.filter(
        type="shipment.status_changed", payload__id=shipment_id
    ).order_by("id")
    return [(event.payload["previous_status"], event.payload["status"]) for event in events]


def undeliverable_events(shipment_id: str) -> list[dict]:
    events = WebhookEvent.objects.filter(type="shipment.undeliverable", payload__id=shipment_id)
    return [event.payload for event in events.order_by("id")]


def audit_actions(shipment_id: str) -> list[str]:
    rows = AuditRecord.objects.filter(object_type="Shipment", object_id=shipment_id)
    return list(rows.order_by("id").values_list("action", flat=True))


def stored_events(shipment_id: str):
    return TrackingEvent.objects.filter(shipment__public_id=shipment_id)


def pushes_settle(courier: Courier, count: int) -> list[CourierPush]:
    """Wait until the service holds ``count`` pushes of the courier, none left to apply."""
    pushes = CourierPush.objects.filter(courier=courier.code)
    eventually(
        lambda: pushes.count() == count and not pushes.filter(status=PushStatus.RECEIVED).exists(),
        timeout=WAIT_SECONDS,
    )
    return list(pushes)


def fail_twice(http, courier: Courier, shipment: Booked) -> dict:
    """Two failed deliveries, the recipient not at home; the shipment after the second."""
    text = {courier.text_field: courier.not_home}
    first = advance(http, courier, shipment, courier.failed, status_is("delivery_failed"), **text)
    assert (first["failure_reason"], first["failed_attempts"]) == ("not_home", 1)
    assert first["undeliverable_action"] == ""
    return advance(
        http, courier, shipment, courier.failed, lambda s: s["failed_attempts"] == 2, **text
    )


@pytest.fixture
def two_attempts(settings):
    settings.LOGISTICS = {**settings.LOGISTICS, "max_failed_attempts": 2}


# -- the tests --------------------------------------------------------------------------


def test_a_shipment_is_followed_from_booking_to_delivery(http, courier):
    shipment = book(http, courier)
    for op_code, status in (
        (courier.picked_up, "picked_up"),
        (courier.in_transit, "in_transit"),
        (courier.out_for_delivery, "out_for_delivery"),
    ):
        advance(http, courier, shipment, op_code, status_is(status))
    done = advance(
        http, courier, shipment, courier.delivered, status_is("delivered"), signer=SIGNER
    )

    assert done["proof_of_delivery"]["signer"] == SIGNER_MASKED
    assert done["proof_of_delivery"]["signed_at"] == done["events"][-1]["occurred_at"]
    assert SIGNER not in json.dumps(done, ensure_ascii=False)
    codes = [courier.picked_up, courier.in_transit, courier.out_for_delivery, courier.delivered]
    assert [event["code"] for event in done["events"]] == codes
    assert all(event["confirmed"] for event in done["events"])
    assert stored_events(shipment.id).count() == len(codes)
    assert status_changes(shipment.id) == [
        ("pending", "picked_up"),
        ("picked_up", "in_transit"),
        ("in_transit", "out_for_delivery"),
        ("out_for_delivery", "delivered"),
    ]
    assert audit_actions(shipment.id) == [
        "shipment.created",
        "shipment.booked",
        "shipment.picked_up",
        "shipment.in_transit",
        "shipment.out_for_delivery",
        "shipment.delivered",
    ]
    contacts = http.get(f"{http.base}/api/v1/shipments/{shipment.id}/contacts")
    assert contacts.json()["pod_signer"] == SIGNER


def test_duplicate_and_out_of_order_pushes_are_stored_once_and_change_nothing(http, courier):
    shipment = picked_up(http, courier)
    advance(http, courier, shipment, courier.in_transit, status_is("in_transit"))
    advance(http, courier, shipment, courier.out_for_delivery, status_is("out_for_delivery"))
    pushes_before = CourierPush.objects.filter(courier=courier.code).count()
    changes_before = status_changes(shipment.id)

    sent = courier.replay(http.base, shipment.waybill_no)

    replayed = pushes_settle(courier, pushes_before + sent)[pushes_before:]
    assert sent >= 1
    assert [(push.status, push.error) for push in replayed] == [(PushStatus.APPLIED, "")] * sent
    assert stored_events(shipment.id).count() == 3
    assert get_shipment(http, shipment.id)["status"] == "out_for_delivery"
    assert status_changes(shipment.id) == changes_before


def test_a_late_old_scan_never_moves_a_shipment_backwards(http, courier):
    shipment = picked_up(http, courier)
    advance(http, courier, shipment, courier.delivered, status_is("delivered"), signer=SIGNER)
    delivered_at = Shipment.objects.get(public_id=shipment.id).delivered_at
    changes_before = status_changes(shipment.id)
    pushes_before = CourierPush.objects.filter(courier=courier.code).count()
    scanned_at = delivered_at - timedelta(hours=1)
    late = courier.record(shipment.waybill_no, courier.in_transit, scanned_at, "到达杭州转运中心")

    answer = courier.push(http.base, [late])

    assert answer.status_code == 200
    assert courier.accepted.items() <= answer.json().items()
    pushes_settle(courier, pushes_before + 1)
    stored = stored_events(shipment.id).get(code=courier.in_transit)
    assert (stored.occurred_at, stored.confirmed) == (scanned_at, True)
    after = Shipment.objects.get(public_id=shipment.id)
    assert (after.status, after.last_event_at, after.delivered_at) == (
        "delivered",
        delivered_at,
        delivered_at,
    )
    assert status_changes(shipment.id) == changes_before


@pytest.mark.parametrize("forgery", ["credentials", "source"])
def test_a_forged_push_is_refused_kept_and_never_applied(http, courier, forgery, settings):
    shipment = picked_up(http, courier)
    if forgery == "source":
        couriers = settings.LOGISTICS["couriers"]
        allowed_elsewhere = {**couriers[courier.code], "push_sources": ["10.0.0.0/8"]}
        settings.LOGISTICS = {
            **settings.LOGISTICS,
            "couriers": {**couriers, courier.code: allowed_elsewhere},
        }
    pushes_before = CourierPush.objects.filter(courier=courier.code).count()
    forged = courier.record(shipment.waybill_no, courier.delivered, timezone.now(), "已签收")

    answer = courier.push(http.base, [forged], forged=forgery == "credentials")

    assert answer.status_code == 400
    assert courier.refused.items() <= answer.json().items()
    [push] = CourierPush.objects.filter(courier=courier.code)[pushes_before:]
    assert push.status == PushStatus.REJECTED
    assert push.source_ip == "127.0.0.1"
    expected_error = courier.forged_error if forgery == "credentials" else "127.0.0.1"
    assert expected_error in push.error
    assert apply_due("courier_push") == 0  # a rejected push is never applied
    assert list(stored_events(shipment.id).values_list("code", flat=True)) == [courier.picked_up]
    assert get_shipment(http, shipment.id)["status"] == "picked_up"


def test_a_terminal_push_counts_only_once_a_route_query_shows_it(http, courier):
    shipment = picked_up(http, courier)
    never_scanned = courier.record(
        shipment.waybill_no, courier.delivered, timezone.now(), "已签收，签收人：王五"
    )

    answer = courier.push(http.base, [never_scanned])

    assert answer.status_code == 200
    row = Shipment.objects.filter(public_id=shipment.id)

    def asked_again_later() -> bool:  # the route query came, and did not show the scan
        next_poll_at = row.get().next_poll_at
        return timezone.now() < next_poll_at <= timezone.now() + tracking.CONFIRM_AGAIN_AFTER

    eventually(asked_again_later, timeout=WAIT_SECONDS)
    unconfirmed = stored_events(shipment.id).get(code=courier.delivered)
    assert (unconfirmed.source, unconfirmed.confirmed) == (EventSource.PUSH, False)
    waiting = get_shipment(http, shipment.id)
    assert (waiting["status"], waiting["proof_of_delivery"]) == ("picked_up", None)

    done = advance(
        http, courier, shipment, courier.delivered, status_is("delivered"), signer=SIGNER
    )

    assert done["proof_of_delivery"]["signer"] == SIGNER_MASKED
    confirmed = {event["description"]: event["confirmed"] for event in done["events"]}
    assert confirmed["已签收，签收人：王*"] is False
    assert status_changes(shipment.id)[-1] == ("picked_up", "delivered")


def test_after_the_last_failed_attempt_the_return_rule_sends_it_back(http, courier, two_attempts):
    shipment = picked_up(http, courier, undeliverable_rule="return")

    failed = fail_twice(http, courier, shipment)

    assert (failed["status"], failed["failure_reason"]) == ("delivery_failed", "not_home")
    assert failed["undeliverable_action"] == "return_to_agency"
    [told] = undeliverable_events(shipment.id)
    assert (told["undeliverable_action"], told["failed_attempts"]) == ("return_to_agency", 2)
    assert "shipment.undeliverable" in audit_actions(shipment.id)
    advance(http, courier, shipment, courier.returning, status_is("returning"))
    expected = [("delivery_failed", "returning")]
    if courier.returned:
        advance(http, courier, shipment, courier.returned, status_is("returned"))
        expected.append(("returning", "returned"))
    assert status_changes(shipment.id)[-len(expected) :] == expected


def test_with_the_ask_rule_the_applicant_chooses_through_the_portal(http, courier, two_attempts):
    shipment = picked_up(http, courier, undeliverable_rule="ask")

    failed = fail_twice(http, courier, shipment)

    assert failed["undeliverable_action"] == "awaiting_applicant_choice"
    choice_url = f"{http.base}/api/v1/shipments/{shipment.id}/undeliverable-choice"
    answer = http.post(choice_url, json={"choice": "hold"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["undeliverable_action"] == "hold_for_pickup"
    assert get_shipment(http, shipment.id)["undeliverable_action"] == "hold_for_pickup"
    assert [event["undeliverable_action"] for event in undeliverable_events(shipment.id)] == [
        "awaiting_applicant_choice",
        "hold_for_pickup",
    ]
    chosen = AuditRecord.objects.get(object_id=shipment.id, action="shipment.undeliverable_choice")
    assert chosen.data == {"choice": "hold"}
    assert http.post(choice_url, json={"choice": "return"}).status_code == 409


def booked_in_process(api, courier: Courier) -> Shipment:
    """A shipment created in the test's transaction and booked by hand: never by a task."""
    shipment = create_in_process(api, courier=courier.code)
    waybill_no = f"{uuid.uuid4().int % 10**13:013d}"
    Shipment.objects.filter(pk=shipment.pk).update(waybill_no=waybill_no, booked_at=timezone.now())
    shipment.refresh_from_db()
    return shipment


def receive(courier: Courier, records: list[dict]):
    """The service takes a push in, in-process: in the test's transaction no task is queued."""
    query, body, content_type = courier.wire(records, forged=False)
    return tracking.push_receive(
        courier_code=courier.code,
        headers={"content-type": content_type},
        body=body,
        query=query,
        source_ip="127.0.0.1",
    )


@pytest.mark.django_db(transaction=False)
def test_a_push_whose_apply_task_was_lost_is_applied_by_the_sweep(agency, courier):
    """In the test's transaction: the push's apply task is never queued, as if lost."""
    shipment = booked_in_process(portal_api(), courier)
    record = courier.record(shipment.waybill_no, courier.picked_up, timezone.now(), "已收取快件")

    ack = receive(courier, [record])

    assert ack.status == 200
    push = CourierPush.objects.get()
    assert push.status == PushStatus.RECEIVED
    assert sweep()["courier_push"] == 1  # one batch queued for the worker; here, applied:
    assert apply_due("courier_push") == 1
    push.refresh_from_db()
    assert push.status == PushStatus.APPLIED
    shipment.refresh_from_db()
    assert shipment.status == "picked_up"
    assert list(shipment.events.values_list("code", "push_id")) == [(courier.picked_up, push.pk)]
    assert sweep()["courier_push"] == 0


@pytest.mark.django_db(transaction=False)
def test_one_batch_applies_both_couriers_pushes_each_scan_once_each_shipment_forward(agency):
    """Pushes of several shipments of both couriers, shuffled, one scan of each pushed twice,
    and one push for a waybill we never booked: one batch applies them all."""
    scanned_at = timezone.now() - timedelta(hours=4)
    api, shipments, sent = portal_api(), [], []
    for courier in (SF, EMS) * 3:
        shipment = booked_in_process(api, courier)
        scans = [
            courier.record(shipment.waybill_no, op_code, scanned_at + timedelta(hours=hour), "扫描")
            for hour, op_code in enumerate(
                (courier.picked_up, courier.in_transit, courier.out_for_delivery)
            )
        ]
        shipments.append((shipment, courier))
        sent += [(courier, [record]) for record in (*scans, scans[1])]
    unknown = SF.record("SF0000000000", SF.picked_up, scanned_at, "扫描")
    sent.append((SF, [unknown]))
    random.Random(7).shuffle(sent)
    for courier, records in sent:
        assert receive(courier, records).status == 200

    assert apply_due("courier_push") == len(sent)

    pushes = CourierPush.objects.all()
    assert {push.status for push in pushes} == {PushStatus.APPLIED}
    assert all(push.applied_at is not None for push in pushes)
    assert sorted(push.error for push in pushes if push.error) == ["unknown waybills: SF0000000000"]
    for shipment, courier in shipments:
        shipment.refresh_from_db()
        assert shipment.status == "out_for_delivery"
        assert shipment.last_event_at == scanned_at.replace(microsecond=0) + timedelta(hours=2)
        events = shipment.events.order_by("occurred_at")
        assert [event.code for event in events] == [
            courier.picked_up,
            courier.in_transit,
            courier.out_for_delivery,
        ]
        assert all(event.push_id is not None and event.confirmed for event in events)
        # Applied in one batch, a shipment moves once, straight to its latest scan's status.
        assert status_changes(shipment.public_id) == [("pending", "out_for_delivery")]
    assert apply_due("courier_push") == 0


def test_due_route_queries_apply_scans_that_were_never_pushed(http, courier, settings):
    # Bookings tell the courier, and the SF partner's default address takes, a dead address.
    settings.SERVICE_BASE_URL = unreachable_url()
    due, not_due = book(http, courier), book(http, courier)
    for op_code in (courier.picked_up, courier.in_transit):
        scan(http, courier.code, due.waybill_no, opCode=op_code)
    scan(http, courier.code, due.waybill_no, opCode=courier.delivered, signer=SIGNER)
    scan(http, courier.code, not_due.waybill_no, opCode=courier.picked_up)
    now = timezone.now()
    Shipment.objects.filter(public_id=due.id).update(next_poll_at=now - timedelta(minutes=1))
    Shipment.objects.filter(public_id=not_due.id).update(next_poll_at=now + timedelta(hours=1))

    assert tasks.poll_routes() == 1

    polled = get_shipment(http, due.id)
    assert polled["status"] == "delivered"
    assert polled["proof_of_delivery"]["signer"] == SIGNER_MASKED
    assert [(e["code"], e["source"], e["confirmed"]) for e in polled["events"]] == [
        (courier.picked_up, "query", True),
        (courier.in_transit, "query", True),
        (courier.delivered, "query", True),
    ]
    untouched = get_shipment(http, not_due.id)
    assert (untouched["status"], untouched["events"]) == ("pending", [])
    assert not CourierPush.objects.exists()
    assert tasks.poll_routes() == 0
