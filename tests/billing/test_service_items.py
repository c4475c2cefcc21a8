"""An order names a known, active service item (政务服务事项) that charges its fee items at one
stage of the case; an item declared free of charge takes no order. The catalogue of service
items is loaded like the rest of the reference data, and the portal reads it."""

from __future__ import annotations

import json
from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from billing.models import (
    ChargeStage,
    FeeItem,
    FeeKind,
    PaymentOrder,
    ServiceItem,
    ServiceItemFee,
    WaiverRule,
)
from billing.services import orders
from billing.services.catalogue import CatalogueInvalid, catalogue_load
from core.auth import api_client_create
from demo.payments import DAY_PAYMENTS, Portal
from demo.reference import DEMO_CATALOGUE
from tests.billing.conftest import NATURAL_ID, order_body
from tests.conftest import SERVICE_ITEM, charged_by_service_item

pytestmark = pytest.mark.django_db


def post(api, key: str = "s-1", **overrides):
    return api.post(
        "/api/v1/payment-orders",
        order_body(**overrides),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def refusal(response) -> tuple[str, dict]:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    return error["code"], error["fields"]


@pytest.fixture
def certificate_fee(fixed_fee) -> FeeItem:
    """A second fee of the department, charged when the certificate is collected."""
    fee = FeeItem.objects.create(
        code="FEE-CERT",
        name="证书工本费",
        department=fixed_fee.department,
        legal_basis="收费标准",
        standard_amount=500,
    )
    charged_by_service_item(fee, stage=ChargeStage.CERTIFICATE)
    return fee


LICENCE_LINE = {"fee_item": "FEE-LIC", "quantity": 1, "amount": 1500}
CERTIFICATE_LINE = {"fee_item": "FEE-CERT", "quantity": 1, "amount": 500}


# -- orders ---------------------------------------------------------------------------------


def test_an_order_records_its_service_item_and_the_stage_its_fees_are_charged_at(portal, fixed_fee):
    body = post(portal).json()

    order = PaymentOrder.objects.get(public_id=body["id"])
    assert (order.service_item.code, order.stage, body["stage"]) == (
        SERVICE_ITEM,
        "acceptance",
        "acceptance",
    )


@pytest.mark.parametrize("code", ["NO-SUCH-ITEM", SERVICE_ITEM], ids=["unknown", "inactive"])
def test_an_unknown_or_inactive_service_item_is_refused(portal, fixed_fee, code):
    ServiceItem.objects.filter(code=SERVICE_ITEM).update(active=False)

    code_of, fields = refusal(post(portal, service_item_code=code))

    assert code_of == "unknown_service_item"
    assert fields == {"service_item_code": [f"No active service item {code}."]}
    assert not PaymentOrder.objects.exists()


def test_a_fee_item_the_service_item_does_not_charge_is_refused(portal, fixed_fee, department):
    FeeItem.objects.create(
        code="FEE-ELSE",
        name="其他收费",
        department=department,
        legal_basis="收费标准",
        standard_amount=800,
    )
    lines = [LICENCE_LINE, {"fee_item": "FEE-ELSE", "quantity": 1, "amount": 800}]

    code, fields = refusal(post(portal, lines=lines))

    assert code == "not_in_service_item"
    assert fields == {"lines": {"1": [f"Service item {SERVICE_ITEM} does not charge fee item "
                                      "FEE-ELSE."]}}  # fmt: skip


def test_a_service_item_declared_free_takes_no_order(portal, fixed_fee, department):
    ServiceItem.objects.create(
        code="FREE-ITEM", name="资料查询", department=department, no_fee=True
    )

    code, fields = refusal(post(portal, service_item_code="FREE-ITEM"))

    assert code == "service_item_free"
    assert fields == {"service_item_code": ["Declared free of charge."]}
    assert not PaymentOrder.objects.exists()


def test_the_stage_named_must_be_the_one_its_fees_are_charged_at(
    portal, fixed_fee, certificate_fee
):
    wrong = post(portal, stage="certificate", lines=[LICENCE_LINE])
    right = post(portal, key="s-2", stage="certificate", lines=[CERTIFICATE_LINE])

    code, fields = refusal(wrong)
    assert code == "stage_mismatch"
    assert "charges fee item FEE-LIC at acceptance, not at certificate" in fields["lines"]["0"][0]
    assert right.status_code == 201, right.content
    assert right.json()["stage"] == "certificate"


def test_fees_of_two_stages_go_on_two_orders(portal, fixed_fee, certificate_fee):
    code, fields = refusal(post(portal, lines=[LICENCE_LINE, CERTIFICATE_LINE]))

    assert code == "stage_mismatch"
    assert fields == {"stage": ["The lines are charged at acceptance, certificate."]}


def test_a_freight_order_is_no_fee_of_a_service_item(department):
    freight = FeeItem.objects.create(
        code="SCJG-JDF",
        name="政务寄递费（代收）",
        kind=FeeKind.FREIGHT,
        department=department,
        legal_basis="申请人自愿选择寄递服务",
        min_amount=100,
        max_amount=50000,
    )

    created = orders.payment_order_create(
        client=None,
        case_number="SC-1",
        service_item_code="FREIGHT",
        department_code=department.code,
        region_code="330100",
        payer=orders.PayerInput(type="natural", name="张三", id_number=NATURAL_ID),
        lines=[orders.LineInput(fee_item=freight.code, quantity=1, amount=1200)],
    )

    assert (created.order.service_item, created.order.stage) == (None, "")
    assert created.order.service_item_code == "FREIGHT"


def test_the_database_refuses_a_fee_of_an_item_declared_free(fixed_fee, department):
    free = ServiceItem.objects.create(code="FREE", name="查询", department=department, no_fee=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceItemFee.objects.create(service_item=free, fee_item=fixed_fee, stage="acceptance")
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as at commit
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceItem.objects.filter(code=SERVICE_ITEM).update(no_fee=True)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# -- the portal's list ----------------------------------------------------------------------


def test_the_portal_lists_active_service_items_with_their_fees_and_stages(
    portal, fixed_fee, certificate_fee, department, other_department
):
    ServiceItem.objects.create(code="FREE", name="查询", department=department, no_fee=True)
    ServiceItem.objects.create(code="GONE", name="已取消", department=department, no_fee=True,
                               active=False)  # fmt: skip
    ServiceItem.objects.create(code="GA-1", name="出入境", department=other_department, no_fee=True)
    FeeItem.objects.filter(code="FEE-CERT").update(active=False)

    listed = portal.get("/api/v1/service-items", {"department": department.code})

    assert listed.status_code == 200
    assert listed.json() == [
        {
            "code": SERVICE_ITEM,
            "name": "营业执照办理",
            "department": "SCJG01",
            "no_fee": False,
            "fees": [
                {"fee_item": "FEE-LIC", "fee_item_name": "营业执照工本费", "stage": "acceptance"}
            ],
        },
        {"code": "FREE", "name": "查询", "department": "SCJG01", "no_fee": True, "fees": []},
    ]
    assert len(portal.get("/api/v1/service-items").json()) == 3


def test_the_fee_items_list_their_active_waiver_rules(portal, fixed_fee):
    WaiverRule.objects.filter(code="小微企业免收").update(active=False)

    (item,) = portal.get("/api/v1/fee-items").json()

    assert item["waiver_rules"] == [
        {"code": "低保对象减半", "label": "低保对象减半", "kind": "half", "reduced_amount": None}
    ]
    assert item["waiver_reasons"] == ["低保对象减半"]


# -- the catalogue file ---------------------------------------------------------------------


def demo_catalogue() -> dict:
    return json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))


