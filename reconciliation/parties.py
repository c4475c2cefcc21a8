"""The outside parties reconciled every night, each named by one string.

``alipay`` (a processor: the channel code), ``bank:<bank>:<account>`` (one settlement
account's statement), ``revenue:<system>`` (a revenue-collection system),
``courier:<code>``, ``receipts`` (the fiscal receipt platform, one per deployment) and
``remittance:<bank>:<account>`` (the remittances from a settlement account, on the same
statement as its bank party).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from billing.models import Processor, RevenueSystem
from closing.models import Remittance
from core.errors import InvalidRequest
from integrations.couriers.registry import COURIER_CODES
from integrations.payments.registry import CHANNEL_CODES
from reconciliation.models import PartyKind

RECEIPT_PLATFORM = "receipts"


@dataclass(frozen=True)
class Party:
    code: str
    kind: str
    name: str  # the channel, bank, system or courier code; "receipts" for the platform
    account: str = ""  # a bank party's settlement account


def parse_party(code: str) -> Party:
    """The party a code names; InvalidRequest when it is not one we reconcile."""
    prefix, _, rest = code.partition(":")
    if not rest and prefix in CHANNEL_CODES:
        return Party(code, PartyKind.PROCESSOR, prefix)
    if code == RECEIPT_PLATFORM:
        return _receipt_platform()
    if prefix == "courier" and rest in COURIER_CODES:
        return Party(code, PartyKind.COURIER, rest)
    if prefix == "revenue" and RevenueSystem.objects.filter(code=rest).exists():
        return Party(code, PartyKind.REVENUE, rest)
    bank, _, account = rest.partition(":")
    if prefix == "bank" and account in settings.BANKS.get(bank, {}).get("accounts", ()):
        return Party(code, PartyKind.BANK, bank, account)
    if prefix == "remittance" and account in settings.BANKS.get(bank, {}).get("accounts", ()):
        return Party(code, PartyKind.REMITTANCE, bank, account)
    raise InvalidRequest(f"No party {code!r} is reconciled.", fields={"party": ["Unknown."]})


def all_parties() -> list[Party]:
    """Every party with something to reconcile: active channels, systems, couriers, accounts,
    the receipt platform, and the accounts that have remitted."""
    channels = Processor.objects.filter(code__in=CHANNEL_CODES).exclude(
        status=Processor.Status.REVOKED
    )
    parties = [
        Party(code, PartyKind.PROCESSOR, code) for code in channels.values_list("code", flat=True)
    ]
    parties += [
        Party(f"bank:{bank}:{account}", PartyKind.BANK, bank, account)
        for bank, config in settings.BANKS.items()
        for account in config.get("accounts", ())
    ]
    parties += [
        Party(f"revenue:{code}", PartyKind.REVENUE, code)
        for code in RevenueSystem.objects.filter(active=True).values_list("code", flat=True)
    ]
    parties += [Party(f"courier:{code}", PartyKind.COURIER, code) for code in COURIER_CODES]
    parties.append(_receipt_platform())
    remitted = set(Remittance.objects.values_list("debtor_account", flat=True).distinct())
    parties += [
        Party(f"remittance:{bank}:{account}", PartyKind.REMITTANCE, bank, account)
        for bank, config in settings.BANKS.items()
        for account in config.get("accounts", ())
        if account in remitted
    ]
    return parties


def statement_party(remittances: Party) -> Party:
    """The bank party whose statement a remittance party reads."""
    bank, account = remittances.name, remittances.account
    return Party(f"bank:{bank}:{account}", PartyKind.BANK, bank, account)


def _receipt_platform() -> Party:
    return Party(RECEIPT_PLATFORM, PartyKind.RECEIPT, RECEIPT_PLATFORM)
