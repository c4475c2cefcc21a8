"""A parallel approval finished: its shipments listed, the consolidated parcel held until
every agency's result is ready, and no agency's result sent twice."""

from __future__ import annotations

import itertools
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from core.models import AuditRecord
from logistics.models import Shipment, ShipmentPart
from logistics.services import booking
from logistics.services.parts import shipment_part_ready
from tests.billing.conftest import portal_api
from tests.logistics.conftest import booked, create_shipment, shipment_body

SHIPMENTS = "/api/v1/shipments"
AGENCIES = ("市市场监督管理局", "市公安局", "市生态环境局")
_keys = itertools.count()


@pytest.fixture
def portal(agency, freight_item) -> APIClient:
    return portal_api()


def result(agency: str) -> dict:
    return {"kind": "certificate", "title": f"{agency}批复", "issuing_agency": agency}


def consolidated(approval: str = "PA-2026-0001", agencies=AGENCIES[:2], **overrides) -> dict:
    return shipment_body(
        consolidation="consolidated",
        parallel_approval_id=approval,
        items=[result(agency) for agency in agencies],
        **overrides,
    )


def post(api: APIClient, body: dict):
    return api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY=f"parts-{next(_keys)}")


def created(api: APIClient, body: dict) -> dict:
    answer = post(api, body)
    assert answer.status_code == 201, answer.content
    return answer.json()


def ready(api: APIClient, shipment_id: str, agency: str):
    return api.post(
        f"{SHIPMENTS}/{shipment_id}/part-ready", {"issuing_agency": agency}, format="json"
    )


def audits(action: str, shipment_id: str) -> int:
    return AuditRecord.objects.filter(action=action, object_id=shipment_id).count()


def held(shipment_id: str) -> bool:
    stored = Shipment.objects.get(public_id=shipment_id)
    return stored.next_booking_at is None and stored.pk not in booking.shipments_due_for_booking()


# -- listed by parallel approval ----------------------------------------------------------


@pytest.mark.django_db
def test_a_portal_lists_its_own_shipments_of_a_parallel_approval(portal):
    other_portal = portal_api("another-portal")
    together = created(portal, consolidated("PA-1"))
    alone = created(
        portal,
        shipment_body(
            consolidation="separate", parallel_approval_id="PA-1", items=[result(AGENCIES[2])]
        ),
    )
    created(portal, consolidated("PA-2"))
    theirs = created(other_portal, consolidated("PA-1"))

    mine = portal.get(SHIPMENTS, {"parallel_approval_id": "PA-1"}).json()["results"]
    others = other_portal.get(SHIPMENTS, {"parallel_approval_id": "PA-1"}).json()["results"]

    assert {shipment["id"] for shipment in mine} == {together["id"], alone["id"]}
    assert [shipment["id"] for shipment in others] == [theirs["id"]]


# -- held until every part is ready ---------------------------------------------------------


@pytest.mark.django_db
def test_a_consolidated_parcel_is_held_and_not_booked_until_every_part_is_ready(portal):
    shipment = created(portal, consolidated())

    booking.shipment_book(shipment_id=Shipment.objects.get(public_id=shipment["id"]).pk)

    stored = Shipment.objects.get(public_id=shipment["id"])
    assert (stored.status, stored.waybill_no, stored.booking_tries) == ("pending", "", 0)
    assert held(shipment["id"])
    assert [(part["issuing_agency"], part["ready_at"]) for part in shipment["parts"]] == [
        (AGENCIES[1], None),
        (AGENCIES[0], None),
    ]


@pytest.mark.django_db
def test_the_last_part_ready_releases_the_booking_and_repeats_change_nothing(portal):
    shipment = created(portal, consolidated())

    first = ready(portal, shipment["id"], AGENCIES[0])
    still_held = held(shipment["id"])
    again = ready(portal, shipment["id"], AGENCIES[0])
    last = ready(portal, shipment["id"], AGENCIES[1])
    after = ready(portal, shipment["id"], AGENCIES[1])

    assert [answer.status_code for answer in (first, again, last, after)] == [200] * 4
    assert still_held
    assert not held(shipment["id"])
    assert all(part["ready_at"] for part in last.json()["parts"])
    assert audits("shipment.part_ready", shipment["id"]) == 2
    assert audits("shipment.parts_ready", shipment["id"]) == 1


@pytest.mark.django_db(transaction=True)
def test_a_released_parcel_is_booked_with_the_courier(portal_http, task_worker):
    shipment = create_shipment(portal_http, **consolidated())
    for agency in AGENCIES[:2]:
        answer = portal_http.post(
            f"{portal_http.base}{SHIPMENTS}/{shipment['id']}/part-ready",
            json={"issuing_agency": agency},
        )
        assert answer.status_code == 200, answer.text

    assert booked(portal_http, shipment["id"])["waybill_no"]


