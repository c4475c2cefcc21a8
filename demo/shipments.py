"""The day's shipments, one in every status a shipment has, driven by the couriers' scans.

Shipments are created through the logistics service as the portal's API does; SF and
EMS book them in their sandboxes, and each scan a sandbox is told of is pushed back to
/notify/couriers/<code>/push and applied, as the tests of logistics do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from billing.models import Department
from demo import sandboxes
from demo.payments import Portal, payer, wait_paid
from demo.waiting import wait_until
from integrations.couriers.base import Address
from logistics.models import FreightPayer, Shipment, ShipmentKind, ShipmentStatus
from logistics.services import shipments

S = ShipmentStatus
SIGNER = "李建国"
RECIPIENTS = (
    Address("王小明", "13857100001", "浙江省", "杭州市", "西湖区", "文三路90号1幢302室", "330106"),
    Address("李秀英", "13857100002", "浙江省", "杭州市", "拱墅区", "湖墅南路88号101室", "330105"),
    Address("张伟", "13857100003", "浙江省", "宁波市", "鄞州区", "天童南路588号1201室", "330212"),
    Address("刘洋", "13857100004", "上海市", "上海市", "浦东新区", "世纪大道100号18楼", "310115"),
)  # fmt: skip


@dataclass(frozen=True)
class Scan:
    op_code: str
    remark: str = ""
    signer: str = ""

    def fields(self, courier: str) -> dict[str, str]:
        text = {"sf": "remark", "ems": "opDesc"}[courier]
        fields = {text: self.remark} if self.remark else {}
        return {**fields, "signer": self.signer} if self.signer else fields


@dataclass(frozen=True)
class Journey:
    """A shipment of the day: who sends it with which courier, its scans, where it ends."""

    department: str
    courier: str
    scans: tuple[Scan, ...]
    ends: str
    freight_payer: str = FreightPayer.AGENCY
    declared_value: int = 0


SF_ON_THE_WAY = (Scan("50"), Scan("30"), Scan("44"))
JOURNEYS = (
    Journey("330100-GACRJ", "sf", (), S.PENDING),  # booked, waiting for the pickup
    Journey("330100-GACRJ", "sf", SF_ON_THE_WAY[:1], S.PICKED_UP),
    Journey("330100-ZRZY", "sf", SF_ON_THE_WAY[:2], S.IN_TRANSIT),
    Journey("330100-SCJG", "sf", SF_ON_THE_WAY, S.OUT_FOR_DELIVERY),
    Journey("330100-RSJ", "sf", (*SF_ON_THE_WAY, Scan("80", signer=SIGNER)), S.DELIVERED),
    Journey(
        "330106-SCJG", "sf", (*SF_ON_THE_WAY, Scan("70", "收件人不在，电话无人接听")),
        S.DELIVERY_FAILED,
    ),
    Journey("330100-ZRZY", "sf", (*SF_ON_THE_WAY[:2], Scan("77", "客户要求延期派送")), S.ON_HOLD),
    Journey(
        "330100-SCJG", "sf", (*SF_ON_THE_WAY, Scan("70", "收件人拒收"), Scan("99", "退回寄件人")),
        S.RETURNING,
    ),
    Journey("330100-GACRJ", "ems", (Scan("203"), Scan("306"), Scan("703")), S.READY_FOR_PICKUP),
    Journey(
        "330100-ZRZY", "ems", (Scan("203"), Scan("954"), Scan("702"), Scan("704", signer=SIGNER)),
        S.DELIVERED, declared_value=200000,
    ),
    Journey(
        "330100-RSJ", "ems", (Scan("203"), Scan("702"), Scan("705"), Scan("711"), Scan("712")),
        S.RETURNED,
    ),
    Journey("330106-SCJG", "ems", (Scan("203"), Scan("306"), Scan("713")), S.LOST_DAMAGED),
    # The applicant paid the freight online before the pickup was booked.
    Journey(
        "330100-GACRJ", "sf", (*SF_ON_THE_WAY, Scan("80", signer=SIGNER)), S.DELIVERED,
        freight_payer=FreightPayer.APPLICANT,
    ),
)  # fmt: skip


class Shipper:
    """The demo portal's shipments: created, booked, scanned, followed to their status."""

    def __init__(self, portal: Portal, sandbox_url: str) -> None:
        self.portal = portal
        self.sandbox_url = sandbox_url
        self._cases = 0

    def create(self, journey: Journey) -> Shipment:
        self._cases += 1
        department = Department.objects.get(code=journey.department)
        window = Address(
            f"{department.name}政务服务窗口", "0571-85251234", "浙江省", "杭州市", "上城区",
            "解放东路18号市民中心", "330102",
        )  # fmt: skip
        new = shipments.NewShipment(
            kind=ShipmentKind.RESULT,
            case_number=f"WL{timezone.localdate():%Y%m%d}{self._cases:04d}",
            department=journey.department,
            sender=window,
            recipient=RECIPIENTS[self._cases % len(RECIPIENTS)],
            items=[
                shipments.ItemInput(
                    kind="certificate", title="办理结果（证照正本）", issuing_agency=department.name
                )
            ],
            courier=journey.courier,
            service_level="standard",
            deliver_by=timezone.now() + timedelta(days=3),
            freight_payer=journey.freight_payer,
            undeliverable_rule="return",
            declared_value=journey.declared_value,
            payer=payer(self._cases) if journey.freight_payer == FreightPayer.APPLICANT else None,
        )
        with transaction.atomic(durable=True):
            return shipments.shipment_create(client=self.portal.client, new=new).shipment

    def scan(self, shipment: Shipment, scans: tuple[Scan, ...]) -> None:
        for scan in scans:
            sandboxes.scan(
                self.sandbox_url, shipment.courier, shipment.waybill_no, scan.op_code,
                **scan.fields(shipment.courier),
            )  # fmt: skip


def the_days_shipments(portal: Portal, sandbox_url: str) -> None:
    """Every journey, a booking SF refuses, one cancelled and one waiting for its freight."""
    sandboxes.register_sf_push_url(sandbox_url)
    shipper = Shipper(portal, sandbox_url)

    sandboxes.refuse_next_sf_order(sandbox_url)
    refused = shipper.create(Journey("330100-RSJ", "sf", (), S.PENDING))
    _wait(Shipment.objects.filter(pk=refused.pk, booking_error__gt=""), 1, "SF to refuse a booking")

    on_their_way = [(shipper.create(journey), journey) for journey in JOURNEYS]
    for shipment, journey in on_their_way:
        if journey.freight_payer == FreightPayer.APPLICANT:
            order = shipment.freight_order
            portal.pay_order(order, "alipay")
            wait_paid([order])
    cancelled = shipper.create(Journey("330106-SCJG", "sf", (), S.CANCELLED))
    shipper.create(Journey("330100-ZRZY", "ems", (), S.AWAITING_FREIGHT, FreightPayer.APPLICANT))
    booked = [shipment.pk for shipment, _ in on_their_way] + [cancelled.pk]
    _wait(Shipment.objects.filter(pk__in=booked).exclude(waybill_no=""), len(booked), "bookings")

    shipments.shipment_cancel(
        public_id=cancelled.public_id, actor=portal.actor, reason="申请人改为窗口自取"
    )
    for shipment, journey in on_their_way:
        shipment.refresh_from_db()
        shipper.scan(shipment, journey.scans)
    for shipment, journey in on_their_way:
        _wait(Shipment.objects.filter(pk=shipment.pk, status=journey.ends), 1, journey.ends)


def _wait(rows, count: int, what: str) -> None:
    wait_until(lambda: rows.count() == count, what=f"{what} ({count})")
