"""Statistics pages and their workbooks: revenue, waivers, refunds, settlement and delivery,
summed exactly (in fen) over business dates in Beijing time, within the reader's departments.

Orders are made through the API against the fee catalogue and paid through the service that
applies every channel's answer, at chosen moments; refunds are reserved and applied the same
way; shipments follow their courier's scans through the tracking service.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import Client
from django.utils import timezone, translation
from openpyxl import load_workbook

from billing.models import (
    ChargeStage,
    Department,
    FeeItem,
    FeeKind,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
    Refund,
    ServiceItem,
    ServiceItemFee,
    WaiverKind,
    WaiverRule,
)
from billing.services.attempts import payment_attempt_apply_result
from billing.services.refunds import refund_apply_result, refund_reserve
from console.names import channel_name, courier_name
from console.statistics.pages import PAGES
from core.auth import AUDITOR_GROUP
from integrations.couriers.base import ShipmentStatus as CourierStatus
from integrations.payments.base import RefundResult, TradeResult, TradeStatus
from integrations.payments.base import RefundStatus as ChannelRefundStatus
from logistics.models import EventSource, Shipment
from logistics.services import tracking
from logistics.services.status import lock_shipment
from reconciliation.models import Clearing
from tests.billing.conftest import create_order, portal_api
from tests.conftest import make_department
from tests.console.conftest import logged_in, make_staff
from tests.console.test_i18n import text_of
from tests.console.test_records import scan
from tests.logistics.conftest import create_in_process

BEIJING = ZoneInfo("Asia/Shanghai")
MARCH_31, APRIL_1, APRIL_15, APRIL_20 = (
    date(2026, 3, 31),
    date(2026, 4, 1),
    date(2026, 4, 15),
    date(2026, 4, 20),
)
SPRING = {"from": "2026-03-01", "to": "2026-04-30"}


def beijing(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BEIJING)


# Reading pages and workbooks --------------------------------------------------------------


class _Tables(HTMLParser):
    """Each table with a data-testid: its rows' cells, keyed by the row's first cell."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.table: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("data-testid"):
            self.table = dict(attrs)["data-testid"]
            self.tables[self.table] = {}
        elif tag == "tr" and self.table:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row:
            self.tables[self.table][self.row[0]] = self.row[1:]
            self.row = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def tables(client, page: str, **params) -> dict[str, dict[str, list[str]]]:
    response = client.get(f"/console/statistics/{page}/", params)
    assert response.status_code == 200, response.content[:500]
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser.tables


def workbook(client, page: str, **params):
    response = client.get(f"/console/statistics/{page}.xlsx", params)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    return load_workbook(io.BytesIO(response.content))


def sheet_rows(sheet) -> dict[str, list]:
    """A table's sheet, each row keyed by its first cell (the header row by its header)."""
    return {row[0]: list(row[1:]) for row in sheet.iter_rows(values_only=True) if row[0]}


def zh(name, code: str) -> str:
    """What a Chinese page calls the channel or courier of that code."""
    with translation.override("zh-hans"):
        return name(code)


def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


# The data ---------------------------------------------------------------------------------


ITEM, GA_ITEM = "STAT-SC-001", "STAT-GA-001"  # the service items the orders are for
APPROVAL = {"waiver_approved_by": "王科长", "waiver_approval_ref": "JM-2026-001"}


@pytest.fixture
def catalogue(department):
    """SCJG01 (region 330100) charges a fixed fee (halved for 低保对象, exempt for 小微企业)
    and a fee within a range (reduced by approval for 困难群众) for its service item, and
    freight; GA01 (region 330200) a fixed fee for its own."""
    other = make_department("GA01", "市公安局", region_code="330200")
    licence = fee_item("FEE-LIC", department, standard_amount=1500)
    rule(licence, "低保对象减半", WaiverKind.HALF)
    rule(licence, "小微企业免收", WaiverKind.EXEMPT)
    testing = fee_item("FEE-RNG", department, min_amount=10000, max_amount=50000)
    rule(testing, "困难群众减免", WaiverKind.REDUCTION_ALLOWED)
    fee_item("SCJG-JDF", department, standard_amount=2300, kind=FeeKind.FREIGHT)
    service_item(ITEM, department, licence, testing)
    service_item(GA_ITEM, other, fee_item("GA-FEE", other, standard_amount=2000))
    return department, other


