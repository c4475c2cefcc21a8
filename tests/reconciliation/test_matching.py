"""The matching engine on small hand-built frames: each leg, each discrepancy type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pandas as pd
import pytest

from core.money import BEIJING
from integrations.statements import (
    BANK_COLUMNS,
    FREIGHT_COLUMNS,
    REVENUE_COLUMNS,
    TRANSACTION_COLUMNS,
    typed,
)
from reconciliation.matching import (
    CLEARING_COLUMNS,
    ConservationError,
    LegResult,
    clearing,
    match_freight,
    match_revenue,
    match_settlements,
    match_transactions,
)
from reconciliation.matching.transactions import day_bounds

DAY = date(2024, 3, 1)


def shanghai(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="Asia/Shanghai").tz_convert("UTC")


def ours_frame(rows: list[dict]) -> pd.DataFrame:
    """Our payments and refunds as the caller builds them from the database."""
    defaults = {
        "kind": "payment",
        "provider_ref": "",
        "status": "succeeded",
        "department": "D1",
        "at": "2024-03-01 12:00",
        "refund_due": False,
        "processor": "alipay",
    }
    full = [{**defaults, **row} for row in rows]
    frame = pd.DataFrame(
        {
            "kind": pd.Series([r["kind"] for r in full], dtype="string"),
            "ref": pd.Series([r["ref"] for r in full], dtype="string"),
            "provider_ref": pd.Series([r["provider_ref"] for r in full], dtype="string"),
            "amount": pd.Series([r["amount"] for r in full], dtype="int64"),
            "status": pd.Series([r["status"] for r in full], dtype="string"),
            "department": pd.Series([r["department"] for r in full], dtype="string"),
            "occurred_at": pd.Series(
                [shanghai(r["at"]) for r in full], dtype="datetime64[ns, UTC]"
            ),
            "refund_due": pd.Series([r["refund_due"] for r in full], dtype=bool),
            "processor": pd.Series([r["processor"] for r in full], dtype="string"),
        }
    )
    frame["business_date"] = (
        frame["occurred_at"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).dt.normalize()
    )
    return frame


def theirs_frame(rows: list[dict], *, status: bool = False) -> pd.DataFrame:
    """A processor's bill in the canonical shape (plus its status when asked)."""
    defaults = {"kind": "payment", "provider_ref": "", "fee": 0, "at": "2024-03-01 12:00"}
    full = [{**defaults, **row} for row in rows]
    frame = pd.DataFrame(
        {
            "line_no": [row.get("line_no", number + 2) for number, row in enumerate(full)],
            "kind": [r["kind"] for r in full],
            "ref": [r["ref"] for r in full],
            "provider_ref": [r["provider_ref"] for r in full],
            "amount": [r["amount"] for r in full],
            "fee": [r["fee"] for r in full],
            "occurred_at": pd.Series([shanghai(r["at"]) for r in full], dtype=object),
        }
    )
    canonical = typed(frame, TRANSACTION_COLUMNS)
    if status:
        canonical["status"] = pd.Series([r.get("status", "success") for r in full], dtype="string")
    return canonical


def checked(result: LegResult) -> LegResult:
    result.check_conservation()
    return result


def one_to_one(match, ours: pd.DataFrame, theirs: pd.DataFrame) -> LegResult:
    """The leg's result, checked; without its matched rows it finds and counts the same."""
    result = checked(match(ours, theirs))
    lean = match(ours, theirs, keep_matched=False)
    assert lean.totals == result.totals
    pd.testing.assert_frame_equal(lean.discrepancies, result.discrepancies)
    assert list(lean.matched.columns) == list(result.matched.columns)
    assert len(lean.matched) == 0
    return result


def statement(
    columns: Mapping[str, str],
    rows: list[tuple],
    fields: list[str],
    *,
    first_line: int = 2,
    **same: object,
) -> pd.DataFrame:
    """A statement in its canonical shape: a tuple of `fields` per line, the lines numbered
    from `first_line`, and the `same` columns given once for every line."""
    frame = pd.DataFrame(rows, columns=fields).assign(**same)
    frame["line_no"] = range(first_line, len(rows) + first_line)
    return typed(frame, columns)


