import pytest

from tests.logistics.conftest import booked, create_shipment, scan, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_sf_booking_to_delivered(portal_http, task_worker):
    shipment = create_shipment(portal_http)
    waybill = booked(portal_http, shipment["id"])["waybill_no"]
    scan(portal_http, "sf", waybill, opCode="50")
    wait_for(portal_http, shipment["id"], lambda s: s["status"] == "picked_up")
    scan(portal_http, "sf", waybill, opCode="80", signer="张三")
    done = wait_for(portal_http, shipment["id"], lambda s: s["status"] == "delivered")
    assert done["proof_of_delivery"]["signer"] == "张*"
    assert all(e["confirmed"] for e in done["events"])
