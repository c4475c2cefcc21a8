"""What an order may charge: each line against its fee item's standard and waiver rules, and
the lines together against the service item (政务服务事项) the order is for.

The catalogue is read through the reference-data cache (core/reference_data.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch

from billing.models import (
    Department,
    FeeItem,
    PaymentOrderLine,
    ServiceItem,
    ServiceItemFee,
    WaiverKind,
    WaiverRule,
)
from core import reference_data
from core.errors import InvalidRequest


@dataclass(frozen=True)
class LineInput:
    fee_item: str
    quantity: int
    amount: int  # charged per unit, in fen
    # Per unit, before any waiver: for a fee item of a range, the amount assessed in it.
    standard_amount: int | None = None
    waiver_reason: str = ""  # the code of one of the fee item's waiver rules
    waiver_approved_by: str = ""
    waiver_approval_ref: str = ""


class LineRefused(Exception):
    """Why a line does not match the fee catalogue."""


def fee_items_named(codes: Iterable[str]) -> dict[str, FeeItem]:
    """The active fee items of those codes, with their departments and active waiver rules
    (``active_waiver_rules``), by code."""
    wanted = tuple(sorted(set(codes)))
    return reference_data.cached(
        ("fee_items", wanted),
        lambda: {
            item.code: item
            for item in FeeItem.objects.select_related("department")
            .filter(code__in=wanted, active=True)
            .prefetch_related(
                Prefetch(
                    "waiver_rules",
                    queryset=WaiverRule.objects.filter(active=True),
                    to_attr="active_waiver_rules",
                )
            )
        },
    )


def service_item_named(code: str) -> ServiceItem | None:
    """The active service item of that code, with its fees (``fees.all()``)."""
    return reference_data.cached(
        ("service_item", code),
        lambda: ServiceItem.objects.filter(code=code, active=True)
        .prefetch_related(
            Prefetch(
                "fees",
                queryset=ServiceItemFee.objects.only("service_item_id", "fee_item_id", "stage"),
            )
        )
        .first(),
    )


def priced_lines(
    department: Department, catalogue: dict[str, FeeItem], lines: list[LineInput]
) -> list[PaymentOrderLine]:
    """The lines as charged, or InvalidRequest naming every line that does not match."""
    priced, errors = [], {}
    for index, line in enumerate(lines):
        try:
            priced.append(_priced_line(catalogue.get(line.fee_item), department, line))
        except LineRefused as refused:
            errors[str(index)] = [str(refused)]
    if errors:
        raise InvalidRequest(
            "Some lines do not match the fee catalogue.",
            code="fee_item_mismatch",
            fields={"lines": errors},
        )
    return priced


def _priced_line(item: FeeItem | None, department: Department, line: LineInput) -> PaymentOrderLine:
    if item is None:
        raise LineRefused(f"Unknown or inactive fee item {line.fee_item}.")
    if item.department_id != department.pk:
        raise LineRefused(f"Fee item {item.code} is not collected by department {department.code}.")
    rule = _waiver_rule(item, line)
    standard = _standard_of(item, line, waived=rule is not None)
    if rule is None:
        if line.amount > standard:
            raise LineRefused(f"{line.amount} fen is above the standard amount {standard} fen.")
        if line.amount < standard:
            raise LineRefused("A reduced amount needs a waiver_reason.")
    else:
        _check_waived_amount(rule, standard, line.amount)
    return PaymentOrderLine(
        fee_item=item,
        quantity=line.quantity,
        unit_amount=line.amount,
        amount=line.quantity * line.amount,
        standard_unit_amount=standard,
        waiver_reason=line.waiver_reason,
        waiver_rule=rule,
        waiver_approved_by=line.waiver_approved_by,
        waiver_approval_ref=line.waiver_approval_ref,
    )


def _waiver_rule(item: FeeItem, line: LineInput) -> WaiverRule | None:
    if not line.waiver_reason:
        if line.waiver_approved_by or line.waiver_approval_ref:
            raise LineRefused("An approval goes with a waiver_reason.")
        return None
    rule = next((r for r in item.active_waiver_rules if r.code == line.waiver_reason), None)
    if rule is None:
        raise LineRefused(
            f"Waiver reason {line.waiver_reason!r} is not allowed for fee item {item.code}."
        )
    if not (line.waiver_approved_by and line.waiver_approval_ref):
        raise LineRefused(
            "A waiver needs who approved it: waiver_approved_by and waiver_approval_ref."
        )
    return rule


def _standard_of(item: FeeItem, line: LineInput, *, waived: bool) -> int:
    """The line's standard per unit: the fee item's fixed one, or for a range the amount
    assessed in it (``standard_amount``; without a waiver, the amount charged)."""
    if item.standard_amount is not None:
        if line.standard_amount not in (None, item.standard_amount):
            raise LineRefused(
                f"standard_amount {line.standard_amount} fen is not the standard amount "
                f"{item.standard_amount} fen of fee item {item.code}."
            )
        return item.standard_amount
    if line.standard_amount is None and waived:
        raise LineRefused(
            f"Fee item {item.code} is charged within a range: a waiver needs the "
            "standard_amount assessed in it."
        )
    standard = line.amount if line.standard_amount is None else line.standard_amount
    if standard > item.max_amount:
        raise LineRefused(f"{standard} fen is above the range maximum {item.max_amount} fen.")
    if standard < item.min_amount:
        hint = "" if waived else " A reduced amount needs a waiver_reason."
        raise LineRefused(f"{standard} fen is below the range minimum {item.min_amount} fen.{hint}")
    return standard


def _check_waived_amount(rule: WaiverRule, standard: int, amount: int) -> None:
    due = rule.unit_charge(standard)
    if due is None:  # reduction_allowed: what the approver set, below the standard
        if amount >= standard:
            raise LineRefused(
                f"Waiver {rule.code} allows less than the standard {standard} fen, "
                f"not {amount} fen."
            )
    elif rule.kind == WaiverKind.REDUCED_TO and due >= standard:
        raise LineRefused(
            f"Waiver {rule.code} reduces to {due} fen, which is not below the standard "
            f"{standard} fen."
        )
    elif amount != due:
        raise LineRefused(
            f"Waiver {rule.code} ({rule.kind}) charges {due} fen of the standard {standard} fen, "
            f"not {amount} fen."
        )


def service_item_charging(
    code: str, stage: str, lines: list[PaymentOrderLine]
) -> tuple[ServiceItem, str]:
    """The service item of that code, if it charges every line's fee item at one stage (the
    one named, if any), with that stage; InvalidRequest otherwise."""
    item = service_item_named(code)
    if item is None:
        raise InvalidRequest(
            "Unknown or inactive service item.",
            code="unknown_service_item",
            fields={"service_item_code": [f"No active service item {code}."]},
        )
    if item.no_fee:
        raise InvalidRequest(
            f"Service item {code} is declared free of charge (不收费): it needs no payment order.",
            code="service_item_free",
            fields={"service_item_code": ["Declared free of charge."]},
        )
    stages = {fee.fee_item_id: fee.stage for fee in item.fees.all()}
    outside = {
        str(index): [f"Service item {code} does not charge fee item {line.fee_item.code}."]
        for index, line in enumerate(lines)
        if line.fee_item_id not in stages
    }
    if outside:
        raise InvalidRequest(
            "Some lines are not fees of the service item.",
            code="not_in_service_item",
            fields={"lines": outside},
        )
    charged = {stages[line.fee_item_id] for line in lines}
    if stage:
        elsewhere = {
            str(index): [
                f"Service item {code} charges fee item {line.fee_item.code} at "
                f"{stages[line.fee_item_id]}, not at {stage}."
            ]
            for index, line in enumerate(lines)
            if stages[line.fee_item_id] != stage
        }
        if elsewhere:
            raise InvalidRequest(
                "Some lines are charged at another stage.",
                code="stage_mismatch",
                fields={"lines": elsewhere},
            )
        return item, stage
    if len(charged) > 1:
        raise InvalidRequest(
            "The lines are charged at different stages of the case: one order per stage.",
            code="stage_mismatch",
            fields={"stage": [f"The lines are charged at {', '.join(sorted(charged))}."]},
        )
    return item, charged.pop()
