"""CSV statement exports read through configurable layouts (the two examples and others)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.banks.formats.csv_layout import (
    CCB_EXAMPLE,
    ICBC_EXAMPLE,
    LAYOUTS,
    CsvLayout,
    parse_csv,
)
from integrations.statements import BANK_COLUMNS, StatementInvalid
from sandboxes.banks.csv_layouts import render_csv

# An export in the ICBC example layout, as an online bank writes it: GB18030, CRLF, two
# title lines, thousands separators, a blank line and a totals row.
ICBC_EXPORT = "\r\n".join(
    [
        "中国工商银行账户历史明细",
        "账号：1202020129900000102,户名：杭州市财政局非税收入汇缴结算户",
        "凭证号,对方账号,交易时间,借方发生额,贷方发生额,摘要,对方单位名称,余额",
        'A0001,3301040160000000001,2026-03-01 10:15:00,,"1,234,567.80",支付宝清算,'
        '支付宝（中国）网络技术有限公司,"1,234,567.80"',
        'A0002,,2026-03-01 23:59:59,12.50,,手续费,,"1,234,555.30"',
        "",
        'A0003,6222000000000000,2026-03-01 12:00:00,,0.07,"退款,冲正",张三,"1,234,555.37"',
        '合计,,,12.50,"1,234,567.87",,,',
        "",
    ]
).encode("gb18030")


def test_the_icbc_example_export_reads_every_entry_with_its_file_line():
    frame = parse_csv(ICBC_EXPORT, ICBC_EXAMPLE)

    assert frame.to_dict("records") == [
        {
            "line_no": 4,
            "account": "1202020129900000102",
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-01"),
            "amount": 123456780,
            "currency": "CNY",
            "bank_ref": "A0001",
            "counterparty_account": "3301040160000000001",
            "counterparty_name": "支付宝（中国）网络技术有限公司",
            "description": "支付宝清算",
        },
        {
            "line_no": 5,
            "account": "1202020129900000102",
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-01"),
            "amount": -1250,
            "currency": "CNY",
            "bank_ref": "A0002",
            "counterparty_account": "",
            "counterparty_name": "",
            "description": "手续费",
        },
        {
            "line_no": 7,  # after the blank line 6
            "account": "1202020129900000102",
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-01"),
            "amount": 7,
            "currency": "CNY",
            "bank_ref": "A0003",
            "counterparty_account": "6222000000000000",
            "counterparty_name": "张三",
            "description": "退款,冲正",
        },
    ]


CCB_EXPORT = (
    "\ufeff账号,记账日期,起息日,借贷方向,交易金额,币种,对方户名,对方账号,摘要,账户明细编号-交易流水号\n"
    "33050161622700000101,20260302,20260301,贷,500.00,人民币,财付通支付科技有限公司,"
    "2440000000001,清算 2026-03-01,001-1\n"
    "33050161622700000101,20260302,20260302,借,0.3,人民币,,,手续费,001-2\n"
).encode()


def test_the_ccb_example_export_reads_marks_currency_names_and_value_dates():
    frame = parse_csv(CCB_EXPORT, CCB_EXAMPLE)

    assert frame[["line_no", "account", "amount", "currency", "bank_ref"]].to_dict("records") == [
        {
            "line_no": 2,
            "account": "33050161622700000101",
            "amount": 50000,
            "currency": "CNY",
            "bank_ref": "001-1",
        },
        {
            "line_no": 3,
            "account": "33050161622700000101",
            "amount": -30,
            "currency": "CNY",
            "bank_ref": "001-2",
        },
    ]
    assert frame["booking_date"].tolist() == [pd.Timestamp("2026-03-02")] * 2
    assert frame["value_date"].tolist() == [pd.Timestamp("2026-03-01"), pd.Timestamp("2026-03-02")]
    assert frame["counterparty_name"][0] == "财付通支付科技有限公司"


def test_a_layout_in_fen_with_signed_amounts_tabs_and_an_account_column():
    layout = CsvLayout(
        name="fen_signed",
        delimiter="\t",
        columns={"account": "acct", "booking_date": "day", "amount": "fen", "bank_ref": "ref"},
        amount_unit="fen",
        sign="signed",
        date_format="%d/%m/%Y",
    )
    content = b"acct\tday\tfen\tref\n1001\t01/03/2026\t-1250\tx1\n1001\t02/03/2026\t+99\tx2\n"

    frame = parse_csv(content, layout)

    assert frame[["account", "amount", "bank_ref"]].values.tolist() == [
        ["1001", -1250, "x1"],
        ["1001", 99, "x2"],
    ]
    assert frame["booking_date"].tolist() == [
        pd.Timestamp("2026-03-01"),
        pd.Timestamp("2026-03-02"),
    ]


# -- errors -----------------------------------------------------------------------------


def icbc_with(line: int, text: str) -> bytes:
    lines = ICBC_EXPORT.decode("gb18030").split("\r\n")
    lines[line - 1] = text
    return "\r\n".join(lines).encode("gb18030")


@pytest.mark.parametrize(
    ("line", "text", "problem"),
    [
        (
            5,
            "A0002,,2026-03-01 23:59:59,12.505,,手续费,,0",
            "借方发生额 (debit) '12.505' has more than 2 decimals",
        ),
        (
            5,
            "A0002,,2026-03-01 23:59:59,12.5O,,手续费,,0",
            "借方发生额 (debit) '12.5O' is not an amount",
        ),
        (
            5,
            "A0002,,2026-02-30 10:00:00,12.50,,手续费,,0",
            "交易时间 (booking_date) '2026-02-30 10:00:00' is not a valid date",
        ),
        (
            5,
            "A0002,,2026-03-01 10:00:00,12.50,1.00,手续费,,0",
            "both 借方发生额 and 贷方发生额 have an amount",
        ),
        (
            5,
            "A0002,,2026-03-01 10:00:00,,,手续费,,0",
            "neither 借方发生额 nor 贷方发生额 has an amount",
        ),
        (7, "A0003,6222000000000000,2026-03-01 12:00:00,,0.07", "5 columns where the header has 8"),
    ],
)
def test_a_bad_row_names_its_line_and_what_is_wrong(line, text, problem):
    with pytest.raises(StatementInvalid) as caught:
        parse_csv(icbc_with(line, text), ICBC_EXAMPLE)

    assert caught.value.line == line
    assert problem in caught.value.problem


def test_text_in_another_encoding_names_its_line():
    content = ICBC_EXPORT.replace("手续费".encode("gb18030"), "手续费".encode())

    with pytest.raises(StatementInvalid) as caught:
        parse_csv(content, ICBC_EXAMPLE)

    assert caught.value.line == 5
    assert "not gb18030 text" in caught.value.problem


def test_a_missing_column_or_account_line_is_named():
    with pytest.raises(StatementInvalid, match=r"line 3: no column 摘要 \(description\)"):
        parse_csv(
            icbc_with(3, "凭证号,对方账号,交易时间,借方发生额,贷方发生额,备注,对方单位名称,余额"),
            ICBC_EXAMPLE,
        )
    with pytest.raises(StatementInvalid, match="no account above the header"):
        parse_csv(icbc_with(2, "户名：杭州市财政局"), ICBC_EXAMPLE)


def test_a_mark_that_is_neither_debit_nor_credit_is_refused():
    content = CCB_EXPORT.replace(",借,".encode(), ",出,".encode())

    with pytest.raises(
        StatementInvalid, match="line 3: 借贷方向 \\(mark\\) '出' is neither 贷 nor 借"
    ):
        parse_csv(content, CCB_EXAMPLE)


def icbc_debit(written: str) -> bytes:
    """The ICBC export with ``written`` as the debit amount of line 5."""
    return icbc_with(5, f'A0002,,2026-03-01 23:59:59,"{written}",,手续费,,0')


@pytest.mark.parametrize(
    ("written", "fen"),
    [("1,234.56", 123456), ("1234.56", 123456), ("1,234,567.8", 123456780), ("0.07", 7)],
)
def test_an_amount_written_exactly_is_read_with_or_without_thousands(written, fen):
    frame = parse_csv(icbc_debit(written), ICBC_EXAMPLE)

    assert frame["amount"].tolist() == [123456780, -fen, 7]


@pytest.mark.parametrize(
    "written",
    [
        "5,00",  # a decimal comma, not 500.00 yuan
        "1,23,456.00",  # lakh grouping
        "1,2345.00",
        ",123.00",
        "1,234,56",
        "12.345",  # a third decimal
        "12.340",  # even a zero one: at most two decimals
        "1..2",
        "1.2.3",
        "--5",
        "-5",  # a sign in a column of positive amounts
        "1 234.00",
    ],
)
def test_an_amount_not_written_exactly_is_refused_naming_its_line_and_column(written):
    with pytest.raises(StatementInvalid) as caught:
        parse_csv(icbc_debit(written), ICBC_EXAMPLE)

    assert caught.value.line == 5
    assert caught.value.problem.startswith(f"借方发生额 (debit) '{written}' ")


SIGNED = CsvLayout(
    name="signed",
    columns={"account": "acct", "booking_date": "day", "amount": "amount"},
    sign="signed",
)


@pytest.mark.parametrize("written", ["--5", "+-5", "-+5.00", "5-", "- 5", "-5,00"])
def test_a_signed_amount_has_one_sign_before_it(written):
    def signed(amount: str) -> bytes:
        return (
            f'acct,day,amount\n1001,2026-03-01,"-1,234.50"\n1001,2026-03-01,"{amount}"\n'.encode()
        )

    with pytest.raises(StatementInvalid) as caught:
        parse_csv(signed(written), SIGNED)

    assert caught.value.line == 3
    assert f"amount (amount) '{written}' is not an amount" in caught.value.problem
    assert parse_csv(signed("+5"), SIGNED)["amount"].tolist() == [-123450, 500]


def test_whole_fen_are_grouped_in_threes_and_signed_only_where_amounts_are():
    layout = CsvLayout(
        name="fen_split",
        columns={"account": "acct", "booking_date": "day", "debit": "out", "credit": "in"},
        amount_unit="fen",
        sign="split",
    )

    def read(debit: str) -> pd.DataFrame:
        return parse_csv(f'acct,day,out,in\n1001,2026-03-01,"{debit}",\n'.encode(), layout)

    assert read("1,234")["amount"].tolist() == [-1234]
    for written in ("1,23", "12,34,567", "-5"):
        with pytest.raises(StatementInvalid, match=rf"^line 2: out \(debit\) '{written}' is not"):
            read(written)


def test_a_thousands_separator_that_could_be_the_decimal_mark_is_refused():
    with pytest.raises(ValueError, match="thousands is one character"):
        CsvLayout(name="x", columns=SIGNED.columns, thousands=".")


def test_a_layout_missing_what_its_sign_convention_needs_is_refused():
    with pytest.raises(ValueError, match="no column for debit, credit"):
        CsvLayout(
            name="x",
            columns={"booking_date": "d", "amount": "a"},
            sign="split",
            account_pattern="(1)",
        )
    with pytest.raises(ValueError, match="account column or account_pattern"):
        CsvLayout(name="x", columns={"booking_date": "d", "amount": "a"})


# -- the writer -------------------------------------------------------------------------

entry = st.fixed_dictionaries(
    {
        "amount": st.integers(-(10**13), 10**13),
        "value_date": st.dates(date(2000, 1, 1), date(2099, 12, 31)),
        "bank_ref": st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", max_size=20),
        "counterparty_account": st.text("0123456789", max_size=30),
        "counterparty_name": st.text(st.characters(categories=("L", "N")), max_size=30),
        "description": st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=60).map(
            str.strip
        ),
    }
)


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
@settings(max_examples=40, deadline=None)
@given(rows=st.lists(entry, min_size=1, max_size=10))
def test_any_frame_written_in_a_layout_reads_back_the_same(layout, rows):
    entries = pd.DataFrame(rows)
    entries["value_date"] = pd.to_datetime(entries["value_date"])

    frame = parse_csv(
        render_csv(entries, "1202020129900000102", date(2026, 3, 1), layout.name), layout
    )

    expected = entries.assign(
        account="1202020129900000102", currency="CNY", booking_date=entries["value_date"]
    )
    for column in BANK_COLUMNS:
        if column != "line_no":
            assert frame[column].tolist() == expected[column].tolist(), column
    assert frame["line_no"].tolist() == list(
        range(layout.header_line + 1, layout.header_line + 1 + len(rows))
    )
