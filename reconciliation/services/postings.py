"""The ledger postings of money moving on, as the runs find it (ledger/services.py lists the
kinds): a processor's fees when its clearing is stored, a transfer's bank credit when the
bank leg sees it, the freight owed to a courier when its bill is reconciled.

Each is the standing figure of its reference (``ledger_restate``): a re-run that finds the
same figure posts nothing, one that finds another reverses the first and posts it anew.
Called inside the transaction that stores the run's results.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import connection

from ledger import services as ledger
from reconciliation.ours import day_bounds


def clearing_fees_post(
    *, processor: str, business_date: date, fees: Iterable[tuple[str, int]]
) -> None:
    """Each department's fees on the processor's clearing of the date, ``(department code,
    fees)``; a department whose clearing is gone has fees of 0."""
    for department, amount in fees:
        ledger.ledger_restate(
            kind="processor_fee",
            reference=f"{processor}:{department}:{business_date}",
            business_date=business_date,
            memo=f"fees of {processor} on the clearing of {department}",
            legs=ledger.moving(
                amount,
                debit=ledger.processor_fees_account(processor),
                credit=ledger.clearing_account(processor),
            ),
        )


def bank_credit_post(
    *,
    account: str,
    processor: str,
    department: str,
    settlement_date: date,
    credited: int,
    statement_date: date,
) -> None:
    """What the statement of ``statement_date`` shows credited of a transfer: the money
    leaves the processor's clearing for the settlement account. One figure per transfer
    and statement: a re-run of another statement's date never restates it."""
    ledger.ledger_restate(
        kind="bank_credit",
        reference=f"{processor}:{department}:{settlement_date}:{statement_date}",
        business_date=statement_date,
        memo=f"transfer of {processor} to {department} due {settlement_date}",
        legs=ledger.moving(
            credited,
            debit=ledger.bank_account(account),
            credit=ledger.clearing_account(processor),
        ),
    )


def courier_freight_post(*, courier: str, business_date: date) -> None:
    """The freight applicants paid for the shipments booked with the courier on the date
    (less any refunded), per department: collected for the courier, now owed to it."""
    for department, amount in _freight_collected(courier, business_date):
        ledger.ledger_restate(
            kind="courier_freight",
            reference=f"{courier}:{department}:{business_date}",
            business_date=business_date,
            memo=f"freight of the shipments booked with {courier}",
            legs=ledger.moving(
                amount,
                debit=ledger.freight_payable_account(department),
                credit=ledger.courier_payable_account(courier),
            ),
        )


def _freight_collected(courier: str, business_date: date) -> list[tuple[str, int]]:
    """Per department with an applicant-paid shipment booked with the courier on the date
    (cancelled ones too, at 0: their freight is refunded), the freight its orders hold."""
    start, end = day_bounds(business_date)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT d.code, COALESCE(SUM(o.amount - o.refunded_amount) FILTER (
                       WHERE s.status <> 'cancelled' AND o.paid_at IS NOT NULL), 0)
            FROM logistics_shipment s
            JOIN billing_paymentorder o ON o.id = s.freight_order_id
            JOIN billing_department d ON d.id = o.department_id
            WHERE s.courier = %s AND s.waybill_no <> '' AND s.freight_payer = 'applicant'
              AND s.booked_at >= %s AND s.booked_at < %s
            GROUP BY d.code ORDER BY d.code
            """,
            [courier, start, end],
        )
        return [(code, int(amount)) for code, amount in cursor.fetchall()]