def leg1(ours: list[dict], theirs: list[dict], **options):
    status = any("status" in row for row in theirs)
    return checked(
        match_transactions(
            ours_frame(ours), theirs_frame(theirs, status=status), business_date=DAY, **options
        )
    )


def found(result) -> list[tuple[str, str]]:
    return list(zip(result.discrepancies["type"], result.discrepancies["key"], strict=True))


# Leg 1 ----------------------------------------------------------------------------------


def test_equal_sides_match_every_line_and_count_both_sides():
    result = leg1(
        [
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1"},
            {"ref": "rf_1", "amount": 300, "kind": "refund", "provider_ref": "R1"},
        ],
        [
            {"ref": "rf_1", "amount": 300, "kind": "refund", "provider_ref": "R1", "fee": -2},
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1", "fee": 6},
        ],
    )
    assert found(result) == []
    assert list(result.matched["our_ref"]) == ["po_1", "rf_1"]
    assert list(result.matched["fee"]) == [6, -2]
    assert list(result.matched["matched_on"]) == ["ref", "ref"]
    assert result.totals["ours_count"] == result.totals["theirs_count"] == 2
    assert result.totals["matched_count"] == 2
    assert result.totals["matched_amount"] == 1300
    assert result.totals["missing_in_channel_count"] == 0


def test_a_payment_only_we_have_is_missing_in_channel():
    result = leg1(
        [{"ref": "po_1", "amount": 1000, "provider_ref": "T1"}, {"ref": "po_2", "amount": 5}],
        [{"ref": "po_1", "amount": 1000, "provider_ref": "T1"}],
    )
    assert found(result) == [("missing_in_channel", "missing_in_channel:payment:po_2:")]
    row = result.discrepancies.iloc[0]
    assert row["our_amount"] == 5 and pd.isna(row["their_amount"])
    assert (row["our_count"], row["their_count"]) == (1, 0)
    assert row["department"] == "D1"
    assert result.totals["missing_in_channel_amount"] == 5


def test_a_line_only_the_processor_has_is_missing_in_ledger():
    result = leg1([], [{"ref": "po_9", "amount": 700, "provider_ref": "T9"}])
    assert found(result) == [("missing_in_ledger", "missing_in_ledger:payment:po_9:T9")]
    row = result.discrepancies.iloc[0]
    assert pd.isna(row["our_amount"]) and row["their_amount"] == 700
    assert pd.isna(row["department"])
    assert row["their_line_no"] == 2


def test_different_amounts_are_amount_mismatch_for_payments_and_refund_mismatch_for_refunds():
    result = leg1(
        [
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1"},
            {"ref": "rf_1", "amount": 300, "kind": "refund", "provider_ref": "R1"},
        ],
        [
            {"ref": "po_1", "amount": 1001, "provider_ref": "T1"},
            {"ref": "rf_1", "amount": 200, "kind": "refund", "provider_ref": "R1"},
        ],
    )
    assert found(result) == [
        ("amount_mismatch", "amount_mismatch:payment:po_1:T1"),
        ("refund_mismatch", "refund_mismatch:refund:rf_1:R1"),
    ]
    assert list(result.discrepancies["our_amount"]) == [1000, 300]
    assert list(result.discrepancies["their_amount"]) == [1001, 200]
    assert result.matched.empty


def test_a_line_billed_twice_is_one_match_and_one_duplicate():
    result = leg1(
        [{"ref": "po_1", "amount": 1000, "provider_ref": "T1"}],
        [
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1", "line_no": 7},
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1", "line_no": 3},
        ],
    )
    assert found(result) == [("duplicate", "duplicate:payment:po_1:T1#1")]
    row = result.discrepancies.iloc[0]
    assert (row["our_count"], row["their_count"]) == (0, 1)
    assert row["their_line_no"] == 7  # the later line is the repeat
    assert list(result.matched["their_line_no"]) == [3]
    assert result.totals["theirs_amount"] == 2000


def test_an_order_paid_twice_is_a_duplicate_holding_both_lines():
    result = leg1(
        [
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1"},
            {"ref": "po_1b", "amount": 1000, "provider_ref": "T2", "refund_due": True},
        ],
        [
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1"},
            {"ref": "po_1b", "amount": 1000, "provider_ref": "T2"},
        ],
    )
    assert found(result) == [("duplicate", "duplicate:payment:po_1b:T2")]
    row = result.discrepancies.iloc[0]
    assert row["detail"] == "refund_due"
    assert (row["our_count"], row["their_count"]) == (1, 1)