def fee_item(code: str, department, **fields) -> FeeItem:
    return FeeItem.objects.create(
        code=code, name=f"{code} 收费", department=department, legal_basis="收费标准", **fields
    )


def rule(item: FeeItem, reason: str, kind: str) -> WaiverRule:
    return WaiverRule.objects.create(fee_item=item, code=reason, label=reason, kind=kind)


def service_item(code: str, department, *fees: FeeItem) -> ServiceItem:
    item = ServiceItem.objects.create(code=code, name=f"{code} 事项", department=department)
    for fee in fees:
        ServiceItemFee.objects.create(service_item=item, fee_item=fee, stage=ChargeStage.ACCEPTANCE)
    return item


def made(portal, **order) -> PaymentOrder:
    """An order made through the API, for SCJG01's service item unless told otherwise."""
    order = {"service_item_code": ITEM, **order}
    return PaymentOrder.objects.get(public_id=create_order(portal, **order)["id"])


def paid(portal, moment: datetime, channel: str = "public_platform", **order) -> PaymentOrder:
    """An order made through the API and paid at ``moment`` through ``channel``, applied as
    every channel's answer is applied."""
    found = made(portal, **order)
    attempt = PaymentAttempt.objects.create(order=found, channel=channel, amount=found.amount)
    outcome = payment_attempt_apply_result(
        result=TradeResult(
            out_trade_no=attempt.out_trade_no,
            status=TradeStatus.SUCCEEDED,
            amount=found.amount,
            provider_trade_no=f"T{attempt.pk:030d}",
            paid_at=moment,
        ),
        actor=f"channel:{channel}",
    )
    assert outcome == "applied"
    found.refresh_from_db()
    return found


def refunded(order: PaymentOrder, amount: int, moment: datetime) -> Refund:
    with transaction.atomic():
        refund = refund_reserve(
            order_public_id=order.public_id, amount=amount, reason="申请人撤回", actor="test"
        )
    refund_apply_result(
        result=RefundResult(
            out_refund_no=refund.public_id,
            status=ChannelRefundStatus.SUCCEEDED,
            amount=amount,
            refunded_at=moment,
        ),
        actor="channel:test",
    )
    refund.refresh_from_db()
    return refund


@pytest.fixture
def portal(catalogue):
    return portal_api("statistics-portal")


@pytest.fixture
def spring(portal):
    """Three orders of public revenue, one of freight and one waived, around 1 April:

    - A, SCJG01 at the platform, 23:30 on 31 March in Beijing: FEE-LIC 2 × 15.00 = 30.00;
    - B, SCJG01 with Alipay, 00:30 on 1 April in Beijing (still 31 March in UTC):
      FEE-LIC 2 × 7.50, halved for 低保对象减半 (15.00 waived), and FEE-RNG assessed at
      120.00 and reduced by approval to 50.00 for 困难群众减免 (70.00 waived) = 65.00;
    - C, GA01 (region 330200) at the platform, 15 April: GA-FEE 20.00;
    - W, SCJG01, made on 20 April: FEE-LIC exempt for 小微企业免收 (15.00 waived), nothing
      to pay;
    - freight of SCJG01 paid on 1 April: 23.00, not public revenue; and an unpaid order.

    A has 10.00 refunded on 2 April, C all of its 20.00 on 16 April.
    """
    a = paid(portal, beijing(MARCH_31, 23, 30))
    b = paid(
        portal,
        beijing(APRIL_1, 0, 30),
        "alipay",
        lines=[
            {"fee_item": "FEE-LIC", "quantity": 2, "amount": 750, "waiver_reason": "低保对象减半"}
            | APPROVAL,
            {
                "fee_item": "FEE-RNG",
                "quantity": 1,
                "amount": 5000,
                "standard_amount": 12000,
                "waiver_reason": "困难群众减免",
            }
            | APPROVAL,
        ],
    )
    c = paid(
        portal,
        beijing(APRIL_15, 10),
        department="GA01",
        service_item_code=GA_ITEM,
        lines=[{"fee_item": "GA-FEE", "quantity": 1, "amount": 2000}],
    )
    waived = made(
        portal,
        lines=[
            {"fee_item": "FEE-LIC", "quantity": 1, "amount": 0, "waiver_reason": "小微企业免收"}
            | APPROVAL
        ],
    )
    assert waived.status == OrderStatus.WAIVED
    PaymentOrder.objects.filter(pk=waived.pk).update(created_at=beijing(APRIL_20, 10))
    paid(
        portal,
        beijing(APRIL_1, 9),
        service_item_code="FREIGHT",
        lines=[{"fee_item": "SCJG-JDF", "quantity": 1, "amount": 2300}],
    )
    made(portal, case_number="UNPAID-1")
    refunded(a, 1000, beijing(date(2026, 4, 2), 9))
    refunded(c, 2000, beijing(date(2026, 4, 16), 9))
    assert b.amount == 6500
    return a, b, c


