"""The simulator holds each fault to exactly the item it should leave."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import count

from simulation.fault_items import ExpectedItem, Item, explain

MONDAY = date(2026, 11, 2)
TUESDAY = date(2026, 11, 3)
TRADES = {"S1-D5-37": "pay_left_out", "S1-D5-38": "pay_other"}
_ids = count(1)


def item(type_="missing_in_channel", kind="processor", party="wechatpay", *, on=MONDAY,
         ref="pay_left_out", ours=100, theirs=None, open_=True) -> Item:  # fmt: skip
    return Item(next(_ids), type_, kind, party, on, ref, ours, theirs, open_)


LEFT_OUT = ExpectedItem(MONDAY, "missing_in_channel", "processor", "wechatpay", trade_of="S1-D5-37")


def short(processor: str, fen: int) -> ExpectedItem:
    return ExpectedItem(
        TUESDAY, "settlement_mismatch", "bank", "330100-RSJ",
        our_ref=f"{processor}:330100-RSJ:{TUESDAY}", short_fen=fen,
    )  # fmt: skip


def credit(processor: str, ours: int, theirs: int | None, *, run_on: date = TUESDAY) -> Item:
    """The item of a clearing settled on Tuesday, found by the account's run of `run_on`."""
    return item("settlement_mismatch", "bank", "330100-RSJ", on=run_on,
                ref=f"{processor}:330100-RSJ:{TUESDAY}", ours=ours, theirs=theirs)  # fmt: skip


def held(expected, items, *, final=True, through=TUESDAY):
    return explain(expected, items, TRADES, through=through, final=final)


def test_the_payment_left_out_of_the_bill_is_its_item():
    assert held([LEFT_OUT], [item()]).exact


def test_another_payments_item_is_unexplained_and_the_faults_item_not_made():
    other = item(ref="pay_other")

    explanation = held([LEFT_OUT], [other])

    assert explanation.unexplained == [other]
    assert explanation.not_made == [LEFT_OUT]


def test_a_fault_accounts_for_one_item_only():
    first, again = item(), item(on=MONDAY)

    assert held([LEFT_OUT], [first, again]).unexplained == [again]


def test_two_short_credits_of_one_department_are_told_apart_by_clearing_and_shortfall():
    alipay, wechatpay = credit("alipay", 50_000, 49_921), credit("wechatpay", 8_000, 7_997)

    assert held([short("alipay", 79), short("wechatpay", 3)], [alipay, wechatpay]).exact
    swapped = held([short("alipay", 3), short("wechatpay", 79)], [alipay, wechatpay])
    assert swapped.unexplained == [alipay, wechatpay]
    assert swapped.not_made == [short("alipay", 3), short("wechatpay", 79)]


def test_a_revenue_outage_leaves_ours_on_its_day_and_theirs_on_the_next():
    outage = ExpectedItem(MONDAY, "revenue_mismatch", "revenue", "", per_record=True)
    ours = [item("revenue_mismatch", "revenue", "", ref=f"po_{n}") for n in range(3)]
    theirs = [item("revenue_mismatch", "revenue", "", on=TUESDAY, ours=None, theirs=100)]
    misplaced = item("revenue_mismatch", "revenue", "", on=TUESDAY, ours=100, theirs=None)

    assert held([outage], ours + theirs).exact
    assert held([outage], [*ours, misplaced]).unexplained == [misplaced]
    assert held([outage], []).not_made == [outage]


def test_items_the_reconciliation_settles_pass_until_the_end():
    late = ExpectedItem(TUESDAY, "settlement_mismatch", "bank", "330100-RSJ", auto=True,
                        our_ref=f"alipay:330100-RSJ:{TUESDAY}")  # fmt: skip
    nothing_arrived = credit("alipay", 50_000, None)
    cutoff = item("timing_cutoff", ref="pay_at_midnight")

    assert held([late], [nothing_arrived, cutoff], final=False).exact
    assert held([late], [nothing_arrived, cutoff], final=True).unexplained == [
        nothing_arrived,
        cutoff,
    ]


def test_a_late_credit_is_found_again_by_each_run_until_it_arrives_and_only_its_own():
    late = ExpectedItem(TUESDAY, "settlement_mismatch", "bank", "330100-RSJ", auto=True,
                        our_ref=f"alipay:330100-RSJ:{TUESDAY}")  # fmt: skip
    found_again = [
        credit("alipay", 50_000, None, run_on=TUESDAY + timedelta(days=n)) for n in (1, 2)
    ]
    other_clearing = credit("wechatpay", 50_000, None, run_on=TUESDAY + timedelta(days=1))
    before_its_date = credit("alipay", 50_000, None, run_on=MONDAY)

    assert held([late], found_again, final=False).exact
    assert held([late], [other_clearing, before_its_date], final=False).unexplained == [
        other_clearing,
        before_its_date,
    ]


def test_a_fault_not_yet_reconciled_is_not_missed_and_a_settled_item_is_not_open():
    assert held([LEFT_OUT], [], through=date(2026, 10, 30)).exact
    assert held([LEFT_OUT], [item(open_=False)]).exact
