"""The ledger follows the money past the payment: the processor's fees when its clearing is
stored, the bank credit when the settlement account's statement shows it, the freight owed
to a courier once its bill is reconciled. Each posting once, however often a date is run;
a clearing account drains to zero; one that does not is a discrepancy until it does."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.db import transaction

from billing.models import PaymentAttempt, PaymentOrder, Refund
from billing.services.attempts import payment_attempt_apply_result
from billing.services.refunds import refund_apply_result, refund_reserve
from core.models import AuditRecord
from integrations.payments.base import RefundResult, RefundStatus, TradeResult, TradeStatus
from ledger import selectors
from ledger import services as ledger
from ledger.models import LedgerAccount, LedgerPosting
from logistics.models import Shipment
from reconciliation.models import Clearing, Discrepancy, DiscrepancyStatus, RunStatus
from sandboxes import common
from sandboxes.banks.camt053 import render_camt053
from sandboxes.public_platform.views import render_statement
from tests.billing.conftest import create_order
from tests.logistics.conftest import applicant_payer, create_in_process
from tests.reconciliation.conftest import run_on_statement

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
BEIJING = ZoneInfo("Asia/Shanghai")
PLATFORM = "public_platform"
PLATFORM_PAYS_FROM = "31050161393600000001"  # RECONCILIATION["processor_accounts"]
FRIDAY, MONDAY = date(2026, 11, 27), date(2026, 11, 30)
RATE_BPS = 60  # 0.6 %: 18 fen of a 3000 fen payment


@pytest.fixture
def platform_fees(settings):
    settings.RECONCILIATION = {
        **settings.RECONCILIATION,
        "fee_rates_bps": {**settings.RECONCILIATION["fee_rates_bps"], PLATFORM: RATE_BPS},
    }


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), BEIJING)


def new_order(portal) -> PaymentOrder:
    return PaymentOrder.objects.get(public_id=create_order(portal)["id"])


def paid(order: PaymentOrder, moment: datetime) -> PaymentAttempt:
    """The order paid at the platform at ``moment``, as the platform's answer is applied."""
    attempt = PaymentAttempt.objects.create(order=order, channel=PLATFORM, amount=order.amount)
    outcome = payment_attempt_apply_result(
        result=TradeResult(
            out_trade_no=attempt.out_trade_no,
            status=TradeStatus.SUCCEEDED,
            amount=attempt.amount,
            provider_trade_no=f"2026{attempt.pk:024d}",
            paid_at=moment,
        ),
        actor=f"channel:{PLATFORM}",
    )
    assert outcome == "applied"
    return PaymentAttempt.objects.select_related("order").get(pk=attempt.pk)


def refunded(attempt: PaymentAttempt, amount: int, moment: datetime) -> Refund:
    with transaction.atomic():
        refund = refund_reserve(
            order_public_id=attempt.order.public_id, amount=amount, reason="多缴", actor="test"
        )
    refund_apply_result(
        result=RefundResult(
            out_refund_no=refund.public_id,
            status=RefundStatus.SUCCEEDED,
            amount=amount,
            provider_refund_no=f"R{refund.pk:010d}",
            refunded_at=moment,
        ),
        actor=f"channel:{PLATFORM}",
    )
    refund.refresh_from_db()
    return refund


def platform_bill(attempts: list[PaymentAttempt], refunds: list[Refund], fees: dict) -> bytes:
    """The platform's bill of these payments and refunds, each with its fee in ``fees``."""
    records = [
        {
            "kind": "payment",
            "ref": a.out_trade_no,
            "provider_ref": a.provider_trade_no,
            "amount": a.received_amount,
            "fee": fees[a.public_id],
            "occurred_at": a.paid_at,
            "out_trade_no": a.out_trade_no,
            "payment_code": a.order.payment_code,
            "department_code": a.order.department.code,
        }
        for a in attempts
    ] + [
        {
            "kind": "refund",
            "ref": r.public_id,
            "provider_ref": r.provider_refund_no,
            "amount": r.amount,
            "fee": fees[r.public_id],
            "occurred_at": r.refunded_at,
            "out_trade_no": r.attempt.out_trade_no,
            "payment_code": r.order.payment_code,
            "department_code": r.order.department.code,
        }
        for r in refunds
    ]
    columns = ("out_trade_no", "payment_code", "department_code")
    return render_statement(common.bill_frame(records, columns))


def bank_statement(account: str, day: date, *credits: int) -> bytes:
    """The settlement account's statement of the day: the platform's credits to it."""
    entries = pd.DataFrame(
        {
            "amount": list(credits),
            "value_date": [pd.Timestamp(day)] * len(credits),
            "bank_ref": [f"CR{day:%m%d}{n}" for n in range(len(credits))],
            "counterparty_account": [PLATFORM_PAYS_FROM] * len(credits),
            "counterparty_name": ["统一公共支付平台"] * len(credits),
            "description": ["清算款"] * len(credits),
        }
    )
    return render_camt053(entries, account, day)