def clearing(day: date, processor: str, department, **fields) -> Clearing:
    payments, fees = fields.pop("payments"), fields.pop("fees")
    return Clearing.objects.create(
        business_date=day,
        processor=processor,
        department=department,
        settlement_date=fields.pop("settlement_date", day + timedelta(days=1)),
        payments_count=1,
        payments_amount=payments,
        refunds_amount=0,
        fees_amount=fees,
        net_amount=payments - fees,
        **fields,
    )


# Revenue ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_revenue_is_summed_by_month_on_the_beijing_business_date(clerk, spring):
    by_period = tables(clerk, "revenue", period="month", **SPRING)["revenue-by-period"]
    # B was paid on 31 March in UTC but on 1 April in Beijing: April's.
    assert by_period["2026-03"] == ["1", "30.00"]
    assert by_period["2026-04"] == ["2", "85.00"]
    assert by_period["合计"] == ["3", "115.00"]


@pytest.mark.django_db
def test_revenue_by_day_cuts_at_midnight_in_beijing_and_shows_every_day(clerk, spring):
    by_day = tables(clerk, "revenue", **{"from": "2026-03-30", "to": "2026-04-02"})
    assert {day: cells for day, cells in by_day["revenue-by-period"].items() if day[0] == "2"} == {
        "2026-03-30": ["0", "0.00"],
        "2026-03-31": ["1", "30.00"],
        "2026-04-01": ["1", "65.00"],
        "2026-04-02": ["0", "0.00"],
    }


@pytest.mark.django_db
def test_revenue_by_fee_item_department_region_and_channel_leaves_out_freight(clerk, spring):
    found = tables(clerk, "revenue", **SPRING)
    assert found["revenue-by-fee-item"] == {
        "收费项目": ["缴款单数", "金额（元）"],
        "FEE-LIC FEE-LIC 收费": ["2", "45.00"],
        "FEE-RNG FEE-RNG 收费": ["1", "50.00"],
        "GA-FEE GA-FEE 收费": ["1", "20.00"],
        "合计": ["3", "115.00"],
    }
    assert rows_of(found["revenue-by-department"]) == {
        "SCJG01 市市场监督管理局": ["2", "95.00"],
        "GA01 市公安局": ["1", "20.00"],
        "合计": ["3", "115.00"],
    }
    assert rows_of(found["revenue-by-region"]) == {
        "330100": ["2", "95.00"],
        "330200": ["1", "20.00"],
        "合计": ["3", "115.00"],
    }
    assert rows_of(found["revenue-by-channel"]) == {
        zh(channel_name, "alipay"): ["1", "65.00"],
        zh(channel_name, "public_platform"): ["2", "50.00"],
        "合计": ["3", "115.00"],
    }
    by_alipay = tables(clerk, "revenue", channel="alipay", **SPRING)
    assert rows_of(by_alipay["revenue-by-department"]) == {
        "SCJG01 市市场监督管理局": ["1", "65.00"],
        "合计": ["1", "65.00"],
    }


