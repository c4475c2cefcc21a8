"""WeChat Pay's ALL trade bill as a statement frame: the published sample, its layout, the
sandbox's bill over HTTP, and malformed bills refused at their line. Reading rendered
bills back is in test_statements_channels.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from core.outside import get_channel
from integrations.payments.wechatpay.bill import BILL_TOTAL_COLUMNS, parse_bill, parse_trade_bill
from sandboxes.wechatpay.wire import render_statement
from tests.integrations.helpers import BEIJING, new_trade, today_in_beijing
from tests.integrations.statement_cases import WECHATPAY, append, cut, pay_and_refund, swap, utc

SAMPLE = Path(__file__).parents[1] / "fixtures" / "wechatpay" / "wechatpay-php__bill.ALL.csv"
TWO_LINES = WECHATPAY.two_lines


# -- the published sample -----------------------------------------------------------------


def test_the_published_sample_bill_is_read_line_by_line():
    bill = parse_bill(SAMPLE.read_bytes())

    assert len(bill) == 45
    assert (bill["kind"] == "payment").sum() == 31
    assert bill["line_no"].tolist() == list(range(2, 47))
    payment = bill[bill["ref"] == "autotest_20190219015232_89201"].iloc[0]
    assert payment.to_dict() == {
        "line_no": 4,
        "kind": "payment",
        "ref": "autotest_20190219015232_89201",
        "provider_ref": "4200000263201902167700134902",
        "amount": 3,  # 订单金额 0.03
        "fee": 1,  # 手续费 0.01000
        "occurred_at": utc("2019-02-18 17:52:32"),  # 2019-02-19 01:52:32 in Beijing
    }
    first = bill.iloc[0]
    assert (first["kind"], first["ref"], first["provider_ref"], first["amount"]) == (
        "refund",
        "REF4200000263201902167700963919",
        "50000709672019011908420787722",
        1,  # 申请退款金额 0.01
    )
    # The totals line: 订单总金额 0.47, 申请退款总金额 0.14, 手续费总金额 0.08.
    assert bill.loc[bill["kind"] == "payment", "amount"].sum() == 47
    assert bill.loc[bill["kind"] == "refund", "amount"].sum() == 14
    assert bill["fee"].sum() == 8
    assert bill.dtypes.astype(str).tolist() == [
        "int64", "string", "string", "string", "int64", "int64", "datetime64[ns, UTC]",
    ]  # fmt: skip


def test_the_trade_bill_reader_sees_the_lines_the_statement_has():
    content = render_statement(TWO_LINES)

    bill = parse_trade_bill(content)

    assert bill.count == 2
    assert [row.out_trade_no for row in bill.rows] == ["pay_k5qz3w7xv2m4n6p8r0ta", ""]
    assert [row.out_refund_no for row in bill.rows] == ["0", "rfd_0c1d2e3f4a5b6c7d8e9f"]
    assert [row.fee for row in bill.rows] == TWO_LINES["fee"].tolist()


# -- the layout ---------------------------------------------------------------------------


def test_the_text_wechat_cannot_quote_is_written_as_spaces():
    extras = TWO_LINES.assign(description=["营业执照, `补办`", "退\r\n费"], attach="1101")

    content = render_statement(extras)

    assert "`营业执照   补办 ,".encode() in content and "`退  费,".encode() in content
    pd.testing.assert_frame_equal(parse_bill(content), TWO_LINES)


def test_the_fee_written_back_by_a_refund_is_negative():
    assert b"`-0.14000," in render_statement(TWO_LINES)
    assert parse_bill(render_statement(TWO_LINES))["fee"].tolist() == [74, -14]


def test_times_are_written_in_beijing_time_and_read_as_utc():
    moment = datetime(2025, 6, 1, 0, 30, 2, tzinfo=BEIJING)

    content = render_statement(TWO_LINES.iloc[:1].assign(occurred_at=[moment]))

    assert content.split(b"\r\n")[1].startswith(b"`2025-06-01 00:30:02,")
    assert parse_bill(content)["occurred_at"][0] == utc("2025-05-31 16:30:02")


# -- the sandbox's bill over HTTP ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_bill_holds_exactly_the_payment_and_the_refund_just_made(
    live_service, receiver
):
    channel = get_channel("wechatpay")
    made = pay_and_refund(channel, new_trade(receiver.url), f"rfd_{uuid.uuid4().hex[:20]}", 2345)

    bill = channel.parse_statement(channel.fetch_statement(today_in_beijing()))

    accepted = datetime.fromisoformat(made.refunded.raw["create_time"])  # a refund's time
    fees = (74, -14)  # 0.60% of ¥123.45, rounded to the fen; 0.60% of ¥23.45 given back
    WECHATPAY.assert_bill_holds(bill, made, made.refunded.provider_refund_no, accepted, fees)


# -- malformed bills ----------------------------------------------------------------------

MALFORMED = {
    "an amount that is not yuan": (
        [swap(2, b"`23.45,", b"`23.4x,")],
        (3, "退款金额 '23.4x' is not yuan with two decimals"),
    ),
    "a fee with a fraction of a fen": (
        [swap(1, b"`0.74000,", b"`0.74500,")],
        (2, "手续费 '0.74500' is not a whole number of fen"),
    ),
    "a line with a field too many": (
        [append(2, b",`extra")],
        (3, "has 28 fields, the trade bill has 27"),
    ),
    "a field without its backtick": (
        [swap(2, b"`NATIVE", b"NATIVE")],
        (3, "交易类型 does not start with a backtick"),
    ),
    "a line that is not UTF-8": (
        [swap(2, b"`NATIVE", b"`NATIVE\xff")],
        (3, "is not UTF-8"),
    ),
    "an unknown trade state": (
        [swap(1, b"`SUCCESS,", b"`REVOKED,")],
        (2, "交易状态 'REVOKED' is neither SUCCESS nor REFUND"),
    ),
    "an empty line among the lines": (
        [append(1, b"\r\n")],
        (3, "is empty"),
    ),
    "a bill without its totals": (
        [cut(3)],
        (4, f"the bill ends without its totals ({','.join(BILL_TOTAL_COLUMNS)})"),
    ),
    "two problems, the earlier line's reported": (
        [swap(2, b"`23.45,", b"`x,"), swap(1, b"`2025-06-01 14:30:02", b"`2025-06-31 14:30:02")],
        (2, "交易时间 '2025-06-31 14:30:02' is not yyyy-MM-dd HH:mm:ss"),
    ),
    "a bad field before a malformed line": (
        [swap(1, b"`123.45,", b"`123.4,"), append(2, b",`extra")],
        (2, "应结订单金额 '123.4' is not yuan with two decimals"),
    ),
}


@pytest.mark.parametrize(("edits", "refused"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_bill_is_refused_at_its_first_bad_line(edits, refused):
    assert WECHATPAY.refusal(*edits) == refused


def test_a_totals_line_that_disagrees_with_the_lines_is_refused():
    content = render_statement(TWO_LINES).replace(b"`123.45,`23.45,", b"`123.46,`23.45,")

    assert WECHATPAY.refused(content) == (
        5,
        "the totals line says (2, 12346, 2345, 0, 60, 12345, 2345), "
        "the detail lines add up to (2, 12345, 2345, 0, 60, 12345, 2345)",
    )


def test_a_bill_cut_off_in_a_line_names_that_line():
    content = render_statement(TWO_LINES)

    assert WECHATPAY.refused(content[: content.index(b"`REFUND")]) == (
        3,
        "has 10 fields, the trade bill has 27",
    )


def test_a_file_that_is_not_a_trade_bill_is_refused_at_line_1():
    assert WECHATPAY.refused(b"record_type,trade_no\n#total,0,0,0\n")[0] == 1
