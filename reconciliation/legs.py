"""One party's leg for one date: our side from the database, theirs from its file, matched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import pyarrow as pa
from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from billing.models import Department
from closing.destinations import destination_accounts
from core.business_days import add_business_days
from reconciliation import matching, ours
from reconciliation.models import Clearing, PartyKind
from reconciliation.ours import receipt_numbers_before
from reconciliation.parties import Party


@dataclass(frozen=True)
class LegOutcome:
    result: matching.LegResult
    clearing: pd.DataFrame | None = None  # a processor's 清分 per department


def our_side(party: Party, business_date: date) -> pd.DataFrame:
    """What we hold of the party's leg for the date."""
    if party.kind == PartyKind.PROCESSOR:
        return ours.transactions(party.name, business_date)
    if party.kind == PartyKind.REVENUE:
        return ours.paid_orders(party.name, business_date)
    if party.kind == PartyKind.COURIER:
        return ours.shipments(party.name, business_date)
    if party.kind == PartyKind.RECEIPT:
        return ours.receipts(business_date)
    if party.kind == PartyKind.REMITTANCE:
        return ours.remittances(party.account, business_date)
    return expected_clearings(party.account, business_date)


def reconcile(
    party: Party, business_date: date, our_side: pd.DataFrame, theirs: pd.DataFrame
) -> LegOutcome:
    config = settings.RECONCILIATION
    if party.kind == PartyKind.PROCESSOR:
        ours = our_side.copy(deep=False)  # the columns added, none copied
        ours["status"] = _same_text("succeeded", len(ours))
        ours["processor"] = _same_text(party.name, len(ours))
        result = matching.match_transactions(
            ours,
            theirs,
            business_date=business_date,
            fee_rates=config["fee_rates_bps"],
            cutoff_grace=config["cutoff_grace"],
            day_turns_at=config["day_turns_at"].get(party.name),
            matched_columns=(),  # a run keeps no pair, only the clearing
        )
        return LegOutcome(result, matching.clearing(result.cleared, config["settlement_lag_days"]))
    if party.kind == PartyKind.REVENUE:
        return LegOutcome(matching.match_revenue(our_side, theirs, keep_matched=False))
    if party.kind == PartyKind.COURIER:
        return LegOutcome(matching.match_freight(our_side, theirs, keep_matched=False))
    if party.kind == PartyKind.RECEIPT:
        previous = receipt_numbers_before(matching.first_numbers(theirs))
        return LegOutcome(
            matching.match_receipts(our_side, theirs, previous_numbers=previous, keep_matched=False)
        )
    if party.kind == PartyKind.REMITTANCE:
        return LegOutcome(
            matching.match_remittances(
                our_side,
                theirs,
                business_date=business_date,
                window_days=settings.CLOSING["remittance_window_days"],
                destination_accounts=destination_accounts(),
                department=_only_department(party.account),
            )
        )
    return LegOutcome(
        matching.match_settlements(
            our_side, _credits(theirs), window_days=config["settlement_window_days"]
        )
    )


def _same_text(value: str, n: int) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(pa.repeat(pa.scalar(value, pa.string()), n))


def expected_clearings(account: str, business_date: date) -> pd.DataFrame:
    """The transfers due to an account by the statement's date: per (processor,
    department, settlement date), the clearings of business dates that settle together
    (a Friday's, a Saturday's and a Sunday's on the Monday), within the window of business
    days and not seen credited on another statement."""
    window = settings.RECONCILIATION["settlement_window_days"]
    rows = (
        clearings_open_on(business_date)
        .filter(
            department__settlement_account_number=account,
            settlement_date__lte=business_date,
            settlement_date__gte=add_business_days(business_date, -window),
        )
        .values("processor", "department__code", "settlement_date")
        .annotate(amount=Sum("net_amount"))
        .values_list("processor", "department__code", "settlement_date", "amount")
        .order_by()
    )
    frame = pd.DataFrame.from_records(
        list(rows), columns=["processor", "department", "settlement_date", "amount"]
    )
    frame["account"] = account
    return frame.astype(
        {
            "processor": "string",
            "department": "string",
            "account": "string",
            "settlement_date": "datetime64[ns]",
            "amount": "int64",
        }
    )


def clearings_open_on(statement_date: date) -> QuerySet[Clearing]:
    """The clearings a bank statement of the date may show credited: those no statement of
    another date has (a re-run of the date sees again what its first run recorded)."""
    return Clearing.objects.filter(Q(credited_on__isnull=True) | Q(credited_on=statement_date))


def _credits(statement: pd.DataFrame) -> pd.DataFrame:
    """A statement's credits, each with the channel that paid it (by its account)."""
    accounts = settings.RECONCILIATION["processor_accounts"]
    credits = statement[statement["amount"] > 0].copy()
    credits["processor"] = credits["counterparty_account"].map(accounts).astype("string")
    return credits


def _only_department(account: str) -> str | None:
    """The code of the department whose settlement account it is, when only one has it."""
    holders = Department.objects.filter(settlement_account_number=account)
    codes = list(holders.values_list("code", flat=True)[:2])
    return codes[0] if len(codes) == 1 else None


def department_ids(codes: pd.Series) -> dict[str, int]:
    return dict(
        Department.objects.filter(code__in=codes.dropna().unique()).values_list("code", "pk")
    )