def rows_of(table: dict[str, list[str]]) -> dict[str, list[str]]:
    """A table's rows without its header row (the first)."""
    return dict(list(table.items())[1:])


# Waivers, refunds -------------------------------------------------------------------------


@pytest.mark.django_db
def test_waivers_are_summed_by_reason_and_kind_against_the_standard_charged(clerk, spring):
    found = tables(clerk, "waivers", period="month", **SPRING)
    assert rows_of(found["waivers-by-reason"]) == {
        "困难群众减免": ["1", "70.00", "0"],
        "小微企业免收": ["1", "15.00", "0"],
        "低保对象减半": ["1", "15.00", "0"],
        "合计": ["3", "100.00", "0"],
    }
    with translation.override("zh-hans"):
        half, exempt, approved = (
            str(kind.label)
            for kind in (WaiverKind.HALF, WaiverKind.EXEMPT, WaiverKind.REDUCTION_ALLOWED)
        )
    assert rows_of(found["waivers-by-kind"]) == {
        half: ["1", "15.00", "0"],
        exempt: ["1", "15.00", "0"],
        approved: ["1", "70.00", "0"],
        "合计": ["3", "100.00", "0"],
    }
    assert rows_of(found["waivers-by-period"]) == {
        "2026-03": ["0", "0.00", "0"],
        "2026-04": ["3", "100.00", "0"],
        "合计": ["3", "100.00", "0"],
    }
    # An order waived to nothing went through no channel.
    by_alipay = tables(clerk, "waivers", channel="alipay", **SPRING)
    assert by_alipay["waivers-by-reason"]["合计"] == ["2", "85.00", "0"]


@pytest.mark.django_db
def test_refunds_are_summed_on_the_date_they_reached_the_payer(clerk, spring):
    found = tables(clerk, "refunds", period="month", **SPRING)
    assert rows_of(found["refunds-by-period"]) == {
        "2026-03": ["0", "0.00"],
        "2026-04": ["2", "30.00"],
        "合计": ["2", "30.00"],
    }
    assert rows_of(found["refunds-by-department"]) == {
        "SCJG01 市市场监督管理局": ["1", "10.00"],
        "GA01 市公安局": ["1", "20.00"],
        "合计": ["2", "30.00"],
    }
    assert rows_of(found["refunds-by-channel"]) == {
        zh(channel_name, "public_platform"): ["2", "30.00"],
        "合计": ["2", "30.00"],
    }
    with translation.override("zh-hans"):
        requested = str(Refund.Kind.REQUESTED.label)
    assert rows_of(found["refunds-by-kind"]) == {
        requested: ["2", "30.00"],
        "合计": ["2", "30.00"],
    }
    assert tables(clerk, "refunds", channel="alipay", **SPRING)["refunds-by-kind"]["合计"] == [
        "0",
        "0.00",
    ]


# Settlement -------------------------------------------------------------------------------


@pytest.fixture
def clearings(catalogue):
    """The clearing of four dates: the platform's of 1 April arrived on time; Alipay's arrived
    with another amount, and late on 2 April; GA01's of 15 April not seen after its
    settlement date; and the platform's of 20 April not yet due (its settlement date is
    tomorrow)."""
    department, other = catalogue
    clearing(APRIL_1, "public_platform", department, payments=3000, fees=30, arrival="arrived")
    clearing(APRIL_1, "alipay", department, payments=6500, fees=39, arrival="mismatch")
    clearing(date(2026, 4, 2), "alipay", department, payments=2000, fees=12, arrival="late")
    clearing(APRIL_15, "public_platform", other, payments=2000, fees=20)
    clearing(
        APRIL_20,
        "public_platform",
        department,
        payments=1000,
        fees=10,
        settlement_date=timezone.localdate() + timedelta(days=1),
    )


