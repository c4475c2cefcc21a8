"""The console's words for codes that reach its pages without a translated label.

Some are plain strings of the services (a run's step, a statement line's kind, a posting's
kind), some are model choices whose labels keep the wording of their first migration (a
shipment's status and kind, a payer's type, a fee's purpose), which the console words
its own way. Templates show them with
``{{ code|term:"<table>" }}``; a code its table does not know is shown as it is.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.models import FeeKind, PayerType
from console.names import channel_name, courier_name
from logistics.models import ShipmentKind, ShipmentStatus
from reconciliation.services.runs import WAITING_FOR_FILE

RUN_STEPS = {
    "queued": pgettext_lazy("run step", "queued"),
    "reading the file": pgettext_lazy("run step", "reading the file"),
    "parsing the file": pgettext_lazy("run step", "parsing the file"),
    "matching": pgettext_lazy("run step", "matching"),
    "storing the results": pgettext_lazy("run step", "storing the results"),
    "done": pgettext_lazy("run step", "done"),
    "failed": pgettext_lazy("run step", "failed"),
    WAITING_FOR_FILE: pgettext_lazy("run step", "waiting for the file"),
}

# What a statement line, and the discrepancy found on it, is about.
LINE_KINDS = {
    "payment": pgettext_lazy("line kind", "payment"),
    "refund": pgettext_lazy("line kind", "refund"),
    "credit": pgettext_lazy("line kind", "credit"),
    "debit": pgettext_lazy("line kind", "debit"),
    "freight": pgettext_lazy("line kind", "freight"),
    "settlement": pgettext_lazy("line kind", "settlement"),
    "remittance": pgettext_lazy("line kind", "remittance"),
    "normal": pgettext_lazy("line kind", "receipt"),
    "red": pgettext_lazy("line kind", "red-letter receipt"),
    "number": pgettext_lazy("line kind", "receipt number"),
}

# Who looks into a discrepancy (reconciliation.services.runs.OWNERS).
OWNERS = {
    "finance": pgettext_lazy("owner", "finance"),
    "logistics": pgettext_lazy("owner", "logistics"),
    "treasury": pgettext_lazy("owner", "treasury"),
}

# What a proposal does to resolve a discrepancy (reconciliation.services.resolution.ACTIONS).
RESOLUTION_ACTIONS = {
    "accept_ours": _("Accept ours: the party corrects its file"),
    "accept_theirs": _("Accept theirs: our side is corrected by an adjustment"),
    "write_off": _("Write off the difference by an adjustment"),
    "no_action": _("No action (explained in the note)"),
}

# The kinds of ledger posting (ledger.services); "<kind>_reversal" undoes one of them.
POSTING_KINDS = {
    "payment": pgettext_lazy("posting", "payment"),
    "unsettled_payment": pgettext_lazy("posting", "money that could not settle its order"),
    "refund": pgettext_lazy("posting", "refund"),
    "processor_fee": pgettext_lazy("posting", "processor's fee"),
    "bank_credit": pgettext_lazy("posting", "bank credit"),
    "courier_freight": pgettext_lazy("posting", "freight owed to the courier"),
    "adjustment": pgettext_lazy("posting", "adjustment"),
}
REVERSAL = "_reversal"

# A ledger account's code is "<kind>:<whose>" (ledger.services): its name, and how the
# "whose" part is named. A longer kind comes before the shorter one it starts with.
ACCOUNTS = {
    "clearing": (_("Clearing at %(whose)s"), channel_name),
    "expense:processor_fees": (_("Fees charged by %(whose)s"), channel_name),
    "payable:courier": (_("Freight owed to %(whose)s"), courier_name),
    "payable": (_("Payable to %(whose)s"), str),
    "freight_payable": (_("Freight collected by %(whose)s"), str),
    "refunds_due": (_("Owed back to payers"), str),
    "bank": (_("Settlement account %(whose)s"), str),
}

# The scopes of a Payment Business Licence (支付业务许可证).
LICENCE_SCOPES = {
    "internet_payment": _("internet payment"),
    "mobile_payment": _("mobile phone payment"),
    "bank_card_acquiring": _("bank card acquiring"),
    "fixed_phone_payment": _("fixed-line phone payment"),
    "digital_tv_payment": _("digital TV payment"),
    "prepaid_card": _("prepaid card issuance and acceptance"),
}

SERVICE_LEVELS = {
    "standard": pgettext_lazy("service level", "standard"),
    "express": pgettext_lazy("service level", "express"),
}

# What becomes of a parcel nobody could take (logistics.services.tracking).
UNDELIVERABLE_ACTIONS = {
    "hold_for_pickup": _("held for pickup"),
    "return_to_agency": _("returned to the agency"),
    "redeliver": _("delivered again"),
    "awaiting_applicant_choice": _("waiting for the applicant's choice"),
}

SHIPMENT_STATUSES = {
    ShipmentStatus.AWAITING_FREIGHT: ShipmentStatus.AWAITING_FREIGHT.label,
    ShipmentStatus.PENDING: pgettext_lazy("shipment status", "pending"),
    ShipmentStatus.PICKED_UP: pgettext_lazy("shipment status", "picked up"),
    ShipmentStatus.IN_TRANSIT: pgettext_lazy("shipment status", "in transit"),
    ShipmentStatus.OUT_FOR_DELIVERY: pgettext_lazy("shipment status", "out for delivery"),
    ShipmentStatus.READY_FOR_PICKUP: pgettext_lazy("shipment status", "ready for pickup"),
    ShipmentStatus.DELIVERY_FAILED: pgettext_lazy("shipment status", "delivery failed"),
    ShipmentStatus.ON_HOLD: pgettext_lazy("shipment status", "on hold"),
    ShipmentStatus.DELIVERED: pgettext_lazy("shipment status", "delivered"),
    ShipmentStatus.RETURNING: pgettext_lazy("shipment status", "returning"),
    ShipmentStatus.RETURNED: pgettext_lazy("shipment status", "returned"),
    ShipmentStatus.LOST_DAMAGED: pgettext_lazy("shipment status", "lost or damaged"),
    ShipmentStatus.CANCELLED: pgettext_lazy("shipment status", "cancelled"),
}
SHIPMENT_KINDS = {
    ShipmentKind.MATERIALS: _("application materials, applicant to agency"),
    ShipmentKind.RESULT: _("approval result, agency to applicant"),
}
PAYER_TYPES = {
    PayerType.NATURAL: _("natural person"),
    PayerType.LEGAL: _("legal person"),
}
FEE_KINDS = {
    FeeKind.FEE: _("public revenue (non-tax), reported to the revenue system"),
    FeeKind.FREIGHT: _("freight collected for a courier, not public revenue"),
}

TABLES = {
    "run_step": RUN_STEPS,
    "line_kind": LINE_KINDS,
    "owner": OWNERS,
    "resolution_action": RESOLUTION_ACTIONS,
    "licence_scope": LICENCE_SCOPES,
    "service_level": SERVICE_LEVELS,
    "undeliverable_action": UNDELIVERABLE_ACTIONS,
    "shipment_status": SHIPMENT_STATUSES,
    "shipment_kind": SHIPMENT_KINDS,
    "payer_type": PAYER_TYPES,
    "fee_kind": FEE_KINDS,
}


def term(code: str, table: str) -> str:
    """The code's label from the named table; the code itself when the table lacks it."""
    return str(TABLES[table].get(code, code))


def choices(table: str) -> list[tuple[str, str]]:
    """A table as select choices: (code, label)."""
    return [(str(code), str(label)) for code, label in TABLES[table].items()]


def posting_name(kind: str) -> str:
    """A posting's kind in words; a reversal names the kind it reverses."""
    if kind.endswith(REVERSAL):
        reversed_ = kind.removesuffix(REVERSAL)
        return _("%(posting)s reversed") % {"posting": POSTING_KINDS.get(reversed_, reversed_)}
    return str(POSTING_KINDS.get(kind, kind))


def account_name(code: str) -> str:
    """A ledger account by what it holds: ``clearing:alipay`` is the clearing at Alipay,
    ``payable:<department code>`` what is owed to that department."""
    for kind, (template, name) in ACCOUNTS.items():
        if code.startswith(f"{kind}:"):
            return str(template) % {"whose": name(code.removeprefix(f"{kind}:"))}
    return code