def catalogue_rows() -> list:
    return [
        sorted(ServiceItem.objects.values_list("code", "name", "department__code", "no_fee")),
        sorted(ServiceItemFee.objects.values_list("service_item__code", "fee_item__code", "stage")),
        sorted(WaiverRule.objects.values_list("fee_item__code", "code", "kind", "reduced_amount",
                                              "active")),
    ]  # fmt: skip


def test_loading_the_catalogue_twice_changes_nothing_the_second_time():
    first = catalogue_load(data=demo_catalogue())
    rows = catalogue_rows()
    second = catalogue_load(data=demo_catalogue())

    assert str(first.service_items) == "12 created, 0 updated, 0 unchanged"
    assert str(second.service_items) == "0 created, 0 updated, 12 unchanged"
    assert str(second.fee_items) == "0 created, 0 updated, 15 unchanged"
    assert catalogue_rows() == rows
    assert ("BDC-FZZDJ", "PARKING-STORAGE-80", "reduced_to", 8000, True) in rows[2]
    assert ("330100-SCJG-QYDJ", "企业设立登记", "330100-SCJG", True) in rows[0]


def test_a_rule_left_out_is_deactivated_and_a_fee_left_out_removed():
    catalogue_load(data=demo_catalogue())
    changed = demo_catalogue()
    fee = next(item for item in changed["fee_items"] if item["code"] == "BDC-ZZDJ")
    fee["waiver_rules"] = fee["waiver_rules"][:1]
    item = next(i for i in changed["service_items"] if i["code"] == "330100-ZRZY-BDC-ZZDJ")
    item["fees"] = item["fees"][:1]
    free = next(i for i in changed["service_items"] if i["code"] == "330100-ZRZY-BDC-ZSHF")
    free.pop("fees")
    free["no_fee"] = True

    counts = catalogue_load(data=changed)

    assert (counts.fee_items.updated, counts.service_items.updated) == (1, 2)
    assert not WaiverRule.objects.get(fee_item__code="BDC-ZZDJ", code="LOW-INCOME-HALF").active
    assert list(
        ServiceItemFee.objects.filter(service_item__code="330100-ZRZY-BDC-ZZDJ").values_list(
            "fee_item__code", flat=True
        )
    ) == ["BDC-ZZDJ"]
    assert ServiceItem.objects.get(code="330100-ZRZY-BDC-ZSHF").no_fee
    assert not ServiceItemFee.objects.filter(service_item__code="330100-ZRZY-BDC-ZSHF").exists()


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda items: items[0].update(no_fee=True),
            "ServiceItem 330100-GACRJ-CRJ-PTHZ: declared free of charge (no_fee), it lists fee "
            "items.",
        ),
        (
            lambda items: items[0].pop("fees"),
            "ServiceItem 330100-GACRJ-CRJ-PTHZ: lists no fee items; an item that charges none "
            "has no_fee.",
        ),
        (
            lambda items: items[0].update(fees=[{"fee_item": "GACRJ-JDF", "stage": "acceptance"}]),
            "ServiceItem 330100-GACRJ-CRJ-PTHZ: fee #1: GACRJ-JDF is freight, not a fee of a "
            "service item.",
        ),
        (
            lambda items: items[0].update(fees=[{"fee_item": "BDC-ZZDJ", "stage": "acceptance"}]),
            "ServiceItem 330100-GACRJ-CRJ-PTHZ: fee #1: BDC-ZZDJ is collected by another "
            "department.",
        ),
        (
            lambda items: items[0].update(fees=[{"fee_item": "CRJ-PTHZ", "stage": "payment"}]),
            "ServiceItem 330100-GACRJ-CRJ-PTHZ: fee #1: stage must be one of acceptance, "
            "completion, certificate.",
        ),
    ],
    ids=["free with fees", "no fee undeclared", "freight", "other department", "no such stage"],
)
def test_a_service_item_that_breaks_the_rules_loads_nothing(change, problem):
    catalogue = demo_catalogue()
    change(catalogue["service_items"])

    with pytest.raises(CatalogueInvalid) as invalid:
        catalogue_load(data=catalogue)

    assert problem in invalid.value.problems
    assert not ServiceItem.objects.exists() and not FeeItem.objects.exists()