@pytest.mark.django_db
def test_a_part_the_shipment_does_not_carry_or_a_shipment_without_parts_is_refused(portal):
    together = created(portal, consolidated())
    single = created(portal, shipment_body())

    unknown = ready(portal, together["id"], "市税务局")
    no_parts = ready(portal, single["id"], AGENCIES[0])
    blank = ready(portal, together["id"], "")
    elsewhere = ready(portal_api("another-portal"), together["id"], AGENCIES[0])

    assert unknown.status_code == 400
    assert unknown.json()["error"]["fields"]["issuing_agency"]
    assert (no_parts.status_code, no_parts.json()["error"]["code"]) == (409, "no_parts")
    assert blank.status_code == 400
    assert elsewhere.status_code == 404
    assert held(together["id"])


# -- no part sent twice -------------------------------------------------------------------


@pytest.mark.django_db
def test_an_agencys_result_travels_in_one_live_shipment_only(portal):
    first = created(portal, consolidated(agencies=AGENCIES[:2]))

    again = post(portal, consolidated(agencies=AGENCIES[1:]))
    separately = post(
        portal,
        shipment_body(
            consolidation="separate",
            parallel_approval_id="PA-2026-0001",
            items=[result(AGENCIES[0])],
        ),
    )
    others_approval = post(portal_api("another-portal"), consolidated(agencies=AGENCIES[:2]))

    for refused in (again, separately):
        assert refused.status_code == 409, refused.content
        assert refused.json()["error"]["code"] == "part_already_shipping"
    assert others_approval.status_code == 201  # a parallel_approval_id is its portal's own
    assert Shipment.objects.filter(created_by__name="portal").count() == 1
    assert cancel_then_post(portal, first["id"], consolidated(agencies=AGENCIES[1:])) == 201


def cancel_then_post(api: APIClient, shipment_id: str, body: dict) -> int:
    assert api.post(f"{SHIPMENTS}/{shipment_id}/cancel").status_code == 200
    return post(api, body).status_code


@pytest.mark.django_db
def test_the_database_refuses_a_second_live_part_whoever_writes_it(portal):
    shipment = Shipment.objects.get(public_id=created(portal, consolidated())["id"])
    part = shipment.parts.first()

    with pytest.raises(IntegrityError), transaction.atomic():
        ShipmentPart.objects.create(
            shipment=shipment,
            client=part.client,
            parallel_approval_id=part.parallel_approval_id,
            issuing_agency=part.issuing_agency,
        )


@pytest.mark.django_db
def test_a_part_sent_on_its_own_is_ready_as_it_is_sent_and_booked_at_once(portal):
    alone = created(
        portal,
        shipment_body(
            consolidation="separate", parallel_approval_id="PA-9", items=[result(AGENCIES[0])]
        ),
    )

    assert alone["parts"][0]["ready_at"] is not None
    assert not held(alone["id"])


# -- two "ready" calls at once ------------------------------------------------------------


def concurrently(*calls) -> list[object]:
    """Run the calls at the same moment, each in a thread with its own connection."""
    start = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call) -> None:
        try:
            start.wait()
            outcomes[index] = call()
        except Exception as exc:  # the test reads what each call ended with
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_the_last_two_parts_ready_at_once_release_the_booking_once(portal):
    shipment = created(portal, consolidated(agencies=AGENCIES))
    shipment_part_ready(public_id=shipment["id"], issuing_agency=AGENCIES[0], actor="test")

    outcomes = concurrently(
        *(
            lambda agency=agency: shipment_part_ready(
                public_id=shipment["id"], issuing_agency=agency, actor="test"
            )
            for agency in AGENCIES[1:]
        )
    )

    assert all(isinstance(outcome, Shipment) for outcome in outcomes), outcomes
    assert audits("shipment.part_ready", shipment["id"]) == 3
    assert audits("shipment.parts_ready", shipment["id"]) == 1
    assert not held(shipment["id"])


@pytest.mark.django_db(transaction=True)
def test_the_same_part_ready_twice_at_once_is_recorded_once(portal):
    shipment = created(portal, consolidated())

    outcomes = concurrently(
        *(
            lambda: shipment_part_ready(
                public_id=shipment["id"], issuing_agency=AGENCIES[0], actor="test"
            )
            for _ in range(2)
        )
    )

    assert all(isinstance(outcome, Shipment) for outcome in outcomes), outcomes
    assert audits("shipment.part_ready", shipment["id"]) == 1
    assert audits("shipment.parts_ready", shipment["id"]) == 0
    assert held(shipment["id"])
