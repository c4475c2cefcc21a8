"""Where a department's day is remitted (缴库), and from which bank, as the settings say.

``CLOSING["destinations"]`` names the accounts: ``"regions"`` by region-code prefix (the
treasury, 国库, of the level the revenue belongs to: ``"3301"`` for the city of Hangzhou,
``"33"`` for the province), the longest prefix of the department's region code winning,
and ``"departments"`` by department code, which wins over any region (a department whose
revenue goes to the fiscal special account, 财政专户). Each is ``{"kind": "treasury" |
"special", "account", "name", "bank"?: BIC or 12-digit CNAPS code, "bank_name"?}``.

The money leaves from the department's settlement account, at the bank of BANKS that
keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from billing.models import Department
from closing.models import DestinationKind
from integrations.banks import registry
from integrations.banks.base import BankTransfers
from integrations.banks.pain import AccountHolder
from integrations.configuration import IncompleteConfiguration
from integrations.errors import UnknownBank


@dataclass(frozen=True)
class Destination:
    kind: str
    account: str
    name: str
    bank: str = ""
    bank_name: str = ""


def destination_for(department: Department) -> Destination | None:
    """The department's destination; None when the settings name none."""
    configured = settings.CLOSING["destinations"]
    named = configured.get("departments", {}).get(department.code)
    if named is None:
        regions = configured.get("regions", {})
        matching = [prefix for prefix in regions if department.region_code.startswith(prefix)]
        named = regions[max(matching, key=len)] if matching else None
    if named is None:
        return None
    return Destination(
        kind=DestinationKind(named.get("kind", DestinationKind.TREASURY)),
        account=named["account"],
        name=named["name"],
        bank=named.get("bank", ""),
        bank_name=named.get("bank_name", ""),
    )


def destination_accounts() -> frozenset[str]:
    """Every configured destination account: a debit to one is a remittance, ours or not."""
    configured = settings.CLOSING["destinations"]
    return frozenset(
        entry["account"]
        for group in ("regions", "departments")
        for entry in configured.get(group, {}).values()
    )


def bank_of_account(account: str) -> str | None:
    """The code of the bank of BANKS keeping the account; None when no bank does."""
    try:
        return registry.bank_for_account(settings.BANKS, account)
    except UnknownBank:
        return None


def settlement_account_holder(department: Department, bank: str) -> AccountHolder:
    """The department's settlement account as a pain.001's debtor, at ``bank`` of BANKS
    (its ``bic`` and ``name`` there, else the bank the department names)."""
    config = settings.BANKS.get(bank, {})
    return AccountHolder(
        account=department.settlement_account_number,
        name=department.settlement_account_name or department.name,
        bank=config.get("bic", ""),
        bank_name=config.get("name", department.settlement_bank),
    )


def transfer_bank(code: str) -> BankTransfers:
    try:
        return registry.build_transfer_bank(settings.BANKS, code)
    except IncompleteConfiguration as missing:
        raise ImproperlyConfigured(f"BANKS[{code!r}] {missing}") from missing