def test_fee_is_checked_against_the_rate_rounded_half_up():
    # 12,750 fen at 60 bp is 76.5 fen: half up gives 77 (banker's rounding would give 76).
    ours = [
        {"ref": "po_1", "amount": 12_750, "provider_ref": "T1"},
        {"ref": "po_2", "amount": 12_750, "provider_ref": "T2"},
        {"ref": "po_3", "amount": 10_000, "provider_ref": "T3", "processor": "unionpay"},
    ]
    theirs = [
        {"ref": "po_1", "amount": 12_750, "provider_ref": "T1", "fee": 77},
        {"ref": "po_2", "amount": 12_750, "provider_ref": "T2", "fee": 76},
        {"ref": "po_3", "amount": 10_000, "provider_ref": "T3", "fee": 999},
    ]
    result = leg1(ours, theirs, fee_rates={"alipay": 60})
    assert found(result) == [("fee_mismatch", "fee_mismatch:payment:po_2:T2")]
    row = result.discrepancies.iloc[0]
    assert (row["their_fee"], row["expected_fee"]) == (76, 77)
    # Without rates, no fee is checked; unionpay had no rate, so its fee never was.
    assert found(leg1(ours, theirs)) == []


def test_refund_fees_are_not_checked():
    result = leg1(
        [{"ref": "rf_1", "amount": 10_000, "kind": "refund", "provider_ref": "R1"}],
        [{"ref": "rf_1", "amount": 10_000, "kind": "refund", "provider_ref": "R1", "fee": 0}],
        fee_rates={"alipay": 60},
    )
    assert found(result) == []


def test_one_sided_items_near_midnight_are_timing_cutoff():
    result = leg1(
        [
            {"ref": "po_late", "amount": 1, "at": "2024-03-01 23:57:00"},
            {"ref": "po_early", "amount": 2, "at": "2024-03-01 00:04:59"},
            {"ref": "po_evening", "amount": 3, "at": "2024-03-01 23:54:59"},
        ],
        [
            {"ref": "po_next", "amount": 4, "provider_ref": "T4", "at": "2024-03-02 00:05:00"},
            {"ref": "po_after", "amount": 5, "provider_ref": "T5", "at": "2024-03-02 00:05:01"},
        ],
    )
    assert sorted(found(result)) == [
        ("missing_in_channel", "missing_in_channel:payment:po_evening:"),
        ("missing_in_ledger", "missing_in_ledger:payment:po_after:T5"),
        ("timing_cutoff", "timing_cutoff:payment:po_early:"),
        ("timing_cutoff", "timing_cutoff:payment:po_late:"),
        ("timing_cutoff", "timing_cutoff:payment:po_next:T4"),
    ]
    wider = match_transactions(
        ours_frame([{"ref": "po_evening", "amount": 3, "at": "2024-03-01 23:54:59"}]),
        theirs_frame([]),
        business_date=DAY,
        cutoff_grace=timedelta(minutes=6),
    )
    assert list(wider.discrepancies["type"]) == ["timing_cutoff"]