def bank_run(department, day: date, *credits: int):
    account = department.settlement_account_number
    run = run_on_statement(f"bank:icbc:{account}", day, bank_statement(account, day, *credits))
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def balance(code: str, as_of: date) -> int:
    return selectors.account_balance(LedgerAccount.objects.get(code=code), as_of)["balance"]


def postings() -> list[tuple[str, str, int]]:
    """Every posting but the payments' and refunds': kind, reference, amount moved."""
    rows = LedgerPosting.objects.exclude(kind__in=("payment", "refund")).order_by("id")
    return [(p.kind, p.reference, sum(e.debit for e in p.entries.all())) for p in rows]


def test_a_day_s_clearing_drains_to_zero_after_its_fees_and_its_bank_credit(
    portal, fixed_fee, department, platform_fees
):
    first = paid(new_order(portal), at(FRIDAY, 9))
    second = paid(new_order(portal), at(FRIDAY, 15))
    refund = refunded(first, 1000, at(FRIDAY, 17))
    fees = {first.public_id: 18, second.public_id: 18, refund.public_id: -6}  # one given back
    bill = platform_bill([first, second], [refund], fees)

    day_run = run_on_statement(PLATFORM, FRIDAY, bill)

    assert day_run.status == RunStatus.SUCCEEDED, day_run.error
    cleared = Clearing.objects.get(business_date=FRIDAY, processor=PLATFORM)
    assert cleared.settlement_date == MONDAY  # T+1 of a Friday
    assert (cleared.fees_amount, cleared.net_amount) == (30, 6000 - 1000 - 30)
    assert postings() == [("processor_fee", f"{PLATFORM}:SCJG01:{FRIDAY}", 30)]
    assert balance(f"clearing:{PLATFORM}", FRIDAY) == 4970
    assert balance(f"expense:processor_fees:{PLATFORM}", FRIDAY) == 30

    bank_run(department, MONDAY, 4970)

    cleared.refresh_from_db()
    assert (cleared.arrival, cleared.credited_amount, cleared.credited_on) == (
        Clearing.Arrival.ARRIVED,
        4970,
        MONDAY,
    )
    credit = ("bank_credit", f"{PLATFORM}:SCJG01:{MONDAY}:{MONDAY}", 4970)
    assert postings()[1:] == [credit]
    assert balance(f"clearing:{PLATFORM}", FRIDAY) == 4970  # not yet, on the Friday
    assert balance(f"clearing:{PLATFORM}", MONDAY) == 0
    assert balance(f"bank:{department.settlement_account_number}", MONDAY) == 4970
    assert balance("payable:SCJG01", MONDAY) == 5000
    assert AuditRecord.objects.filter(action="clearing.arrived").count() == 1

    # Run again, both: nothing is posted twice, and every day still balances.
    run_on_statement(PLATFORM, FRIDAY, bill)
    bank_run(department, MONDAY, 4970)

    assert postings() == [("processor_fee", f"{PLATFORM}:SCJG01:{FRIDAY}", 30), credit]
    for day in (FRIDAY, MONDAY):
        assert selectors.trial_balance(day)["balanced"]
    assert balance(f"clearing:{PLATFORM}", MONDAY) == 0


def test_a_figure_found_otherwise_is_reversed_and_posted_anew_never_edited():
    def restate(amount: int) -> None:
        with transaction.atomic():
            ledger.ledger_restate(
                kind="processor_fee",
                reference="alipay:D1:2026-11-27",
                business_date=FRIDAY,
                legs=ledger.moving(
                    amount,
                    debit=ledger.processor_fees_account("alipay"),
                    credit=ledger.clearing_account("alipay"),
                ),
            )

    for amount in (30, 30, 42, 0, 0, -6):
        restate(amount)

    ref = "alipay:D1:2026-11-27"
    assert postings() == [
        ("processor_fee", ref, 30),
        ("processor_fee_reversal", ref, 30),
        ("processor_fee", f"{ref}#2", 42),
        ("processor_fee_reversal", f"{ref}#2", 42),
        ("processor_fee", f"{ref}#3", 6),
    ]
    assert balance("expense:processor_fees:alipay", FRIDAY) == -6  # a fee given back
    assert balance("clearing:alipay", FRIDAY) == 6
    assert selectors.trial_balance(FRIDAY)["balanced"]


@pytest.fixture
def owed(department) -> Clearing:
    """Friday the 20th's clearing at the platform, due on Monday the 23rd, and the payment
    that put its money in the platform's clearing account."""
    with transaction.atomic():
        ledger.ledger_post(
            kind="payment",
            reference="pay_owed",
            business_date=date(2026, 11, 20),
            legs=ledger.moving(
                5000,
                debit=ledger.clearing_account(PLATFORM),
                credit=ledger.department_payable_account(department.code),
            ),
        )
    return Clearing.objects.create(
        business_date=date(2026, 11, 20),
        processor=PLATFORM,
        department=department,
        settlement_date=date(2026, 11, 23),
        payments_count=1,
        payments_amount=5000,
        refunds_amount=0,
        fees_amount=0,
        net_amount=5000,
    )