@pytest.mark.django_db
def test_processors_fees_and_arrivals_are_summed_per_channel(clerk, clearings):
    found = tables(clerk, "settlement", **SPRING)
    assert rows_of(found["fees-by-processor"]) == {
        zh(channel_name, "alipay"): ["85.00", "0.51", "0.60%"],
        zh(channel_name, "public_platform"): ["60.00", "0.60", "1.00%"],
        "合计": ["145.00", "1.11", "0.77%"],
    }
    # clearings; on time, late, another amount; not arrived after the date, not yet due; share
    assert rows_of(found["arrival-by-processor"]) == {
        zh(channel_name, "alipay"): ["2", "0", "1", "1", "0", "0", "0.00%"],
        zh(channel_name, "public_platform"): ["3", "1", "0", "0", "1", "1", "50.00%"],
        "合计": ["5", "1", "1", "1", "1", "1", "25.00%"],
    }
    assert rows_of(tables(clerk, "settlement", period="month", **SPRING)["fees-by-period"]) == {
        "2026-03": ["0.00", "0.00", "—"],
        "2026-04": ["145.00", "1.11", "0.77%"],
        "合计": ["145.00", "1.11", "0.77%"],
    }


# Delivery ---------------------------------------------------------------------------------

DELIVERY_DAY = {"from": "2026-05-10", "to": "2026-05-10"}


def shipment_booked(portal, courier: str, deliver_in: timedelta, **fields) -> Shipment:
    """A shipment booked on 10 May with ``courier``, due ``deliver_in`` from now."""
    shipment = create_in_process(portal, courier=courier, **fields)
    Shipment.objects.filter(pk=shipment.pk).update(
        waybill_no=f"{courier.upper()}{shipment.pk:013d}",
        booked_at=beijing(date(2026, 5, 10), 10),
        deliver_by=timezone.now() + deliver_in,
    )
    shipment.refresh_from_db()
    return shipment


def scanned(shipment: Shipment, *statuses: CourierStatus) -> Shipment:
    """The courier's scans, one a minute up to now, followed by the tracking service."""
    events = [
        scan(shipment, status, len(statuses) - index) for index, status in enumerate(statuses)
    ]
    with transaction.atomic():
        tracking.events_ingest(lock_shipment(shipment.pk), events, source=EventSource.QUERY)
    shipment.refresh_from_db()
    return shipment


@pytest.fixture
def deliveries(portal):
    """Booked on 10 May: with SF, two of SCJG01's signed for (one on time, one an hour past
    its time limit) and one of GA01's on time; with EMS, one of SCJG01's undeliverable after
    two failed deliveries and past its time limit, and one still in transit within it."""
    on_time = shipment_booked(portal, "sf", timedelta(days=2))
    late = shipment_booked(portal, "sf", -timedelta(hours=1))
    theirs = shipment_booked(portal, "sf", timedelta(days=2), department="GA01")
    failed = shipment_booked(portal, "ems", -timedelta(hours=1), service_level="standard")
    travelling = shipment_booked(portal, "ems", timedelta(days=2), service_level="standard")
    for shipment in (on_time, late, theirs):
        assert scanned(shipment, PICKED_UP, DELIVERED).delivered_at is not None
    failure = CourierStatus.DELIVERY_FAILED
    assert scanned(failed, PICKED_UP, failure, failure).undeliverable_at is not None
    scanned(travelling, PICKED_UP, CourierStatus.IN_TRANSIT)


PICKED_UP, DELIVERED = CourierStatus.PICKED_UP, CourierStatus.DELIVERED


@pytest.mark.django_db
def test_couriers_on_time_and_undeliverable_rates_follow_the_time_limits(clerk, deliveries):
    found = tables(clerk, "delivery", **DELIVERY_DAY)
    # booked, signed for, on time, on-time rate, undeliverable, undeliverable rate
    assert rows_of(found["delivery-by-courier"]) == {
        zh(courier_name, "ems"): ["2", "0", "0", "0.00%", "1", "50.00%"],
        zh(courier_name, "sf"): ["3", "3", "2", "66.67%", "0", "0.00%"],
        "合计": ["5", "3", "2", "50.00%", "1", "20.00%"],
    }
    assert tables(clerk, "delivery", courier="ems", **DELIVERY_DAY)["delivery-by-period"][
        "2026-05-10"
    ] == ["2", "0", "0", "0.00%", "1", "50.00%"]


