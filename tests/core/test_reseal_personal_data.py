"""Moving stored personal data from AES-256-GCM and HMAC-SHA256 to SM4-GCM and HMAC-SM3 on
PostgreSQL while the service keeps answering (manage.py reseal_personal_data)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from billing.models import PaymentOrder
from billing.revenue import revenue_system_configure
from billing.sealed import PAYER_ID_NUMBER, PAYER_PHONE
from billing.webhooks import webhook_endpoint_create
from core import pii
from core.auth import api_client_create
from core.pii_fields import SealedField, SealedModel, declared
from core.pii_reseal import reseal_model
from logistics import contacts
from logistics.models import CourierPush, TrackingEvent
from logistics.services.tracking import PUSH_BODY, PUSH_EVENTS
from notices.sms import NoticeKind, notice_request
from tests.billing.conftest import LEGAL_ID, NATURAL_ID, create_order, portal_api
from tests.logistics.conftest import create_in_process, shipment_body

# Each batch commits, and other connections hold rows' locks.
on_postgresql = pytest.mark.django_db(transaction=True)

OLD, NEW = "old", "new"
NEW_PHONE = "13700137000"


@pytest.fixture
def before_the_move(settings, fixed_fee):
    """Today's scheme: AES-256-GCM under ``old``, HMAC-SHA256 indexes; the SM4 key is
    already in the ring, as on every process before the move starts."""
    settings.PII_KEYS = {OLD: ("aes256gcm", os.urandom(32)), NEW: ("sm4gcm", os.urandom(16))}
    settings.PII_ACTIVE_KEY_ID = OLD
    settings.PII_HASH_ALGORITHMS = ["hmac-sha256"]
    return settings


def move_started(settings) -> None:
    """Every process seals with SM4 and writes HMAC-SM3 indexes, and looks both up."""
    settings.PII_ACTIVE_KEY_ID = NEW
    settings.PII_HASH_ALGORITHMS = ["hmac-sm3", "hmac-sha256"]


def move_finished(settings) -> None:
    settings.PII_KEYS = {NEW: settings.PII_KEYS[NEW]}
    settings.PII_HASH_ALGORITHMS = ["hmac-sm3"]


@pytest.fixture
def lock_timeout():
    """A statement of this test's connection that waits on a row lock fails instead of
    hanging the test."""
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '3s'")
    yield
    with connection.cursor() as cursor:
        cursor.execute("RESET lock_timeout")


def finance() -> APIClient:
    _, key = api_client_create(name="finance-scripts", role="finance")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def lookups_answer(api: APIClient, orders: dict[str, set[str]]) -> bool:
    """Whether finding orders by the payer's ID number finds exactly the expected ones."""
    for id_number, expected in orders.items():
        response = api.get("/api/v1/payment-orders", {"payer_id_number": id_number})
        assert response.status_code == 200, response.content
        if {order["id"] for order in response.json()["results"]} != expected:
            return False
    return True


def personal_data_everywhere(portal: APIClient) -> dict[str, set[str]]:
    """A row for each model that holds sealed values; the orders by payer ID number."""
    legal = {"type": "legal", "name": "某某公司", "id_number": LEGAL_ID}
    orders = {
        NATURAL_ID: {create_order(portal)["id"] for _ in range(3)},
        LEGAL_ID: {create_order(portal, payer=legal)["id"] for _ in range(2)},
    }
    shipment = create_in_process(portal)
    create_in_process(portal, recipient={**shipment_body()["recipient"], "phone": NEW_PHONE})
    shipment.pod_signer_encrypted = contacts.seal_signer("李四")
    shipment.save(update_fields=["pod_signer_encrypted"])
    push = CourierPush.objects.create(
        courier="sf",
        status="applied",
        body_encrypted=pii.encrypt(base64.b64encode(b'{"signer":"LS"}').decode(), column=PUSH_BODY),
        body_sha256="0" * 64,
        events_encrypted=pii.encrypt('[{"signer": "李四"}]', column=PUSH_EVENTS),
    )
    TrackingEvent.objects.create(
        shipment=shipment,
        courier="sf",
        event_id="E1",
        code="80",
        status="delivered",
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
        signer_encrypted=contacts.seal_signer("李四"),
        source="push",
        confirmed=True,
        push=push,
    )
    revenue_system_configure(
        code="ZJ-FS",
        name="浙江省非税收入征管系统",
        region_prefix="33",
        base_url="https://127.0.0.1:9/revenue",
        app_key="app",
        secret="revenue-secret",
        actor="test",
    )
    webhook_endpoint_create(
        client=portal_api("portal-hooks").api_client, url="https://127.0.0.1:9/hook", events=["*"]
    )
    with transaction.atomic():
        notice_request(
            kind=NoticeKind.PAYMENT_RECEIVED,
            order=PaymentOrder.objects.get(public_id=next(iter(orders[NATURAL_ID]))),
        )
    return orders