def test_a_processor_whose_day_turns_at_23_00_has_the_hour_before_the_date_and_not_its_last():
    """UnionPay's date D runs from 23:00:00 on D-1 (in) to 23:00:00 on D (out): a line
    of 23:30 on D-1 is D's, cleared as D's, and the cut-off's grace is about 23:00."""
    assert day_bounds(DAY, time(23)) == (
        datetime(2024, 2, 29, 23, tzinfo=BEIJING),
        datetime(2024, 3, 1, 23, tzinfo=BEIJING),
    )
    lines = [
        {"ref": "pay_2330", "amount": 1000, "at": "2024-02-29 23:30:00"},
        {"ref": "pay_2300", "amount": 2000, "at": "2024-02-29 23:00:00"},
        {"ref": "pay_2259", "amount": 3000, "at": "2024-03-01 22:59:59"},
    ]
    ours = ours_frame([{**line, "processor": "unionpay"} for line in lines])
    same = checked(
        match_transactions(
            ours.drop(columns="business_date"),
            theirs_frame(lines),
            business_date=DAY,
            day_turns_at=time(23),
        )
    )
    assert found(same) == []
    assert list(same.cleared["business_date"]) == [pd.Timestamp(DAY)] * 3

    one_sided = checked(
        match_transactions(
            ours_frame(
                [
                    {"ref": "pay_early", "amount": 1, "at": "2024-02-29 23:04:59"},
                    {"ref": "pay_midnight", "amount": 2, "at": "2024-03-01 00:00:00"},
                ]
            ),
            theirs_frame(
                [{"ref": "pay_late", "amount": 3, "provider_ref": "T3", "at": "2024-03-01 22:57"}]
            ),
            business_date=DAY,
            day_turns_at=time(23),
        )
    )
    assert sorted(found(one_sided)) == [
        ("missing_in_channel", "missing_in_channel:payment:pay_midnight:"),
        ("timing_cutoff", "timing_cutoff:payment:pay_early:"),
        ("timing_cutoff", "timing_cutoff:payment:pay_late:T3"),
    ]


def test_a_closed_line_for_money_we_hold_is_status_mismatch():
    result = leg1(
        [
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1"},
            {"ref": "po_2", "amount": 1000, "provider_ref": "T2"},
        ],
        [
            {"ref": "po_1", "amount": 1000, "provider_ref": "T1", "status": "CLOSED"},
            {"ref": "po_2", "amount": 1000, "provider_ref": "T2", "status": "success"},
        ],
    )
    assert found(result) == [("status_mismatch", "status_mismatch:payment:po_1:T1")]


def test_a_line_with_another_out_trade_number_matches_on_the_processor_number():
    result = leg1(
        [{"ref": "po_1", "amount": 1000, "provider_ref": "T1"}],
        [{"ref": "PO-0001", "amount": 1000, "provider_ref": "T1"}],
    )
    assert found(result) == []
    assert list(result.matched["matched_on"]) == ["provider_ref"]
    assert list(result.matched["their_ref"]) == ["T1"]


def test_a_payment_and_a_refund_with_the_same_number_do_not_match_each_other():
    result = leg1(
        [{"ref": "X1", "amount": 1000, "kind": "payment"}],
        [{"ref": "X1", "amount": 1000, "kind": "refund", "provider_ref": "R1"}],
    )
    assert sorted(result.discrepancies["type"]) == ["missing_in_channel", "missing_in_ledger"]


def test_empty_sides_give_empty_results_with_zero_totals():
    result = leg1([], [])
    assert result.matched.empty and result.discrepancies.empty
    assert set(result.totals.values()) == {0}
    assert "timing_cutoff_count" in result.totals


def test_check_conservation_catches_a_lost_row_and_a_wrong_total():
    result = leg1(
        [{"ref": "po_1", "amount": 1000}, {"ref": "po_2", "amount": 50}],
        [{"ref": "po_1", "amount": 1000}],
    )
    result.check_conservation()
    lost = replace(result, discrepancies=result.discrepancies.iloc[0:0])
    with pytest.raises(ConservationError, match="ours: 1 rows placed, 2 given"):
        lost.check_conservation()
    counted_twice = replace(result, matched=pd.concat([result.matched, result.matched]))
    with pytest.raises(ConservationError, match="theirs: 2 rows placed, 1 given"):
        counted_twice.check_conservation()
    wrong_total = replace(result, totals={**result.totals, "missing_in_channel_count": 2})
    with pytest.raises(ConservationError, match="missing_in_channel_count"):
        wrong_total.check_conservation()


def test_inputs_without_a_needed_column_or_with_an_unknown_kind_are_refused():
    ours = ours_frame([{"ref": "po_1", "amount": 1}])
    theirs = theirs_frame([{"ref": "po_1", "amount": 1}])
    with pytest.raises(ValueError, match="ours has no column amount"):
        match_transactions(ours.drop(columns="amount"), theirs, business_date=DAY)
    with pytest.raises(ValueError, match="per processor"):
        match_transactions(
            ours.drop(columns="processor"), theirs, business_date=DAY, fee_rates={"x": 1}
        )
    theirs.loc[0, "kind"] = "chargeback"
    with pytest.raises(ValueError, match="'chargeback'"):
        match_transactions(ours, theirs, business_date=DAY)


