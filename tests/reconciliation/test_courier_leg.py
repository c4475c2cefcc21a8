"""Leg 4 through a run: shipments booked with SF against SF's freight bill, over HTTP."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from core.money import business_date_of
from logistics.models import Shipment
from reconciliation.models import Discrepancy, RunStatus
from reconciliation.services import runs
from tests.logistics.conftest import booked, create_shipment

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]


@pytest.fixture
def fresh_sf(live_service):
    """The sandboxes are one per test process: forget earlier tests' bookings."""
    requests.post(f"{live_service.url}/sandbox/_control/reset", timeout=5).raise_for_status()


def test_shipments_match_the_freight_bill_and_a_tariff_change_shows(
    fresh_sf, portal_http, task_worker
):
    first = booked(portal_http, create_shipment(portal_http)["id"])
    second = booked(portal_http, create_shipment(portal_http)["id"])
    Shipment.objects.filter(public_id=second["id"]).update(freight_amount=2000)  # quoted wrong

    run = runs.run_request(
        business_date=business_date_of(timezone.now()), party_code="courier:sf", actor="user:test"
    )
    run = runs.run_execute(run_id=run.pk)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.totals["matched"]["count"] == 1
    [item] = Discrepancy.objects.all()
    assert (item.type, item.our_ref, item.our_amount, item.their_amount) == (
        "freight_mismatch",
        second["id"],
        2000,
        2300,
    )
    assert item.owner == "logistics"
    assert first["waybill_no"] != second["waybill_no"]