def stored_values() -> Iterator[tuple[SealedModel, object, SealedField, str]]:
    """Every non-empty sealed value: its model's declaration, its row, field and value."""
    for sealed in declared():
        for row in sealed.model.objects.order_by("pk"):
            for column in sealed.fields:
                if token := getattr(row, column.field):
                    yield sealed, row, column, token


def plaintexts() -> dict[tuple[str, int, str], str]:
    return {
        (sealed.label, row.pk, column.field): pii.decrypt(token, column=column.column)
        for sealed, row, column, token in stored_values()
    }


def schemes_of(public_ids: set[str]) -> set[str]:
    orders = PaymentOrder.objects.filter(public_id__in=public_ids)
    return {
        token.split(".")[0] for token in orders.values_list("payer_id_number_encrypted", flat=True)
    }


def run_reseal(*args: str, stderr: StringIO | None = None) -> list[str]:
    out = StringIO()
    call_command("reseal_personal_data", *args, stdout=out, stderr=stderr or StringIO())
    return out.getvalue().splitlines()


def payment_orders() -> SealedModel:
    return next(sealed for sealed in declared() if sealed.model is PaymentOrder)


@on_postgresql
def test_the_move_reseals_every_row_while_lookups_answer_before_during_and_after(
    before_the_move, department
):
    portal, staff = portal_api(), finance()
    orders = personal_data_everywhere(portal)
    before = plaintexts()
    assert {label for label, _, _ in before} == {sealed.label for sealed in declared()}
    assert lookups_answer(staff, orders)

    first_orders = set().union(*orders.values())
    move_started(before_the_move)
    seen_half_moved = False
    for walk in [reseal_model(sealed, batch_size=2) for sealed in declared()]:
        for _ in walk:
            # Between any two batches, every order is found, moved or not yet.
            assert lookups_answer(staff, orders)
            seen_half_moved |= schemes_of(first_orders) == {"v1", "sm4gcm"}
            if len(orders[NATURAL_ID]) == 3:
                orders[NATURAL_ID].add(create_order(portal)["id"])  # sealed the new way
    move_finished(before_the_move)

    assert seen_half_moved
    after = plaintexts()  # every value opens with the AES key gone from the ring
    assert {key: after[key] for key in before} == before
    for sealed, row, column, token in stored_values():
        assert token.startswith(f"sm4gcm.{NEW}."), (sealed.label, row.pk, column.field)
        if column.index:
            indexed = column.index.indexed(pii.decrypt(token, column=column.column))
            expected = pii.blind_index(indexed, purpose=column.index.purpose)
            assert getattr(row, column.index.field) == expected, (sealed.label, row.pk)
    assert lookups_answer(staff, orders)