# Scope ------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["finance", AUDITOR_GROUP])
def test_staff_limited_to_a_department_never_see_anothers_figures(
    spring, clearings, deliveries, group
):
    department, other = Department.objects.get(code="SCJG01"), Department.objects.get(code="GA01")
    scoped = logged_in(make_staff("scoped", department, group=group))

    revenue = tables(scoped, "revenue", **SPRING)
    assert rows_of(revenue["revenue-by-department"]) == {
        "SCJG01 市市场监督管理局": ["2", "95.00"],
        "合计": ["2", "95.00"],
    }
    assert "330200" not in revenue["revenue-by-region"]
    assert "GA-FEE GA-FEE 收费" not in revenue["revenue-by-fee-item"]
    assert tables(scoped, "refunds", **SPRING)["refunds-by-period"]["合计"] == ["1", "10.00"]
    arrivals = tables(scoped, "settlement", **SPRING)["arrival-by-processor"]
    assert arrivals[zh(channel_name, "public_platform")] == [
        "2",
        "1",
        "0",
        "0",
        "0",
        "1",
        "100.00%",
    ]
    assert tables(scoped, "delivery", **DELIVERY_DAY)["delivery-by-courier"]["合计"] == [
        "4",
        "2",
        "1",
        "33.33%",
        "1",
        "25.00%",
    ]
    # Nor in the workbooks, nor by asking for the other department.
    for page in PAGES:
        params = DELIVERY_DAY if page == "delivery" else SPRING
        for sheet in workbook(scoped, page, **params).worksheets:
            for row in sheet.iter_rows(values_only=True):
                assert not any(other.code in str(cell) for cell in row), (page, row)
        assert scoped.get(f"/console/statistics/{page}/", {"department": "GA01"}).status_code == 400
        assert (
            scoped.get(f"/console/statistics/{page}.xlsx", {"department": "GA01"}).status_code
            == 400
        )


@pytest.mark.django_db
def test_a_department_chosen_narrows_every_table(clerk, spring):
    found = tables(clerk, "revenue", department="GA01", **SPRING)
    assert rows_of(found["revenue-by-channel"]) == {
        zh(channel_name, "public_platform"): ["1", "20.00"],
        "合计": ["1", "20.00"],
    }
    assert found["revenue-by-period"]["合计"] == ["1", "20.00"]


# The workbook -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_workbook_holds_the_figures_in_yuan_with_a_chart_over_its_data_rows(clerk, spring):
    book = workbook(english(clerk), "revenue", period="month", **SPRING)
    assert book.sheetnames == [
        "Revenue by period",
        "Revenue by fee item",
        "Revenue by department",
        "Revenue by region",
        "Revenue by payment channel",
        "About these figures",
    ]
    by_period = book["Revenue by period"]
    assert [list(row) for row in by_period.iter_rows(values_only=True)] == [
        ["Period", "Payments", "Amount (yuan)"],
        ["2026-03", 1, 30],
        ["2026-04", 2, 85],
        ["Total", 3, 115],
    ]
    assert by_period.freeze_panes == "A2"
    assert by_period["C2"].number_format == "#,##0.00"
    (chart,) = by_period._charts
    (series,) = chart.series
    assert series.val.numRef.f == "'Revenue by period'!$C$2:$C$3"
    assert series.cat.numRef.f == "'Revenue by period'!$A$2:$A$3"

    by_channel = sheet_rows(book["Revenue by payment channel"])
    with translation.override("en"):
        assert by_channel[channel_name("alipay")] == [1, 65]
        assert by_channel[channel_name("public_platform")] == [2, 50]
    (chart,) = book["Revenue by payment channel"]._charts
    assert chart.series[0].val.numRef.f == "'Revenue by payment channel'!$C$2:$C$3"

    about = sheet_rows(book["About these figures"])
    assert about["Business dates"] == ["2026-03-01 – 2026-04-30"]
    assert about["Figures by"] == ["Month"]


