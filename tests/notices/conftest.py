"""Notices to applicants: orders and shipments to tell of, and the SMS sandbox they reach."""

from __future__ import annotations

import uuid

import pytest
import requests
from django.db import transaction

from billing.models import Department, PaymentOrder
from billing.sealed import PAYER_PHONE
from core import pii
from logistics.models import Shipment
from logistics.services.status import lock_shipment, shipment_transition
from notices.models import SmsMessage
from sandboxes import state
from tests.billing.conftest import portal_api
from tests.billing.test_revenue_push import paid_order
from tests.logistics.conftest import agency, freight_item, portal_http, shipment_body
from tests.waiting import eventually

PHONE = "13800138000"
# The logistics tests' fixtures: an agency, its freight item, and the portal calling over HTTP.
__all__ = ["agency", "freight_item", "portal_http"]


class SmsSandbox:
    """Tencent Cloud SMS's sandbox as the live server serves it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = f"{base_url}/sandbox/sms"

    def messages(self, phone: str | None = None) -> list[dict]:
        query = {"phone": phone} if phone else {}
        answer = requests.get(f"{self.base_url}/_control/messages", params=query, timeout=5)
        return answer.json()["messages"]

    def control(self, what: str, **body: object) -> dict:
        answer = requests.post(f"{self.base_url}/_control/{what}", json=body, timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def portal(db):
    return portal_api()


@pytest.fixture
def sms(live_service, settings) -> SmsSandbox:
    """Notices go to the SMS sandbox of the live service, which reports back to it; the
    sandbox has forgotten what it sent, and each number may get many messages."""
    state.reset_all()
    settings.SMS = {**settings.SMS, "base_url": f"{live_service.url}/sandbox/sms"}
    limits = {"thirty_seconds": 100, "one_hour": 100, "day": 100}
    settings.SANDBOX_SMS = {**settings.SANDBOX_SMS, "frequency_limits": limits}
    sandbox = SmsSandbox(live_service.url)
    yield sandbox
    sandbox.control("mode", mode="up")


def order_paid_by(department: Department, phone: str = PHONE) -> PaymentOrder:
    """A paid order whose payer gave ``phone`` ("" for none)."""
    order = paid_order(department)
    if phone:
        order.payer_phone_encrypted = pii.encrypt(phone, column=PAYER_PHONE)
        order.payer_phone_index = pii.blind_index(phone, purpose="phone")
        order.save(update_fields=["payer_phone_encrypted", "payer_phone_index"])
    return order


def booked_shipment(**overrides) -> Shipment:
    """A shipment (a result, unless told) created through the API in the test's
    transaction, its booking recorded as waybill SF7000000001."""
    response = portal_api().post(
        "/api/v1/shipments",
        shipment_body(**overrides),
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.content
    shipment = Shipment.objects.get(public_id=response.json()["id"])
    Shipment.objects.filter(pk=shipment.pk).update(waybill_no="SF7000000001")
    shipment.refresh_from_db()
    return shipment


def move(shipment: Shipment, to: str, *, failed_attempts: int | None = None) -> Shipment:
    """The shipment moved as its courier's events move it."""
    with transaction.atomic():
        locked = lock_shipment(shipment.pk)
        if failed_attempts is not None:
            locked.failed_attempts = failed_attempts
        shipment_transition(locked, to=to, actor="courier:sf")
    return locked


def messages_of(**filters: object) -> list[SmsMessage]:
    return list(SmsMessage.objects.filter(**filters).order_by("pk"))


def message_in(status: str, **filters: object) -> SmsMessage:
    """The one message of ``filters``, once it has ``status``."""
    return eventually(
        lambda: SmsMessage.objects.filter(**filters, status=status).first(), seconds=15
    )