def test_a_re_run_that_finds_another_credit_reverses_the_first_and_posts_it_anew(owed):
    due = owed.settlement_date
    bank_run(owed.department, due, 5000)
    bank_run(owed.department, due, 4900)  # the statement, corrected

    ref = f"{PLATFORM}:SCJG01:{due}:{due}"
    assert postings() == [
        ("bank_credit", ref, 5000),
        ("bank_credit_reversal", ref, 5000),
        ("bank_credit", f"{ref}#2", 4900),
    ]
    assert balance(f"bank:{owed.department.settlement_account_number}", due) == 4900
    assert balance(f"clearing:{PLATFORM}", due) == 100  # the short credit's difference
    owed.refresh_from_db()
    assert (owed.arrival, owed.credited_amount) == (Clearing.Arrival.MISMATCH, 4900)
    [short] = Discrepancy.objects.filter(type="settlement_mismatch")
    assert (short.our_amount, short.their_amount) == (5000, 4900)


def test_a_clearing_not_drained_after_its_window_is_an_item_until_a_late_credit_drains_it(
    owed, finance
):
    not_drained = Discrepancy.objects.filter(type="clearing_not_drained")
    bank_run(owed.department, date(2026, 11, 23))  # nothing on the settlement date
    bank_run(owed.department, date(2026, 11, 26))  # the window's last business day
    assert not not_drained.exists()

    bank_run(owed.department, date(2026, 11, 27))
    bank_run(owed.department, date(2026, 11, 30))

    [item] = not_drained
    assert (item.business_date, item.our_amount, item.their_amount) == (
        owed.business_date,
        5000,
        None,
    )
    assert (item.party, item.owner, item.status, item.department) == (
        f"bank:icbc:{owed.department.settlement_account_number}",
        "treasury",
        DiscrepancyStatus.OPEN,
        owed.department,
    )
    assert item.key == f"clearing_not_drained:{PLATFORM}:SCJG01:2026-11-20"
    assert item.run.business_date == date(2026, 11, 30)
    assert balance(f"clearing:{PLATFORM}", date(2026, 11, 30)) == 5000

    # The statement of Wednesday the 25th, missing until now, shows the transfer.
    bank_run(owed.department, date(2026, 11, 25), 5000)

    owed.refresh_from_db()
    assert (owed.arrival, owed.credited_on) == (Clearing.Arrival.LATE, date(2026, 11, 25))
    item.refresh_from_db()
    assert item.status == DiscrepancyStatus.AUTO_RESOLVED
    nothing_on_the_day = Discrepancy.objects.get(
        type="settlement_mismatch", business_date=date(2026, 11, 23)
    )
    assert nothing_on_the_day.status == DiscrepancyStatus.AUTO_RESOLVED
    resolved = AuditRecord.objects.filter(action="discrepancy.auto_resolved")
    assert set(resolved.values_list("object_id", flat=True)) == {
        str(item.pk),
        str(nothing_on_the_day.pk),
    }
    assert balance(f"clearing:{PLATFORM}", date(2026, 11, 25)) == 0
    assert AuditRecord.objects.filter(action="clearing.late").count() == 1

    shown = finance.get("/api/v1/reconciliation/clearing", {"business_date": "2026-11-20"})
    assert [(row["arrival"], row["credited_amount"]) for row in shown.json()] == [("late", 5000)]

    bank_run(owed.department, date(2026, 12, 1))  # later runs raise it no more
    assert not_drained.get().status == DiscrepancyStatus.AUTO_RESOLVED


def test_the_freight_collected_for_a_courier_is_owed_to_it_once_its_bill_is_reconciled(
    portal, agency, freight_item
):
    shipment = create_in_process(portal, freight_payer="applicant", payer=applicant_payer())
    paid(shipment.freight_order, at(FRIDAY, 10))
    Shipment.objects.filter(pk=shipment.pk).update(
        waybill_no="SF1400000000001", booked_at=at(FRIDAY, 11)
    )
    freight = shipment.freight_order.amount
    bill = (
        "waybill_no,order_no,date,weight_kg,amount_yuan\n"
        f"SF1400000000001,{shipment.public_id},{FRIDAY},1.0,{freight // 100}.{freight % 100:02d}\n"
    ).encode()

    for _ in range(2):
        run = run_on_statement("courier:sf", FRIDAY, bill)
        assert run.status == RunStatus.SUCCEEDED, run.error

    assert not Discrepancy.objects.exists()
    assert postings() == [("courier_freight", f"sf:{agency.code}:{FRIDAY}", freight)]
    assert balance(f"freight_payable:{agency.code}", FRIDAY) == 0
    assert balance("payable:courier:sf", FRIDAY) == freight
    assert selectors.trial_balance(FRIDAY)["balanced"]
