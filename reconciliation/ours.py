"""Our side of each leg for one business date, frozen by its own times.

A payment belongs to the business date of its paid_at in Asia/Shanghai, a refund to its
refunded_at's (for leg 1, the processor's date, whose day may turn before 24:00:
RECONCILIATION["day_turns_at"]), a shipment to its booking's, an issued receipt to its
issued_at's: times that never change once set, so running a date again sees the same
rows, plus any late item (补单) that was applied meanwhile. A remittance belongs to the
statements from its requested execution date to the one that shows it.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from django.conf import settings

from billing.models import Department
from billing.revenue import revenue_system_for_region
from core.money import BEIJING as BUSINESS_TZ  # noqa: F401 - the business dates' zone, for callers
from reconciliation.frames import empty_frame, frame_from_query
from reconciliation.matching.transactions import day_bounds

TRANSACTIONS = {
    "kind": "string",
    "ref": "string",
    "provider_ref": "string",
    "amount": "int64",
    "department": "string",
    "occurred_at": "datetime64[ns, UTC]",
    "refund_due": "bool",
}
PAID_ORDERS = {
    "payment_code": "string",
    "department": "string",
    "amount": "int64",
    "kind": "string",
}
SHIPMENTS = {
    "shipment_id": "string",
    "waybill_no": "string",
    "courier": "string",
    "freight_amount": "int64",
    "freight_payer": "string",
    "freight_paid": "int64",
}

RECEIPTS = {
    "kind": "string",  # normal (an order's) or red (a refund's)
    "ref": "string",  # the business id: the order's or the refund's public id
    "department": "string",
    "amount": "int64",  # what the receipt must show: the order's amount, or minus the refund's
    "status": "string",  # our receipt's: requested, issued, failed; "" when there is none
    "code": "string",
    "number": "string",
    "on_day": "bool",  # issued on the date: the platform's file of the date lists it
}
RECEIPT_NUMBERS = {"code": "string", "department": "string", "number": "string"}
REMITTANCES = {
    "ref": "string",  # the EndToEndId
    "department": "string",
    "account": "string",
    "amount": "int64",
    "execution_date": "datetime64[ns]",
    "overdue_on": "datetime64[ns]",
}


def transactions(channel: str, business_date: date) -> pd.DataFrame:
    """Leg 1: our succeeded payments and refunds at a channel on its own date."""
    start, end = day_bounds(business_date, settings.RECONCILIATION["day_turns_at"].get(channel))
    sql = """
        SELECT 'payment', a.public_id, a.provider_trade_no, a.received_amount, d.code,
               a.paid_at, a.refund_due
        FROM billing_paymentattempt a
        JOIN billing_paymentorder o ON o.id = a.order_id
        JOIN billing_department d ON d.id = o.department_id
        WHERE a.channel = %s AND a.status = 'succeeded' AND a.paid_at >= %s AND a.paid_at < %s
        UNION ALL
        SELECT 'refund', r.public_id, r.provider_refund_no, r.amount, d.code, r.refunded_at, false
        FROM billing_refund r
        JOIN billing_paymentattempt a ON a.id = r.attempt_id
        JOIN billing_paymentorder o ON o.id = r.order_id
        JOIN billing_department d ON d.id = o.department_id
        WHERE a.channel = %s AND r.status = 'succeeded'
          AND r.refunded_at >= %s AND r.refunded_at < %s
    """
    return frame_from_query(sql, (channel, start, end, channel, start, end), TRANSACTIONS)


def paid_orders(revenue_system_code: str, business_date: date) -> pd.DataFrame:
    """Leg 3: the public-revenue payments and refunds the revenue system should have."""
    departments = [
        department.code
        for department in Department.objects.all()
        if (system := revenue_system_for_region(department.region_code))
        and system.code == revenue_system_code
    ]
    if not departments:
        return empty_frame(PAID_ORDERS)
    start, end = day_bounds(business_date)
    listed = ", ".join(["%s"] * len(departments))
    sql = f"""
        SELECT o.payment_code, d.code, o.amount, 'payment'
        FROM billing_paymentorder o JOIN billing_department d ON d.id = o.department_id
        WHERE o.purpose = 'fee' AND o.paid_at >= %s AND o.paid_at < %s AND d.code IN ({listed})
        UNION ALL
        SELECT o.payment_code, d.code, r.amount, 'refund'
        FROM billing_refund r
        JOIN billing_paymentorder o ON o.id = r.order_id
        JOIN billing_department d ON d.id = o.department_id
        WHERE o.purpose = 'fee' AND r.kind = 'requested' AND r.status = 'succeeded'
          AND r.refunded_at >= %s AND r.refunded_at < %s AND d.code IN ({listed})
    """  # noqa: S608 - only placeholders are formatted in
    params = (start, end, *departments, start, end, *departments)
    return frame_from_query(sql, params, PAID_ORDERS)


def shipments(courier: str, business_date: date) -> pd.DataFrame:
    """Leg 4: the shipments booked with the courier on the date, with the freight paid."""
    start, end = day_bounds(business_date)
    sql = """
        SELECT s.public_id, s.waybill_no, s.courier, s.freight_amount, s.freight_payer,
               CASE WHEN o.paid_at IS NOT NULL THEN o.amount ELSE 0 END
        FROM logistics_shipment s
        LEFT JOIN billing_paymentorder o ON o.id = s.freight_order_id
        WHERE s.courier = %s AND s.waybill_no <> '' AND s.status <> 'cancelled'
          AND s.booked_at >= %s AND s.booked_at < %s
    """
    return frame_from_query(sql, (courier, start, end), SHIPMENTS)


def receipts(business_date: date) -> pd.DataFrame:
    """Leg 5: the receipts owed for the date's paid orders and refunds, as we hold them
    (or not), and the receipts we hold as issued on the date for those of other dates.

    Freight is not public revenue and has no receipt; a refund of money that could not
    settle its order (unsettled_payment) reddens nothing.
    """
    start, end = day_bounds(business_date)
    sql = """
        SELECT 'normal', o.public_id, d.code, o.amount,
               COALESCE(r.status, ''), COALESCE(r.code, ''), COALESCE(r.number, ''),
               COALESCE(r.issued_at >= %s AND r.issued_at < %s, false)
        FROM billing_paymentorder o
        JOIN billing_department d ON d.id = o.department_id
        LEFT JOIN billing_receipt r ON r.order_id = o.id AND r.kind = 'normal'
        WHERE o.purpose <> 'freight' AND o.paid_at >= %s AND o.paid_at < %s
        UNION ALL
        SELECT 'red', f.public_id, d.code, -f.amount,
               COALESCE(r.status, ''), COALESCE(r.code, ''), COALESCE(r.number, ''),
               COALESCE(r.issued_at >= %s AND r.issued_at < %s, false)
        FROM billing_refund f
        JOIN billing_paymentorder o ON o.id = f.order_id
        JOIN billing_department d ON d.id = o.department_id
        LEFT JOIN billing_receipt r ON r.refund_id = f.id AND r.kind = 'red'
        WHERE o.purpose <> 'freight' AND f.kind = 'requested' AND f.status = 'succeeded'
          AND f.refunded_at >= %s AND f.refunded_at < %s
        UNION ALL
        SELECT r.kind, COALESCE(f.public_id, o.public_id), d.code, COALESCE(-f.amount, o.amount),
               r.status, r.code, r.number, true
        FROM billing_receipt r
        JOIN billing_paymentorder o ON o.id = r.order_id
        JOIN billing_department d ON d.id = o.department_id
        LEFT JOIN billing_refund f ON f.id = r.refund_id
        WHERE r.status = 'issued' AND r.issued_at >= %s AND r.issued_at < %s
          AND NOT COALESCE(
              COALESCE(f.refunded_at, o.paid_at) >= %s AND COALESCE(f.refunded_at, o.paid_at) < %s,
              false
          )
    """
    return frame_from_query(sql, (start, end) * 6, RECEIPTS)


def receipt_numbers_before(firsts: pd.DataFrame) -> pd.DataFrame:
    """For each (code, department, number) of ``firsts``, the last number of the code we
    hold as issued by the department below it, where there is one (RECEIPT_NUMBERS).

    Each is one backward step along the issued receipts' (code, number) index, filtered
    by department: the department's range lies just below its next number."""
    if firsts.empty:
        return empty_frame(RECEIPT_NUMBERS)
    listed = ", ".join(["(%s, %s, %s)"] * len(firsts))
    sql = f"""
        SELECT f.code, f.department, (
            SELECT r.number FROM billing_receipt r
            JOIN billing_paymentorder o ON o.id = r.order_id
            JOIN billing_department d ON d.id = o.department_id
            WHERE r.status = 'issued' AND r.code = f.code AND r.number < f.number
              AND d.code = f.department
            ORDER BY r.number DESC LIMIT 1
        )
        FROM (VALUES {listed}) AS f(code, department, number)
    """  # noqa: S608 - only placeholders are formatted in
    params = [
        value
        for row in firsts[["code", "department", "number"]].itertuples(index=False)
        for value in row
    ]
    found = frame_from_query(sql, params, RECEIPT_NUMBERS)
    return found[found["number"].notna()].reset_index(drop=True)


def remittances(account: str, business_date: date) -> pd.DataFrame:
    """Leg 6: the remittances from the account its statement of the date may show: asked
    to be executed by the date, and not seen on an earlier statement."""
    sql = """
        SELECT r.end_to_end_id, d.code, r.debtor_account, r.amount, r.execution_date,
               r.overdue_on
        FROM closing_remittance r JOIN billing_department d ON d.id = r.department_id
        WHERE r.debtor_account = %s AND r.execution_date <= %s
          AND (r.seen_on IS NULL OR r.seen_on >= %s)
    """
    return frame_from_query(sql, (account, business_date, business_date), REMITTANCES)
