"""The processors' transfers for the day, as the settlement accounts' bank statements show them.

Each processor pays every department its clearing (清分) on the settlement date, from
the account RECONCILIATION["processor_accounts"] names for it. The demo books those
credits in the sandbox bank, but one: a transfer that has not arrived yet.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from django.conf import settings

from billing.models import Processor
from demo import sandboxes
from reconciliation.models import Clearing

logger = logging.getLogger(__name__)

# The transfer still on its way: WeChat Pay's to the human resources bureau.
LATE_CREDIT = ("wechatpay", "330100-RSJ")


def paying_accounts() -> dict[str, str]:
    """Each processor's paying account, as the settings map accounts to processors."""
    return {
        processor: account
        for account, processor in settings.RECONCILIATION["processor_accounts"].items()
    }


def book_credits(sandbox_url: str, business_date: date) -> None:
    """Credit every department's settlement account with its clearings of the date, each
    on its settlement date, but the late one."""
    book_bank_credits(
        sandbox_url,
        [
            credit
            for credit in clearing_credits(business_date)
            if (credit.processor, credit.department) != LATE_CREDIT
        ],
    )


@dataclass(frozen=True)
class Credit:
    """One processor's transfer of one department's clearing, as its bank books it."""

    processor: str
    department: str
    account: str  # the department's settlement account
    entry: dict  # the sandbox bank's entry: amount, value_date, counterparty, description


def clearing_credits(business_date: date) -> list[Credit]:
    """The transfers of the date's clearings, each on its settlement date."""
    accounts = paying_accounts()
    names = dict(Processor.objects.values_list("code", "legal_name"))
    credits = []
    clearings = Clearing.objects.filter(business_date=business_date, net_amount__gt=0)
    for clearing in clearings.select_related("department").order_by("pk"):
        account = accounts.get(clearing.processor)
        if account is None:
            logger.warning(
                "no paying account of %s in RECONCILIATION['processor_accounts']: its "
                "clearing for %s is not credited",
                clearing.processor,
                clearing.department.code,
            )
            continue
        entry = {
            "amount": clearing.net_amount,
            "value_date": clearing.settlement_date.isoformat(),
            "counterparty": {
                "account": account,
                "name": names.get(clearing.processor, clearing.processor)[:70],
            },
            "description": f"{clearing.processor} 清算款 {business_date:%Y%m%d} "
            f"{clearing.department.code}",
        }
        credits.append(
            Credit(
                clearing.processor,
                clearing.department.code,
                clearing.department.settlement_account_number,
                entry,
            )
        )
    return credits


def book_bank_credits(sandbox_url: str, credits: list[Credit]) -> None:
    entries: dict[str, list[dict]] = defaultdict(list)
    for credit in credits:
        entries[credit.account].append(credit.entry)
    for account, booked in entries.items():
        sandboxes.book_bank_entries(sandbox_url, account, booked)