@on_postgresql
def test_the_command_prints_its_progress_and_a_second_run_changes_nothing(
    before_the_move, department
):
    personal_data_everywhere(portal_api())
    rows = {(sealed.label, row.pk) for sealed, row, _, _ in stored_values()}
    move_started(before_the_move)

    first = run_reseal("--batch", "3")
    stored = {
        (sealed.label, row.pk, column.field): token
        for sealed, row, column, token in stored_values()
    }
    second = run_reseal()

    assert first[0] == f"Sealing under key {NEW} (sm4gcm), blind indexes with hmac-sm3."
    assert "billing.PaymentOrder: 3 checked, 3 re-sealed, up to id" in "\n".join(first)
    assert first[-1] == f"Done: {len(rows)} rows re-sealed; every value is current."
    assert second[-1] == "Done: 0 rows re-sealed; every value is current."
    assert {
        (sealed.label, row.pk, column.field): token
        for sealed, row, column, token in stored_values()
    } == stored


@on_postgresql
def test_a_row_another_transaction_changes_during_the_move_keeps_its_change(
    before_the_move, department, lock_timeout
):
    portal = portal_api()
    ids = [create_order(portal)["id"] for _ in range(3)]
    target = PaymentOrder.objects.get(public_id=ids[1])
    # Written by a process that has not moved yet: the old key, the old index.
    changed_phone = pii.encrypt(NEW_PHONE, column=PAYER_PHONE)
    changed_index = pii.blind_index(NEW_PHONE, purpose="phone")
    move_started(before_the_move)

    other = connections.create_connection("default")
    other.set_autocommit(False)
    try:
        with other.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM billing_paymentorder WHERE id = %s FOR UPDATE", [target.pk]
            )
            cursor.execute(
                "UPDATE billing_paymentorder SET payer_phone_encrypted = %s, payer_phone_index = %s"
                " WHERE id = %s",
                [changed_phone, changed_index, target.pk],
            )
        walk = reseal_model(payment_orders(), batch_size=10, pause=0)
        first = next(walk)
        assert (first.checked, first.busy) == (2, [target.pk])
        other.commit()
        last = [first, *walk][-1]  # after the rows it could not lock were tried again
    finally:
        other.rollback()
        other.close()

    assert (last.checked, last.busy) == (3, [])
    target.refresh_from_db()
    assert pii.decrypt(target.payer_phone_encrypted, column=PAYER_PHONE) == NEW_PHONE
    assert target.payer_phone_encrypted.startswith(f"sm4gcm.{NEW}.")
    assert target.payer_phone_index == pii.blind_index(NEW_PHONE, purpose="phone")
    assert target.payer_id_number_encrypted.startswith(f"sm4gcm.{NEW}.")


@on_postgresql
def test_a_value_that_does_not_open_is_named_left_alone_and_fails_the_run(
    before_the_move, department
):
    portal = portal_api()
    ids = [create_order(portal)["id"] for _ in range(2)]
    before_the_move.PII_KEYS = {**before_the_move.PII_KEYS, "lost": ("aes256gcm", os.urandom(32))}
    before_the_move.PII_ACTIVE_KEY_ID = "lost"
    orphan = pii.encrypt(NATURAL_ID, column=PAYER_ID_NUMBER)
    PaymentOrder.objects.filter(public_id=ids[0]).update(payer_id_number_encrypted=orphan)
    del before_the_move.PII_KEYS["lost"]
    move_started(before_the_move)

    errors = StringIO()
    with pytest.raises(CommandError, match="values that did not open: 1, "):
        run_reseal(stderr=errors)

    broken, fine = (PaymentOrder.objects.get(public_id=public_id) for public_id in ids)
    assert errors.getvalue().splitlines() == [
        f"billing.PaymentOrder {broken.pk} payer_id_number_encrypted: "
        "key id 'lost' is not in PII_KEYS"
    ]
    assert broken.payer_id_number_encrypted == orphan
    assert broken.payer_phone_encrypted.startswith(f"sm4gcm.{NEW}.")
    assert fine.payer_id_number_encrypted.startswith(f"sm4gcm.{NEW}.")


def test_every_sealed_field_of_every_model_is_declared_with_fields_that_exist():
    sealed_fields = {
        (model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.name.endswith("_encrypted")
    }

    declared_fields = {
        (sealed.label, column.field) for sealed in declared() for column in sealed.fields
    }
    assert declared_fields == sealed_fields
    for sealed in declared():
        for name in sealed.stored_fields:
            sealed.model._meta.get_field(name)
