"""The simulated traffic acted out: the portal's calls, the payers at the cashiers, the
couriers' scans, each at its simulated moment (simulation.traffic says what and when).

``World.act(event)`` does what one event says, through the service's API and the
sandboxes, and records the payers' side of the money in ``Truth``. A fault planned on one
payment or one courier scan (simulation.injection puts it in ``payment_faults`` or
``scan_faults``) bends what happens when the world gets there.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.utils import timezone

from simulation import traffic
from simulation.faults import Fault, FaultKind
from simulation.invariants import Truth
from simulation.portal import Opened, Portal, PortalRefused, pay
from simulation.timeline import Timeline
from simulation.traffic import EventKind

logger = logging.getLogger(__name__)
HTTP_TIMEOUT = 30
# A payer whose channel cannot take the payment now comes back this much later.
PAYER_RETRY = timedelta(minutes=30)
WINDOW = {
    "name": "市民中心政务服务窗口",
    "phone": "0571-85251234",
    "province": "浙江省",
    "city": "杭州市",
    "district": "上城区",
    "detail": "解放东路18号市民中心",
    "region_code": "330102",
}
# Each normalised status as the courier's own scan code (integrations/couriers/*/codes.py).
OP_CODES = {
    "sf": {"picked_up": "50", "in_transit": "30", "out_for_delivery": "44", "delivered": "80",
           "ready_for_pickup": "125", "delivery_failed": "70", "on_hold": "77",
           "returning": "99"},
    "ems": {"picked_up": "203", "in_transit": "306", "out_for_delivery": "702", "delivered": "704",
            "ready_for_pickup": "703", "delivery_failed": "705", "on_hold": "706",
            "returning": "711", "returned": "712", "lost_damaged": "713"},
}  # fmt: skip
# A failed delivery's or a hold's cause, as the courier's remark words it.
FAILURE_REMARKS = {
    "not_home": "收件人不在，电话无人接听",
    "unreachable": "电话联系不上收件人",
    "refused": "收件人拒收",
    "bad_address": "地址不详，无法投递",
}


@dataclass
class World:
    portal: Portal
    sandbox: str
    truth: Truth
    timeline: Timeline
    payment_faults: dict[str, Fault] = field(default_factory=dict)  # by order reference
    scan_faults: dict[tuple[str, str], Fault] = field(default_factory=dict)  # (ref, status)
    damaged_files: set[str] = field(default_factory=set)  # parties whose next file is bad
    orders: dict[str, Opened] = field(default_factory=dict)
    opened: dict[str, dict[str, dict]] = field(default_factory=dict)  # ref -> channel -> attempt
    seconds: dict[str, str] = field(default_factory=dict)  # ref -> the double payment's channel
    left_open: dict[str, str] = field(default_factory=dict)  # ref -> the cashier left open
    payers: dict[str, traffic.Person] = field(default_factory=dict)
    shipments: dict[str, dict] = field(default_factory=dict)  # ref -> the shipment
    figures: Counter = field(default_factory=Counter)  # what happened, for the day's figures
    left_out: dict[str, list[str]] = field(default_factory=dict)  # of each channel's bills

    def plan(self, events: list[traffic.Event]) -> None:
        """Every event on the timeline; the orders paid twice are known beforehand, as
        their payers open both cashiers before paying at the first."""
        for event in events:
            if event.kind == EventKind.DOUBLE_PAYMENT:
                self.seconds[event.order] = event.payload.channel
            if event.kind == EventKind.ABANDONED and event.payload.opened_channel:
                self.left_open[event.order] = event.payload.opened_channel
            at = event.at
            fault = self.payment_faults.get(event.order)
            if event.kind == EventKind.PAYMENT and fault and fault.kind == FaultKind.CUTOFF_CLOCK:
                at = fault.parameters["paid_at"]  # paid at 23:59:59, on the cut-off
            self.timeline.add(at, f"{event.kind} {event.order}", lambda e=event: self.act(e))

    def act(self, event: traffic.Event) -> None:
        handler = getattr(self, f"_{event.kind.value}")
        try:
            handler(event.order, event.payload)
        except PortalRefused as refused:
            # The service refused a call the portal had every right to make: a finding.
            self.figures["refused calls"] += 1
            logger.error("simulation: %s %s refused: %s", event.kind, event.order, refused)

    # -- orders and payments -------------------------------------------------------------

    def _order_created(self, ref: str, order: traffic.NewOrder) -> None:
        payer = order.payer
        self.truth.personal_data.update((payer.name, payer.phone, payer.id_number))
        body: dict[str, Any] = {
            "case_number": ref,
            "department": order.department,
            "region_code": order.department[:6],
            "payer": {
                "type": "natural",
                "name": payer.name,
                "id_number": payer.id_number,
                "phone": payer.phone,
            },
            "lines": [
                {"fee_item": code, "quantity": 1, "amount": amount}
                for code, amount in order.fee_items
            ],
            "expires_at": order.expires_at.isoformat(),
        }
        if order.service_item:
            body["service_item_code"] = order.service_item
        self.orders[ref] = self.portal.open_order(body)
        self.payers[ref] = payer
        self.figures["orders"] += 1
        if ref in self.left_open:
            # The payer opens a cashier and leaves: the order expires with a trade open.
            self._open(ref, self.left_open[ref])

    def _payment(self, ref: str, payment: traffic.Payment) -> None:
        order = self.orders.get(ref)
        if order is None:
            return
        first = self._open(ref, payment.channel)
        if ref in self.seconds:
            self._open(ref, self.seconds[ref])
        if first is None:
            # The channel cannot take it now (down, or its breaker open): the payer comes
            # back later and tries again.
            self.figures["payments put off"] += 1
            self.timeline.add(
                timezone.now() + PAYER_RETRY,
                f"payment again {ref}",
                lambda: self._payment(ref, payment),
            )
            return
        self._pay(ref, payment.channel, first)

    def _double_payment(self, ref: str, payment: traffic.Payment) -> None:
        attempt = self.opened.get(ref, {}).get(payment.channel)
        if attempt is not None:
            self._pay(ref, payment.channel, attempt)
            self.figures["paid twice"] += 1

    def _abandoned(self, ref: str, abandonment: traffic.Abandonment) -> None:
        self.figures["abandoned"] += 1

    def _open(self, ref: str, channel: str) -> dict | None:
        opened = self.opened.setdefault(ref, {})
        if channel not in opened:
            attempt = self.portal.start_payment(self.orders[ref].order_id, channel)
            if not attempt:
                return None
            opened[channel] = attempt
        return opened[channel]

    def _pay(self, ref: str, channel: str, attempt: dict) -> None:
        fault = self.payment_faults.pop(ref, None)
        kind = fault.kind if fault else None
        silent = kind in (FaultKind.NOTIFICATION_LOST, FaultKind.NOTIFICATION_REORDERED,
                          FaultKind.NOTIFICATION_LATE)  # fmt: skip
        pay(attempt["pay_url"], notify=not silent)
        self.truth.paid_at_cashiers += attempt["amount"]
        self.truth.cashier_payments += 1
        self.figures["paid at cashiers"] += 1
        self.figures["fen paid"] += attempt["amount"]
        if fault is None:
            return
        self.figures[f"fault {kind}"] += 1
        self.truth.trades[ref] = attempt["id"]  # an attempt's id is its out_trade_no
        number = channel_number(channel, attempt)
        parameters = fault.parameters
        if kind == FaultKind.NOTIFICATION_DUPLICATED:
            for _ in range(int(parameters["copies"]) - 1):
                self.notify_again(channel, number)
        elif kind in (FaultKind.NOTIFICATION_REORDERED, FaultKind.NOTIFICATION_LATE):
            delay = timedelta(
                seconds=int(parameters.get("delay_seconds", 0)),
                hours=int(parameters.get("delay_hours", 0)),
            )
            self.timeline.add(
                timezone.now() + delay,
                f"late notification {ref}",
                lambda: self.notify_again(channel, number),
            )
        elif kind == FaultKind.BILL_LINE_MISSING:
            requests.post(
                f"{self.sandbox}/sandbox/_control/faults/{channel}",
                json={"leave_out_of_bill": [*self.left_out.get(channel, []), number]},
                timeout=HTTP_TIMEOUT,
            ).raise_for_status()
            self.left_out.setdefault(channel, []).append(number)

    def notify_again(self, channel: str, number: str) -> None:
        """The channel sends the trade's notification (once more, or at last)."""
        requests.post(
            f"{self.sandbox}/sandbox/{channel}/_control/trades/{number}/notify",
            json={},
            timeout=HTTP_TIMEOUT,
        ).raise_for_status()

    def _refund_full(self, ref: str, refund: traffic.Refund) -> None:
        self._refund(ref, refund)

    def _refund_partial(self, ref: str, refund: traffic.Refund) -> None:
        self._refund(ref, refund)

    def _refund(self, ref: str, refund: traffic.Refund) -> None:
        if ref not in self.orders:
            return
        order = self.portal.order(self.orders[ref].order_id)
        if order["status"] != "paid":
            # Not paid yet as the service sees it (its notification is late): the portal
            # asks again later, as a person at the counter would.
            self.timeline.add(
                timezone.now() + PAYER_RETRY, f"refund again {ref}",
                lambda: self._refund(ref, refund),
            )  # fmt: skip
            return
        self.portal.refund(self.orders[ref].order_id, refund.amount, refund.reason)
        self.figures["refunds"] += 1
        self.figures["fen refunded"] += refund.amount

    # -- shipments -----------------------------------------------------------------------

    def _shipment_created(self, ref: str, shipment: traffic.NewShipment) -> None:
        if ref not in self.orders:
            return
        payer = self.payers[ref]
        recipient = {**WINDOW, "name": payer.name, "phone": payer.phone, "district": "西湖区",
                     "detail": shipment.address, "region_code": shipment.region_code}  # fmt: skip
        body = {
            "kind": "result",
            "case_number": ref,
            "department": self._department(ref),
            "sender": WINDOW,
            "recipient": recipient,
            "items": [
                {
                    "kind": "certificate",
                    "title": "办理结果（证照正本）",
                    "issuing_agency": "市民中心",
                }
            ],
            "courier": shipment.courier,
            "deliver_by": (timezone.now() + timedelta(days=3)).isoformat(),
            "freight_payer": shipment.freight_payer,
        }
        if shipment.freight_payer == "applicant":
            body["payer"] = {"type": "natural", "name": payer.name,
                             "id_number": payer.id_number, "phone": payer.phone}  # fmt: skip
        created = self.portal.ship(body)
        self.shipments[ref] = {"id": created["id"], "courier": shipment.courier}
        self.figures["shipments"] += 1
        if created.get("freight_order"):
            # The applicant pays the freight at once; the pickup is booked when it is paid.
            freight = f"{ref}-freight"
            self.orders[freight] = Opened(created["freight_order"], 0)
            self._payment(freight, traffic.Payment(shipment.freight_channel, 0))
            self.figures["freight paid"] += 1

    def _shipment_cancelled(self, ref: str, cancellation: traffic.Cancellation) -> None:
        shipment = self.shipments.get(ref)
        if shipment is None:
            return
        self.portal.cancel_shipment(shipment["id"], cancellation.reason)
        shipment["cancelled"] = True
        # A payment of the applicant's freight still put off is not made any more.
        self.orders.pop(f"{ref}-freight", None)
        self.figures["shipments cancelled"] += 1

    def _shipment_scan(self, ref: str, scan: traffic.Scan) -> None:
        shipment = self.shipments.get(ref)
        if shipment is None or shipment.get("cancelled"):
            return
        if not shipment.get("waybill_no"):
            shipment["waybill_no"] = self.portal.shipment(shipment["id"]).get("waybill_no") or ""
        code = OP_CODES[shipment["courier"]].get(scan.status)
        if not shipment["waybill_no"] or code is None:
            return
        remark = FAILURE_REMARKS.get(scan.reason, "")
        text = {"sf": "remark", "ems": "opDesc"}[shipment["courier"]]
        fault = self.scan_faults.pop((ref, scan.status), None)
        if fault is not None:
            self._bend_next_push(ref, shipment, fault)
        requests.post(
            f"{self.sandbox}/sandbox/{shipment['courier']}/_control/waybills/"
            f"{shipment['waybill_no']}/scan",
            json={"opCode": code, **({text: remark} if remark else {})},
            timeout=HTTP_TIMEOUT,
        )
        self.figures[f"scans {scan.status}"] += 1

    def _bend_next_push(self, ref: str, shipment: dict, fault: Fault) -> None:
        """The courier's next push (this scan's) lost, sent twice, or held back until after
        the shipment's next scan: dropped now, and every scan pushed again later."""
        courier = shipment["courier"]
        plan = {"duplicate": 1} if fault.kind == FaultKind.COURIER_PUSH_DUPLICATED else {"drop": 1}
        requests.post(
            f"{self.sandbox}/sandbox/_control/faults/{courier}",
            json={"notifications": plan},
            timeout=HTTP_TIMEOUT,
        ).raise_for_status()
        if fault.kind == FaultKind.COURIER_PUSH_REORDERED:
            again = "replay" if courier == "sf" else "push"
            self.timeline.add(
                timezone.now() + timedelta(seconds=int(fault.parameters["delay_seconds"])),
                f"late push {ref}",
                lambda: requests.post(
                    f"{self.sandbox}/sandbox/{courier}/_control/waybills/"
                    f"{shipment['waybill_no']}/{again}",
                    json={},
                    timeout=HTTP_TIMEOUT,
                ).raise_for_status(),
            )
        self.figures[f"fault {fault.kind}"] += 1

    def _department(self, ref: str) -> str:
        return self.portal.order(self.orders[ref].order_id)["department"]


def channel_number(channel: str, attempt: dict) -> str:
    """The trade's number as the channel knows it, which its sandbox's controls take.

    UnionPay's orderId is letters and digits only, so our out_trade_no reaches it in
    another form; the signed consume form behind the pay_url says which. The other
    channels take our out_trade_no as it is."""
    if channel == "unionpay":
        return parse_qs(urlsplit(attempt["pay_url"]).query)["orderId"][0]
    return attempt["id"]