@pytest.mark.django_db
def test_the_workbook_is_in_chinese_by_default_with_exact_fen(clerk, spring):
    book = workbook(clerk, "waivers", **SPRING)
    by_reason = book.worksheets[0]
    assert by_reason.title == "按减免原因统计"
    rows = sheet_rows(by_reason)
    assert rows["低保对象减半"] == [1, 15, 0]
    assert rows["困难群众减免"] == [1, 70, 0]
    assert rows["合计"] == [3, 100, 0]
    assert by_reason["A1"].value == "减免原因"


@pytest.mark.django_db
def test_text_from_the_catalogue_is_written_as_text_never_as_a_formula(clerk, portal):
    Department.objects.filter(code="SCJG01").update(name='=HYPERLINK("http://x","y")')
    paid(portal, beijing(APRIL_1, 12))
    book = workbook(clerk, "revenue", **SPRING)
    cell = book.worksheets[2]["A2"]
    assert cell.value == 'SCJG01 =HYPERLINK("http://x","y")'
    assert cell.data_type == "s"


# Asking -----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"period": "week"},
        {"from": "2026-13-01"},
        {"to": "yesterday"},
        {"from": "2026-04-02", "to": "2026-04-01"},
        {"from": "1999-12-31", "to": "2000-01-02"},
        {"from": "2024-01-01", "to": "2026-01-01"},  # 732 days
        {"department": "NOPE"},
        {"channel": "paypal"},
        {"period": "\x00"},
    ],
)
def test_bad_filters_get_a_400_page_and_a_400_download(clerk, catalogue, params):
    for url in ("/console/statistics/revenue/", "/console/statistics/revenue.xlsx"):
        response = clerk.get(url, params)
        assert response.status_code == 400, (url, params)
    # A NUL is refused before any view, as in every URL.
    if not any("\x00" in value for value in params.values()):
        assert b"<html" in clerk.get("/console/statistics/revenue/", params).content


@pytest.mark.django_db
def test_a_long_range_is_read_by_month_and_an_unknown_page_is_not_found(clerk, catalogue):
    assert clerk.get("/console/statistics/revenue/", {"from": "2024-01-01"}).status_code == 400
    month = clerk.get(
        "/console/statistics/revenue/",
        {"period": "month", "from": "2024-01-01", "to": "2026-04-30"},
    )
    assert month.status_code == 200
    assert clerk.get("/console/statistics/delivery/", {"courier": "dhl"}).status_code == 400
    assert clerk.get("/console/statistics/profits/").status_code == 404
    assert clerk.get("/console/statistics/profits.xlsx").status_code == 404


@pytest.mark.django_db
def test_the_section_is_in_the_menu_and_opens_on_revenue_with_charts(auditor, spring):
    response = auditor.get("/console/statistics/", follow=True)
    assert response.redirect_chain[-1][0] == "/console/statistics/revenue/"
    page = response.content.decode()
    assert 'href="/console/statistics/" aria-current="page"' in page
    for table in ("period", "fee-item", "department", "region", "channel"):
        assert f'data-testid="chart-revenue-by-{table}"' in page
    today = timezone.localdate()
    assert f'name="from" value="{(today - timedelta(days=29)).isoformat()}"' in page
    assert f'name="to" value="{today.isoformat()}"' in page
    assert Client().get("/console/statistics/revenue/").status_code == 302


@pytest.mark.django_db
def test_chinese_pages_show_no_english_words_nor_raw_codes(clerk, spring, clearings, deliveries):
    # Codes people know things by (departments, fee items) and the file type stay as they are.
    known = {"SCJG01", "GA01", "FEE-LIC", "FEE-RNG", "GA-FEE", "xlsx", "EMS", "clerk"}
    for page in PAGES:
        params = DELIVERY_DAY if page == "delivery" else SPRING
        shown = text_of(clerk.get(f"/console/statistics/{page}/", params).content.decode())
        english_words = set(re.findall(r"[A-Za-z][A-Za-z0-9_\-]*", shown)) - known
        assert english_words == set(), page