# Clearing -------------------------------------------------------------------------------


def test_clearing_nets_refunds_and_fees_per_processor_department_and_settlement_date():
    result = leg1(
        [
            {"ref": "po_1", "amount": 10_000, "department": "D1"},
            {"ref": "po_2", "amount": 5_000, "department": "D1"},
            {"ref": "rf_1", "amount": 2_000, "department": "D1", "kind": "refund"},
            {"ref": "po_3", "amount": 7_000, "department": "D2", "processor": "wechatpay"},
            {"ref": "po_4", "amount": 1, "department": "D2"},  # not billed: not cleared
        ],
        [
            {"ref": "po_1", "amount": 10_000, "fee": 60},
            {"ref": "po_2", "amount": 5_000, "fee": 30},
            {"ref": "rf_1", "amount": 2_000, "fee": -12, "kind": "refund"},
            {"ref": "po_3", "amount": 7_000, "fee": 42},
        ],
    )
    out = clearing(
        result.cleared, {"alipay": 1, "wechatpay": 2}, accounts={"D1": "6222-01", "D2": "6222-02"}
    )
    assert out.to_dict("records") == [
        {
            "processor": "alipay",
            "department": "D1",
            "account": "6222-01",
            "business_date": pd.Timestamp("2024-03-01"),
            "settlement_date": pd.Timestamp("2024-03-04"),  # T+1 of a Friday: the Monday
            "amount": 10_000 + 5_000 - 2_000 - (60 + 30 - 12),
            "payments_count": 2,
            "payments_amount": 15_000,
            "refunds_count": 1,
            "refunds_amount": 2_000,
            "fees_amount": 78,
        },
        {
            "processor": "wechatpay",
            "department": "D2",
            "account": "6222-02",
            "business_date": pd.Timestamp("2024-03-01"),
            "settlement_date": pd.Timestamp("2024-03-05"),
            "amount": 7_000 - 42,
            "payments_count": 1,
            "payments_amount": 7_000,
            "refunds_count": 0,
            "refunds_amount": 0,
            "fees_amount": 42,
        },
    ]
    assert out["amount"].dtype == "int64"
    with pytest.raises(ValueError, match="wechatpay"):
        clearing(result.cleared, {"alipay": 1})


def test_the_clearing_counts_every_pair_whose_money_moved_as_the_bill_has_it():
    """What the processor transfers is its bill: a pair that is also a discrepancy counts at
    the bill's amount and fee (the discrepancy says the difference); a line the bill says
    did not move, and a line one side alone holds, do not count."""
    result = leg1(
        [
            {"ref": "po_1", "amount": 10_000, "provider_ref": "T1"},
            {"ref": "po_1b", "amount": 10_000, "provider_ref": "T1b", "refund_due": True},
            {"ref": "rf_1b", "amount": 10_000, "provider_ref": "R1b", "kind": "refund"},
            {"ref": "po_2", "amount": 5_000, "provider_ref": "T2"},
            {"ref": "po_3", "amount": 2_000, "provider_ref": "T3"},
            {"ref": "rf_3", "amount": 1_000, "provider_ref": "R3", "kind": "refund"},
            {"ref": "po_4", "amount": 4_000, "provider_ref": "T4"},
            {"ref": "po_5", "amount": 700, "provider_ref": "T5"},
        ],
        [
            {"ref": "po_1", "amount": 10_000, "provider_ref": "T1", "fee": 60},
            {"ref": "po_1b", "amount": 10_000, "provider_ref": "T1b", "fee": 60},
            {"ref": "rf_1b", "amount": 10_000, "provider_ref": "R1b", "kind": "refund", "fee": -60},
            {"ref": "po_2", "amount": 4_900, "provider_ref": "T2", "fee": 29},
            {"ref": "po_3", "amount": 2_000, "provider_ref": "T3", "fee": 13},
            {"ref": "rf_3", "amount": 900, "provider_ref": "R3", "kind": "refund", "fee": -5},
            {"ref": "po_4", "amount": 4_000, "provider_ref": "T4", "status": "closed"},
            {"ref": "po_9", "amount": 300, "provider_ref": "T9", "fee": 2},
        ],
        fee_rates={"alipay": 60},
    )
    assert sorted(result.discrepancies["type"]) == [
        "amount_mismatch",  # po_2
        "duplicate",  # po_1b: the order was paid twice
        "fee_mismatch",  # po_3
        "missing_in_channel",  # po_5
        "missing_in_ledger",  # po_9
        "refund_mismatch",  # rf_3
        "status_mismatch",  # po_4
    ]
    [out] = clearing(result.cleared, {"alipay": 1}).to_dict("records")
    assert (out["payments_count"], out["payments_amount"]) == (4, 10_000 + 10_000 + 4_900 + 2_000)
    assert (out["refunds_count"], out["refunds_amount"]) == (2, 10_000 + 900)
    assert out["fees_amount"] == 60 + 60 - 60 + 29 + 13 - 5
    assert out["amount"] == 26_900 - 10_900 - 97


