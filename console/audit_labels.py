"""How an audit record reads in the console: its action, its object, who did it, its data.

Audit rows keep codes (``payment_order.paid``, ``PaymentOrder``, ``channel:alipay``,
``{"amount": 7500}``); pages show them in the reader's language. An action is
``<object>.<event>``: the event is the object's new status when it is one, otherwise a
word of EVENTS. A code no table knows is shown as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.models import (
    AttemptStatus,
    ChannelHealth,
    DeliveryStatus,
    OrderStatus,
    Processor,
    ReceiptStatus,
    RefundStatus,
    RevenueRecordStatus,
    UnsettledPaymentStatus,
)
from closing.models import InstructionStatus, RemittanceStatus, ReportStatus
from console import terms
from console.names import channel_name, courier_name
from console.templatetags.console import yuan
from logistics.models import FreightPayer, UndeliverableRule
from notices.models import SmsStatus
from reconciliation.models import Clearing, DiscrepancyStatus, RunStatus

OBJECTS = {
    "PaymentOrder": _("Payment order"),
    "PaymentAttempt": _("Payment attempt"),
    "Refund": _("Refund"),
    "UnsettledPayment": _("Money that could not settle its order"),
    "Receipt": _("Fiscal receipt"),
    "RevenueRecord": _("Revenue record"),
    "WebhookDelivery": _("Webhook delivery"),
    "WebhookEndpoint": _("Webhook endpoint"),
    "Processor": _("Processor"),
    "ChannelHealth": _("Circuit breaker"),
    "Shipment": _("Shipment"),
    "ReconciliationRun": _("Reconciliation run"),
    "Discrepancy": _("Discrepancy"),
    "Clearing": _("Clearing"),
    "SettlementReport": _("Settlement report"),
    "Remittance": _("Remittance"),
    "RemittanceInstruction": _("Bank instruction"),
    "SmsMessage": _("SMS notice"),
    "ApiClient": _("Portal client"),
    "RevenueSystem": _("Revenue system"),
    "User": _("Staff member"),
}

# The statuses of each kind of object; a Shipment's labels are the console's (console.terms).
STATUSES: dict[str, type[TextChoices] | dict] = {
    "PaymentOrder": OrderStatus,
    "PaymentAttempt": AttemptStatus,
    "Refund": RefundStatus,
    "UnsettledPayment": UnsettledPaymentStatus,
    "RevenueRecord": RevenueRecordStatus,
    "Receipt": ReceiptStatus,
    "WebhookDelivery": DeliveryStatus,
    "Processor": Processor.Status,
    "ChannelHealth": ChannelHealth.State,
    "Shipment": terms.SHIPMENT_STATUSES,
    "ReconciliationRun": RunStatus,
    "Discrepancy": DiscrepancyStatus,
    "Clearing": Clearing.Arrival,
    "SettlementReport": ReportStatus,
    "Remittance": RemittanceStatus,
    "RemittanceInstruction": InstructionStatus,
    "SmsMessage": SmsStatus,
}

# Events that are not a status of their object.
EVENTS = {
    "created": pgettext_lazy("audit event", "created"),
    "create": pgettext_lazy("audit event", "created"),
    "update": pgettext_lazy("audit event", "changed"),
    "disable": pgettext_lazy("audit event", "disabled"),
    "requested": pgettext_lazy("audit event", "requested"),
    "retry_now": pgettext_lazy("audit event", "retry requested by staff"),
    "refund_due": pgettext_lazy("audit event", "refund due"),
    "refunded": pgettext_lazy("audit event", "refunded"),
    "assigned": pgettext_lazy("audit event", "assigned"),
    "commented": pgettext_lazy("audit event", "comment added"),
    "approved": pgettext_lazy("audit event", "approved"),
    "rejected": pgettext_lazy("audit event", "rejected"),
    "booked": pgettext_lazy("audit event", "pickup booked"),
    "booking_refused": pgettext_lazy("audit event", "booking refused"),
    "contacts_viewed": pgettext_lazy("audit event", "contacts viewed"),
    "proof_attached": pgettext_lazy("audit event", "proof of delivery attached"),
    "undeliverable": pgettext_lazy("audit event", "undeliverable"),
    "undeliverable_choice": pgettext_lazy("audit event", "applicant's choice recorded"),
    "at_risk": pgettext_lazy("audit event", "at risk of missing its time limit"),
    "overdue": pgettext_lazy("audit event", "past its time limit"),
    "stale": pgettext_lazy("audit event", "no scan for too long"),
    "logged_in": pgettext_lazy("audit event", "logged in"),
    "logged_out": pgettext_lazy("audit event", "logged out"),
    "login_failed": pgettext_lazy("audit event", "login failed"),
    "key_replaced": pgettext_lazy("audit event", "key replaced"),
    "generated": pgettext_lazy("audit event", "generated"),
    "regenerated": pgettext_lazy("audit event", "generated again"),
}

# Action prefixes whose object type is not the prefix in CamelCase.
ACTION_OBJECTS = {"staff": "User", "channel_health": "ChannelHealth"}

SYSTEMS = {
    "": _("system"),
    "reconciliation": _("reconciliation"),
    "receipts": _("fiscal receipts"),
    "closing": _("settlement reports"),
    "sms": _("SMS notices"),
    "demo": _("demo data"),
    "seed_demo": _("demo data"),
}

DATA_KEYS = {
    "amount": _("Amount"),
    "freight": _("Freight"),
    "case_number": _("Case number"),
    "payment_code": _("Payment code"),
    "order": _("Order"),
    "refund": _("Refund"),
    "code": _("Receipt code"),
    "number": _("Receipt number"),
    "courier": _("Courier"),
    "freight_payer": _("Freight paid by"),
    "waybill_no": _("Waybill"),
    "assignee": _("Assignee"),
    "comment": _("Comment"),
    "proposed_by": _("Proposed by"),
    "action": _("Action"),
    "note": _("Note"),
    "debit_account": _("Debit account"),
    "credit_account": _("Credit account"),
    "discrepancies": _("Discrepancies"),
    "rule": _("Undeliverable"),
    "choice": _("Choice"),
    "image_ref": _("Image"),
    "replaced": _("Replaced"),
    "net": _("Net"),
    "corrects": _("Corrects"),
    "version": _("Version"),
    "report": _("Report"),
    "end_to_end_id": _("End-to-end id"),
    "message_id": _("Message id"),
    "statement": _("Statement of"),
    "bank_status": _("Bank's status"),
    "bank_ref": _("Bank reference"),
}


@dataclass(frozen=True)
class Actor:
    """Who did it: what kind of actor, in words, and its name as recorded (a person's
    username, a portal client's name)."""

    kind: str
    name: str = ""


@dataclass(frozen=True)
class Detail:
    label: str
    value: str


def object_label(object_type: str) -> str:
    return str(OBJECTS.get(object_type, object_type))


def status_label(code: str, object_type: str) -> str:
    """The status's label in the active language; a code of no known status stays as it is."""
    choices = STATUSES.get(object_type)
    if isinstance(choices, dict):
        return str(choices.get(code, code))
    if choices is None or code not in choices.values:
        return code
    return str(choices(code).label)


def action_label(action: str) -> str:
    """``payment_order.paid`` as "Payment order · paid"."""
    prefix, dot, event = action.partition(".")
    if not dot:
        return action
    object_type = ACTION_OBJECTS.get(prefix, prefix.title().replace("_", ""))
    if object_type not in OBJECTS:
        return action
    said = EVENTS.get(event) or status_label(event, object_type)
    return f"{object_label(object_type)} · {said}"


def actor(recorded: str) -> Actor:
    """``user:finance``, ``client:<portal>``, ``channel:alipay[:query]``, ``courier:sf``,
    ``system[:<part>]`` or ``schedule``."""
    kind, _colon, rest = recorded.partition(":")
    if kind == "user":
        return Actor("", rest)
    if kind == "client":
        return Actor(str(_("portal")), rest)
    if kind == "channel":
        channel, _colon, how = rest.partition(":")
        said = channel_name(channel)
        return Actor(str(_("%(channel)s, queried") % {"channel": said}) if how else said)
    if kind == "courier":
        return Actor(courier_name(rest))
    if kind == "system" and rest in SYSTEMS:
        part = SYSTEMS[rest]
        return Actor(str(_("system: %(part)s") % {"part": part}) if rest else str(part))
    if kind == "schedule":
        return Actor(str(_("the nightly schedule")))
    return Actor(recorded)


def details(data: dict) -> list[Detail]:
    """An audit row's data, each key by name and each value as a reader needs it."""
    return [Detail(str(DATA_KEYS.get(key, key)), _value(key, value)) for key, value in data.items()]


def _value(key: str, value: object) -> str:
    if key in ("amount", "freight", "net") and isinstance(value, int):
        return yuan(value)
    text = str(value)
    if key == "action":
        return terms.term(text, "resolution_action")
    if key == "courier":
        return courier_name(text)
    if key == "freight_payer" and text in FreightPayer.values:
        return str(FreightPayer(text).label)
    if key == "rule" and text in UndeliverableRule.values:
        return str(UndeliverableRule(text).label)
    if key in ("debit_account", "credit_account"):
        return terms.account_name(text)
    if key == "proposed_by":
        who = actor(text)
        return f"{who.kind} {who.name}".strip()
    return text