def test_a_waiver_rule_that_breaks_the_rules_loads_nothing():
    catalogue = demo_catalogue()
    fee = next(item for item in catalogue["fee_items"] if item["code"] == "BDC-FZZDJ")
    fee["waiver_rules"] = [
        {"code": "TO-600", "label": "减按", "kind": "reduced_to", "reduced_amount": 60000},
        {"code": "HALF", "label": "减半", "kind": "half", "reduced_amount": 100},
        {"code": "HALF", "label": "减半", "kind": "halved"},
    ]

    with pytest.raises(CatalogueInvalid) as invalid:
        catalogue_load(data=catalogue)

    problems = invalid.value.problems
    where = "FeeItem BDC-FZZDJ: waiver rule"
    assert f"{where} TO-600: reduced_amount 60000 fen is not below the standard 55000 fen." in (
        problems
    )
    assert any(p.startswith(f"{where} HALF: __all__:") for p in problems), problems
    assert f"{where} HALF: the code appears more than once." in problems
    assert not WaiverRule.objects.exists()


def test_every_order_of_the_demo_portal_names_a_service_item_of_the_demo_catalogue():
    catalogue_load(data=demo_catalogue())
    client, _ = api_client_create(name="demo-portal", role="portal")
    portal = Portal(client, date(2026, 12, 1))

    made = [portal.order(fee) for fee in dict.fromkeys(fee for fee, _ in DAY_PAYMENTS)]

    assert all(order.service_item_id and order.stage for order in made)


# -- the admin ------------------------------------------------------------------------------


def service_item_form(item: ServiceItem, *, no_fee: bool, fees: list[ServiceItemFee]) -> dict:
    form = {
        "code": item.code,
        "name": item.name,
        "department": item.department_id,
        "active": "on",
        **({"no_fee": "on"} if no_fee else {}),
        "fees-TOTAL_FORMS": len(fees),
        "fees-INITIAL_FORMS": len(fees),
        "fees-MIN_NUM_FORMS": 0,
        "fees-MAX_NUM_FORMS": 1000,
    }
    for index, fee in enumerate(fees):
        form |= {
            f"fees-{index}-id": fee.pk,
            f"fees-{index}-service_item": item.pk,
            f"fees-{index}-fee_item": fee.fee_item_id,
            f"fees-{index}-stage": fee.stage,
        }
    return form


def test_the_admin_refuses_to_declare_free_an_item_that_keeps_fees(admin_client, fixed_fee):
    item = ServiceItem.objects.get(code=SERVICE_ITEM)
    url = f"/admin/billing/serviceitem/{item.pk}/change/"

    fees = list(item.fees.all())
    kept = admin_client.post(url, service_item_form(item, no_fee=True, fees=fees))
    emptied = admin_client.post(
        url, service_item_form(item, no_fee=False, fees=fees) | {"fees-0-DELETE": "on"}
    )

    for refused in (kept, emptied):
        assert refused.status_code == 200  # the form again, with its error
    assert "declared free of charge has no fee items" in kept.content.decode()
    assert "or declare it free of charge" in emptied.content.decode()
    item.refresh_from_db()
    assert not item.no_fee and item.fees.count() == 1