def test_a_leg1_building_no_matched_pair_finds_counts_and_clears_the_same():
    ours = [
        {"ref": "po_1", "amount": 10_000, "department": "D1"},
        {"ref": "po_2", "amount": 5_000, "department": "D2"},
        {"ref": "rf_1", "amount": 2_000, "department": "D1", "kind": "refund"},
        {"ref": "po_3", "amount": 700, "department": "D2"},
    ]
    theirs = [
        {"ref": "po_1", "amount": 10_000, "fee": 60},
        {"ref": "po_2", "amount": 5_000, "fee": 31},  # a fee off
        {"ref": "rf_1", "amount": 2_000, "fee": -12, "kind": "refund"},
        {"ref": "po_9", "amount": 300, "fee": 2},
    ]
    options = {"fee_rates": {"alipay": 60}}
    full = leg1(ours, theirs, **options)
    lean = match_transactions(
        ours_frame(ours), theirs_frame(theirs), business_date=DAY, matched_columns=(), **options
    )

    assert lean.matched.empty and len(full.matched) == 2
    assert lean.totals == full.totals and full.totals["matched_count"] == 2
    pd.testing.assert_frame_equal(lean.discrepancies, full.discrepancies)
    assert set(lean.cleared.columns) == set(CLEARING_COLUMNS)
    pd.testing.assert_frame_equal(lean.cleared, full.cleared)
    assert len(full.cleared) == 3  # the fee off is still transferred


# Leg 2 ----------------------------------------------------------------------------------


