"""What the console calls the outside parties the service knows by code: payment channels,
couriers, banks, revenue systems and the fiscal receipt platform.

Pages keep the code in their attributes and links and show these names; a code no table
knows (a channel or bank configured later) is shown as it is.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import RevenueSystem
from reconciliation.parties import RECEIPT_PLATFORM

CHANNELS = {
    "public_platform": gettext_lazy("Public payment platform"),
    "alipay": gettext_lazy("Alipay"),
    "wechatpay": gettext_lazy("WeChat Pay"),
    "unionpay": gettext_lazy("UnionPay"),
}
COURIERS = {
    "sf": gettext_lazy("SF Express"),
    "ems": gettext_lazy("China Post EMS"),
}
BANKS = {
    "icbc": gettext_lazy("ICBC"),
    "ccb": gettext_lazy("China Construction Bank"),
    "abc": gettext_lazy("Agricultural Bank of China"),
    "hzbank": gettext_lazy("Bank of Hangzhou"),
}
RECEIPT_PLATFORM_NAME = gettext_lazy("Receipt platform")
ACCOUNT_TAIL = 4  # a settlement account is named by its last digits, as on a bank's slip


def channel_name(code: str) -> str:
    return str(CHANNELS.get(code, code))


def courier_name(code: str) -> str:
    return str(COURIERS.get(code, code))


def bank_name(code: str) -> str:
    """A bank's name; an unknown bank's code in capitals, as banks write their own."""
    return str(BANKS.get(code, code.upper()))


def party_name(code: str) -> str:
    """A reconciled party by name: ``alipay``, ``bank:icbc:<account>``,
    ``remittance:icbc:<account>``, ``revenue:<system>``, ``courier:<code>`` or ``receipts``
    (reconciliation.parties)."""
    if code == RECEIPT_PLATFORM:
        return str(RECEIPT_PLATFORM_NAME)
    prefix, _colon, rest = code.partition(":")
    if not rest:
        return channel_name(code)
    if prefix == "courier":
        return courier_name(rest)
    if prefix == "revenue":
        name = RevenueSystem.objects.filter(code=rest).values_list("name", flat=True).first()
        return name or rest
    if prefix in ("bank", "remittance"):
        bank, _colon, account = rest.partition(":")
        named = {"bank": bank_name(bank), "tail": account[-ACCOUNT_TAIL:]}
        if prefix == "remittance":
            return _("Remittances from %(bank)s account ending %(tail)s") % named
        return _("%(bank)s account ending %(tail)s") % named
    return code
