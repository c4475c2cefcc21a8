"""Alipay's trade bill (a zip of GBK CSV files) as a statement frame: its layout, the
sandbox's bill over HTTP, and malformed bills refused at their line. Reading rendered
bills back is in test_statements_channels.py."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import date

import pandas as pd
import pytest

from core.outside import get_channel
from integrations.payments.alipay import bill as alipay_bill
from integrations.statements import StatementInvalid
from sandboxes.alipay.bill import render_statement
from tests.integrations.helpers import new_trade, today_in_beijing
from tests.integrations.statement_cases import ALIPAY, alipay_detail, cut, pay_and_refund, swap

TWO_LINES = ALIPAY.two_lines


def gbk(text: str) -> bytes:
    return text.encode("gbk")


# -- the layout ---------------------------------------------------------------------------


def test_a_subject_with_commas_and_quotes_is_quoted_and_still_one_line():
    content = render_statement(TWO_LINES.assign(subject=['营业执照, "正本"', "换\n证"]))

    _, detail = alipay_detail(content)
    assert gbk('"营业执照, ""正本"""') in detail
    assert gbk(",换 证,") in detail
    pd.testing.assert_frame_equal(alipay_bill.parse_bill(content), TWO_LINES)


def test_the_bill_is_alipays_layout_in_gbk():
    name, detail = alipay_detail(render_statement(TWO_LINES, bill_date=date(2025, 6, 1)))
    text = detail.decode("gbk").split("\r\n")

    assert name == "2088000000000001_20250601_业务明细.csv"
    assert text[0] == "#支付宝业务明细查询"
    assert text[4] == ",".join(alipay_bill.BILL_COLUMNS)
    assert text[5].split(",")[:3] == ["2025060122001400000000000001\t", "pay_0123456789\t", "交易"]
    assert text[5].split(",")[11:13] == ["123.45", "123.45"]
    assert text[5].split(",")[22] == "-0.74"  # 服务费: the fee Alipay keeps, negative
    assert text[6].split(",")[11:13] == ["-23.45", "-23.45"]
    assert text[6].split(",")[21:23] == ["ref_01", "0.14"]  # the fee a refund gives back
    assert text[7].startswith("#") and alipay_bill.BILL_LIST_END in text[7]
    assert text[8] == "#交易合计：1笔，商家实收共123.45元，商家优惠共0.00元"
    assert text[9] == "#退款合计：1笔，商家实收退款共-23.45元，商家优惠退款共0.00元"


def test_a_refund_without_a_request_number_is_named_by_its_trades_out_trade_no():
    content = render_statement(TWO_LINES.assign(out_trade_no="pay_0123456789"))
    lines = ALIPAY.lines(content)
    swap(6, b",ref_01,", b",,")(lines)

    bill = alipay_bill.parse_bill(ALIPAY.file(content, lines))

    assert bill["ref"].tolist() == ["pay_0123456789", "pay_0123456789"]
    assert bill["kind"].tolist() == ["payment", "refund"]


# -- the sandbox's bill over HTTP ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_bill_holds_exactly_the_payment_and_the_refund_just_made(
    live_service, receiver
):
    channel = get_channel("alipay")
    made = pay_and_refund(channel, new_trade(receiver.url), f"ref_{uuid.uuid4().hex[:20]}", 2345)

    bill = channel.parse_statement(channel.fetch_statement(today_in_beijing()))

    no_number_of_its_own = made.paid.provider_trade_no  # the refunded trade's, for a refund
    refunded_at = made.refunded.refunded_at
    fees = (74, -14)  # 0.60% of ¥123.45, rounded to the fen; 0.60% of ¥23.45 given back
    ALIPAY.assert_bill_holds(bill, made, no_number_of_its_own, refunded_at, fees)


# -- malformed bills ----------------------------------------------------------------------

MALFORMED = {
    "an amount that is not yuan": (
        [swap(6, b",-23.45,-23.45,", b",-23.4x,-23.45,")],
        (7, "订单金额（元） '-23.4x' is not yuan with two decimals"),
    ),
    "a refund written as a positive amount": (
        [swap(6, b",-23.45,-23.45,", b",23.45,-23.45,")],
        (7, "订单金额（元） '23.45' is not negative, as a refund's is"),
    ),
    "a line with a field missing": (
        [swap(5, b",san***@sandbox.com,", b",")],
        (6, "has 24 fields, the 业务明细 has 25"),
    ),
    "a line that is not GBK": (
        [swap(6, gbk("退款"), b"\xff\xff")],
        (7, "is not GBK"),
    ),
    "a file cut before the end of its list": (
        [cut(7)],
        (8, "the bill ends without its 业务明细列表结束 line"),
    ),
    "a footer whose count disagrees with the lines": (
        [swap(8, gbk("交易合计：1笔"), gbk("交易合计：2笔"))],
        (9, "交易合计：2笔, the lines add up to 1笔"),
    ),
    "an unknown kind of line": (
        [swap(5, gbk(",交易,"), gbk(",冻结,"))],
        (6, "业务类型 '冻结' is neither 交易 nor 退款"),
    ),
    "a header that is not the detail header": (
        [swap(4, gbk("商户订单号"), gbk("订单号"))],
        (5, "is not the 业务明细 column header (支付宝交易号,商户订单号,…)"),
    ),
    "a bad field before a line that is not GBK": (
        [swap(5, b"14:30:01,,", b"24:30:01,,"), swap(6, gbk("退款"), b"\xff\xff")],  # 完成时间
        (6, "完成时间 '2025-06-01 24:30:01' is not yyyy-MM-dd HH:mm:ss"),
    ),
    "a line of too few fields before a line that is not GBK": (
        [swap(5, b",san***@sandbox.com,", b","), swap(6, gbk("退款"), b"\xff\xff")],
        (6, "has 24 fields, the 业务明细 has 25"),
    ),
}


@pytest.mark.parametrize(("edits", "refusal"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_bill_is_refused_at_its_first_bad_line(edits, refusal):
    assert ALIPAY.refusal(*edits) == refusal


def test_a_truncated_zip_is_refused_as_a_whole():
    content = render_statement(TWO_LINES)

    with pytest.raises(StatementInvalid) as refusal:
        alipay_bill.parse_bill(content[: len(content) // 2])

    assert refusal.value.line == 0
    assert "zip" in refusal.value.problem


def test_a_zip_without_the_detail_file_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("2088000000000001_20250601_业务明细(汇总).csv", b"#")

    with pytest.raises(StatementInvalid) as refusal:
        alipay_bill.parse_bill(buffer.getvalue())

    assert (refusal.value.line, refusal.value.problem) == (
        0,
        "the archive does not hold exactly one 业务明细 file",
    )


def test_a_real_bills_kinds_written_with_a_tab_are_read():
    """Alipay's own bills write 业务类型 as "交易\\t" and "退款\\t" (a tab keeps Excel from
    reading the field as anything but text)."""
    content = render_statement(TWO_LINES)
    lines = ALIPAY.lines(content)
    for edit in (swap(5, gbk(",交易,"), gbk(",交易\t,")), swap(6, gbk(",退款,"), gbk(",退款\t,"))):
        edit(lines)

    parsed = ALIPAY.parse(ALIPAY.file(content, lines))

    pd.testing.assert_frame_equal(parsed, ALIPAY.parse(content))