def expected_frame(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    """(processor, department, account, settlement date, amount) per clearing."""
    frame = pd.DataFrame(
        rows, columns=["processor", "department", "account", "settlement_date", "amount"]
    )
    return frame.astype({"settlement_date": "datetime64[ns]", "amount": "int64"})


def credits_frame(rows: list[tuple[str, str, str, int, str]]) -> pd.DataFrame:
    """(processor, account, value date, amount, bank ref) per credit."""
    canonical = statement(
        BANK_COLUMNS,
        rows,
        ["processor", "account", "value_date", "amount", "bank_ref"],
        first_line=1,
        booking_date=lambda frame: frame["value_date"],
        currency="CNY",
        counterparty_account="clearing",
        counterparty_name="processor",
        description="settlement",
    )
    canonical["processor"] = pd.Series([r[0] for r in rows], dtype="string")
    return canonical


def leg2(expected, credits, **options):
    return checked(match_settlements(expected_frame(expected), credits_frame(credits), **options))


def test_a_clearing_paid_in_one_credit_or_in_several_is_matched():
    result = leg2(
        [("alipay", "D1", "A1", "2024-03-02", 9_000), ("alipay", "D2", "A2", "2024-03-02", 500)],
        [
            ("alipay", "A1", "2024-03-02", 4_000, "B1"),
            ("alipay", "A1", "2024-03-03", 5_000, "B2"),
            ("alipay", "A2", "2024-03-02", 500, "B3"),
        ],
    )
    assert found(result) == []
    assert list(result.matched["their_count"]) == [2, 1]
    assert list(result.matched["their_ref"]) == ["B1,B2", "B3"]
    assert result.totals["matched_amount"] == 9_500


def test_a_short_credit_and_a_missing_one_are_settlement_mismatches():
    result = leg2(
        [("alipay", "D1", "A1", "2024-03-02", 9_000), ("alipay", "D2", "A2", "2024-03-02", 500)],
        [("alipay", "A1", "2024-03-02", 8_999, "B1")],
    )
    assert found(result) == [
        ("settlement_mismatch", "settlement_mismatch:alipay:D1:A1:2024-03-02"),
        ("settlement_mismatch", "settlement_mismatch:alipay:D2:A2:2024-03-02"),
    ]
    assert list(result.discrepancies["detail"]) == ["amount", "nothing_arrived"]
    assert list(result.discrepancies["their_amount"].astype(object)) == [8_999, pd.NA]
    assert list(result.discrepancies["their_count"]) == [1, 0]


def test_credits_outside_the_window_or_from_another_processor_match_nothing():
    # Due on Thursday 29 February 2024: three business days on are Friday, Monday, Tuesday.
    result = leg2(
        [("alipay", "D1", "A1", "2024-02-29", 100)],
        [
            ("alipay", "A1", "2024-02-28", 100, "EARLY"),
            ("alipay", "A1", "2024-03-06", 100, "LATE"),
            ("wechatpay", "A1", "2024-02-29", 100, "OTHER"),
        ],
        window_days=3,
    )
    assert found(result) == [
        ("settlement_mismatch", "settlement_mismatch:alipay:A1:EARLY"),
        ("settlement_mismatch", "settlement_mismatch:alipay:A1:LATE"),
        ("settlement_mismatch", "settlement_mismatch:alipay:D1:A1:2024-02-29"),
        ("settlement_mismatch", "settlement_mismatch:wechatpay:A1:OTHER"),
    ]
    strays = result.discrepancies[result.discrepancies["detail"] == "unexpected_credit"]
    assert list(strays["department"].astype(object)) == ["D1", "D1", pd.NA]
    for credited_on, window_days in (("2024-03-05", 3), ("2024-03-06", 4)):
        assert leg2(
            [("alipay", "D1", "A1", "2024-02-29", 100)],
            [("alipay", "A1", credited_on, 100, "IN_TIME")],
            window_days=window_days,
        ).discrepancies.empty, (credited_on, window_days)


def test_a_late_credit_goes_to_the_clearing_whose_amount_it_is():
    # Day 1's money arrives late, on day 2's settlement date, beside day 2's money.
    result = leg2(
        [
            ("alipay", "D1", "A1", "2024-03-02", 1_000),
            ("alipay", "D1", "A1", "2024-03-03", 2_000),
        ],
        [("alipay", "A1", "2024-03-03", 2_000, "B2"), ("alipay", "A1", "2024-03-03", 1_000, "B1")],
    )
    assert found(result) == []
    assert list(result.matched["their_ref"]) == ["B1", "B2"]


def test_a_zero_clearing_needs_no_credit():
    result = leg2([("alipay", "D1", "A1", "2024-03-02", 0)], [])
    assert found(result) == [] and list(result.matched["their_count"]) == [0]


# Leg 3 ----------------------------------------------------------------------------------


def paid_frame(rows: list[tuple[str, str, int, str]]) -> pd.DataFrame:
    """(payment code, department, amount, kind) per paid order or refund."""
    frame = pd.DataFrame(rows, columns=["payment_code", "department", "amount", "kind"])
    return frame.astype({"amount": "int64"})


def records_frame(rows: list[tuple[str, str, str, int, str]]) -> pd.DataFrame:
    """(record id, payment code, department, amount, kind) per record."""
    return statement(
        REVENUE_COLUMNS,
        rows,
        ["record_id", "payment_code", "department", "amount", "kind"],
        received_at=shanghai("2024-03-01 12:00"),
    )


def leg3(ours, theirs):
    return one_to_one(match_revenue, paid_frame(ours), records_frame(theirs))


def test_revenue_records_match_on_payment_code_and_kind():
    result = leg3(
        [("C1", "D1", 1000, "payment"), ("C1", "D1", 300, "refund"), ("C1", "D1", 200, "refund")],
        [
            ("R3", "C1", "D1", 300, "refund"),
            ("R1", "C1", "D1", 1000, "payment"),
            ("R2", "C1", "D1", 200, "refund"),
        ],
    )
    assert found(result) == []
    assert sorted(zip(result.matched["our_amount"], result.matched["their_ref"], strict=True)) == [
        (200, "R2"),
        (300, "R3"),
        (1000, "R1"),
    ]


def test_revenue_differences_are_revenue_mismatch_and_a_repeat_is_a_duplicate():
    result = leg3(
        [
            ("C1", "D1", 1000, "payment"),
            ("C2", "D1", 500, "payment"),
            ("C3", "D1", 700, "payment"),
            ("C4", "D1", 900, "payment"),
        ],
        [
            ("R1", "C1", "D1", 1000, "payment"),
            ("R1b", "C1", "D1", 1000, "payment"),
            ("R2", "C2", "D1", 550, "payment"),
            ("R3", "C3", "D9", 700, "payment"),
            ("R5", "C5", "D1", 100, "payment"),
        ],
    )
    assert found(result) == [
        ("duplicate", "duplicate:payment:C1#1"),
        ("revenue_mismatch", "revenue_mismatch:payment:C2"),
        ("revenue_mismatch", "revenue_mismatch:payment:C3"),
        ("revenue_mismatch", "revenue_mismatch:payment:C4"),
        ("revenue_mismatch", "revenue_mismatch:payment:C5"),
    ]
    assert list(result.discrepancies["detail"]) == [
        "their_repeat",
        "amount",
        "department",
        "missing_in_records",
        "missing_in_ours",
    ]
    assert result.totals["revenue_mismatch_count"] == 4
    assert result.totals["duplicate_amount"] == 1000


# Leg 4 ----------------------------------------------------------------------------------


def shipments_frame(rows: list[tuple[str, str, int, int, str]]) -> pd.DataFrame:
    """(shipment id, waybill, freight, paid by the applicant, payer) per shipment."""
    fields = ["shipment_id", "waybill_no", "freight_amount", "freight_paid", "freight_payer"]
    frame = pd.DataFrame(rows, columns=fields).assign(courier="sf")
    return frame.astype({"freight_amount": "int64", "freight_paid": "int64"})


def bill_frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    """(waybill, order number, amount) per bill line."""
    return statement(
        FREIGHT_COLUMNS,
        rows,
        ["waybill_no", "order_no", "amount"],
        bill_date=pd.Timestamp("2024-03-01"),
    )


def leg4(ours, theirs):
    return one_to_one(match_freight, shipments_frame(ours), bill_frame(theirs))


def test_freight_bill_lines_match_shipments_on_the_waybill():
    result = leg4(
        [("shp_1", "SF1", 1200, 1200, "applicant"), ("shp_2", "SF2", 2300, 0, "agency")],
        [("SF2", "shp_2", 2300), ("SF1", "shp_1", 1200)],
    )
    assert found(result) == []
    assert list(result.matched["our_ref"]) == ["shp_1", "shp_2"]


def test_freight_differences_are_freight_mismatch_and_a_waybill_billed_twice_a_duplicate():
    result = leg4(
        [
            ("shp_1", "SF1", 1200, 1200, "applicant"),
            ("shp_2", "SF2", 2300, 0, "agency"),
            ("shp_3", "SF3", 1500, 1000, "applicant"),
            ("shp_4", "SF4", 900, 0, "agency"),
        ],
        [
            ("SF1", "shp_1", 1200),
            ("SF1", "shp_1", 1200),
            ("SF2", "shp_2", 2400),
            ("SF3", "shp_3", 1500),
            ("SF5", "shp_5", 800),
        ],
    )
    assert found(result) == [
        ("duplicate", "duplicate:SF1#1"),
        ("freight_mismatch", "freight_mismatch:SF2"),
        ("freight_mismatch", "freight_mismatch:SF3"),
        ("freight_mismatch", "freight_mismatch:SF4"),
        ("freight_mismatch", "freight_mismatch:SF5"),
    ]
    assert list(result.discrepancies["detail"]) == [
        "their_repeat",
        "amount",
        "applicant_paid",
        "missing_in_bill",
        "missing_in_ours",
    ]
    assert list(result.discrepancies["our_ref"]) == ["shp_1", "shp_2", "shp_3", "shp_4", "shp_5"]
    assert result.totals["freight_mismatch_amount"] == 2300 + 1500 + 900 + 800
