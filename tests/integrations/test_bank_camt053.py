"""camt.053 statements: real files of three versions, errors by line, and the writer."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.banks.formats.camt053 import parse_camt053
from integrations.statements import BANK_COLUMNS, StatementInvalid
from sandboxes.banks.camt053 import render_camt053

FIXTURES = Path(__file__).parents[1] / "fixtures" / "banks"


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def only_row(frame: pd.DataFrame) -> dict:
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def test_version_2_reads_the_entry_with_its_three_decimal_amount_in_fen():
    row = only_row(parse_camt053(sample("genkgo__camt053.v2.five.decimals.xml")))

    assert row == {
        "line_no": 61,  # <Ntry>
        "account": "NL26VAYB8060476890",  # Stmt/Acct/Id/IBAN
        "booking_date": pd.Timestamp("2014-12-31"),
        "value_date": pd.Timestamp("2015-01-02"),
        "amount": 885,  # 8.850 CRDT
        "currency": "EUR",
        "bank_ref": "",  # no AcctSvcrRef in this file
        # A credit's counterparty is the debtor; this file names only the creditor.
        "counterparty_account": "",
        "counterparty_name": "",
        "description": "Transaction Description",
    }


def test_version_4_takes_the_debtor_of_a_credit_and_the_other_account_id():
    row = only_row(parse_camt053(sample("genkgo__camt053.v4.xml")))

    assert row["line_no"] == 110
    assert row["account"] == "NL26VAYB8060476890"  # Acct/Id/Othr/Id
    assert row["amount"] == 885 and row["currency"] == "EUR"
    assert row["bank_ref"] == "AAAASESS-FP-CN_98765/01"
    assert row["counterparty_account"] == "NL56AGDH9619008421"  # DbtrAcct
    assert row["counterparty_name"] == "NAME NAME"  # Dbtr/Nm, not Cdtr's "Company Name"
    # No Ustrd: the structured creditor reference is the remittance information.
    assert row["description"] == "4654654654654654"


def test_version_8_reads_the_party_inside_pty_and_the_day_of_a_booking_datetime():
    row = only_row(parse_camt053(sample("genkgo__camt053.v8.xml")))

    assert row["counterparty_name"] == "NAME NAME"  # Dbtr/Pty/Nm
    assert row["booking_date"] == pd.Timestamp("2014-12-31")  # DtTm 2014-12-31T13:15:00+01:00
    assert row["value_date"] == pd.Timestamp("2015-01-02")
    assert row["amount"] == 885


def test_a_statement_without_entries_is_an_empty_frame_of_the_canonical_columns():
    frame = parse_camt053(sample("genkgo__camt53.only-Dt-with-DtTm.xml"))

    assert frame.empty
    assert list(frame.columns) == list(BANK_COLUMNS)
    assert frame.dtypes.astype(str).tolist() == [
        str(pd.Series(dtype=dtype).dtype) for dtype in BANK_COLUMNS.values()
    ]


def test_every_sample_is_read_whatever_its_namespace_version():
    namespaces = {
        name: ET.fromstring(sample(name)).tag.partition("}")[0][1:]  # noqa: S314 (our file)
        for name in ("genkgo__camt053.v2.five.decimals.xml", "genkgo__camt053.v8.xml")
    }

    assert namespaces["genkgo__camt053.v2.five.decimals.xml"].endswith("camt.053.001.02")
    assert namespaces["genkgo__camt053.v8.xml"].endswith("camt.053.001.08")
    for name in namespaces:
        assert parse_camt053(sample(name))["amount"].tolist() == [885]


# -- errors -----------------------------------------------------------------------------


def test_an_amount_with_a_third_significant_decimal_names_its_amt_line_and_path():
    content = sample("genkgo__camt053.v2.five.decimals.xml").replace(
        b'<Amt Ccy="EUR">8.850</Amt>', b'<Amt Ccy="EUR">8.855</Amt>'
    )

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(content)

    assert caught.value.line == 62  # <Amt>, in the <Ntry> of line 61
    assert caught.value.problem == "Stmt[1]/Ntry[1]/Amt '8.855' has more than 2 decimals"


def test_xml_that_is_not_well_formed_names_the_line_where_it_breaks():
    lines = sample("genkgo__camt053.v4.xml").split(b"\n")
    broken = next(n for n, line in enumerate(lines) if b"</BookgDt>" in line)
    lines[broken] = lines[broken].replace(b"</BookgDt>", b"</BookingDate>")

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(b"\n".join(lines))

    assert caught.value.line == broken + 1 == 116
    assert "not well-formed XML: mismatched tag" in caught.value.problem


def test_a_file_cut_short_names_its_last_line():
    lines = sample("genkgo__camt053.v4.xml").split(b"\n")

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(b"\n".join(lines[:120]))  # stops inside the first entry

    assert caught.value.line == 120
    assert "no element found" in caught.value.problem


def test_an_unknown_credit_debit_mark_and_an_impossible_date_are_refused_on_their_element():
    v2 = sample("genkgo__camt053.v2.five.decimals.xml")

    with pytest.raises(StatementInvalid, match=r"^line 63: Stmt\[1\]/Ntry\[1\]/CdtDbtInd 'CRED'"):
        parse_camt053(
            v2.replace(b"CRDT</CdtDbtInd>\n                <RvslInd>", b"CRED</CdtDbtInd><RvslInd>")
        )
    with pytest.raises(
        StatementInvalid, match=r"^line 70: Stmt\[1\]/Ntry\[1\]/ValDt/Dt '2015-02-30' is not"
    ):
        parse_camt053(v2.replace(b"<Dt>2015-01-02</Dt>", b"<Dt>2015-02-30</Dt>"))


def test_a_document_type_definition_is_refused_before_parsing():
    content = sample("genkgo__camt053.v4.xml").replace(
        b'<?xml version="1.0" encoding="UTF-8"?>\n',
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE Document [<!ENTITY x "y">]>\n',
    )

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(content)

    assert (caught.value.line, caught.value.problem) == (2, "a DTD is not allowed")


def test_another_iso_message_is_not_taken_for_a_statement():
    content = sample("genkgo__camt053.v4.xml").replace(b"BkToCstmrStmt>", b"BkToCstmrDbtCdtNtfctn>")

    with pytest.raises(StatementInvalid, match=r"not a camt\.053 statement"):
        parse_camt053(content)


def test_an_error_names_the_element_at_fault_in_whichever_statement_and_entry():
    v2 = sample("genkgo__camt053.v2.five.decimals.xml")
    statement = re.search(rb"<Stmt>.*</Stmt>", v2, re.S).group(0)
    two = v2.replace(b"</Stmt>", b"</Stmt>\n" + statement.replace(b">8.850<", b">1.005<"), 1)
    second = next(n for n, line in enumerate(two.split(b"\n"), 1) if b">1.005<" in line)

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(two)

    assert (caught.value.line, caught.value.problem) == (
        second,
        "Stmt[2]/Ntry[1]/Amt '1.005' has more than 2 decimals",
    )
    without_amount = v2.replace(b'<Amt Ccy="EUR">8.850</Amt>', b"")
    with pytest.raises(StatementInvalid, match=r"^line 61: Stmt\[1\]/Ntry\[1\] has no Amt$"):
        parse_camt053(without_amount)
    without_currency = v2.replace(b'<Amt Ccy="EUR">8.850</Amt>', b"<Amt>8.85</Amt>").replace(
        b"<Ccy>EUR</Ccy>", b""
    )
    with pytest.raises(StatementInvalid, match=r"^line 62: Stmt\[1\]/Ntry\[1\]/Amt has no Ccy"):
        parse_camt053(without_currency)
    bad_booking_time = sample("genkgo__camt053.v8.xml").replace(
        b"<DtTm>2014-12-31", b"<DtTm>2014-13-31"
    )
    with pytest.raises(
        StatementInvalid, match=r"^line 117: Stmt\[1\]/Ntry\[1\]/BookgDt/DtTm '2014-13-31' is not"
    ):
        parse_camt053(bad_booking_time)


# -- encodings --------------------------------------------------------------------------

# The version 8 sample with Chinese names, as a Chinese bank would name the parties.
CHINESE = (
    sample("genkgo__camt053.v8.xml")
    .decode()
    .replace("NAME NAME", "杭州市财政局非税收入汇缴结算户")
    .replace("Company Name", "支付宝（中国）网络技术有限公司")
)


@pytest.mark.parametrize("encoding", ["GBK", "GB18030", "gb2312"])
def test_a_document_in_the_chinese_encoding_it_declares_is_read_by_it(encoding):
    content = CHINESE.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(encoding)

    row = only_row(parse_camt053(content))

    assert row == only_row(parse_camt053(CHINESE.encode()))
    assert row["counterparty_name"] == "杭州市财政局非税收入汇缴结算户"
    assert row["line_no"] == 110


def test_a_document_whose_bytes_are_not_in_the_declared_encoding_is_refused_on_their_line():
    declared = CHINESE.replace('encoding="UTF-8"', 'encoding="GBK"')
    name_line = next(n for n, line in enumerate(declared.split("\n"), 1) if "杭州" in line)

    # UTF-8 bytes under a GBK declaration: GBK would decode them, as other characters.
    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(declared.encode())
    assert (caught.value.line, caught.value.problem) == (
        name_line,
        "GBK is declared but the text is UTF-8",
    )
    # A GBK name cut in the middle of a character.
    cut = declared.encode("gbk").replace("户</Nm>".encode("gbk"), "户".encode("gbk")[:1] + b"</Nm>")
    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(cut)
    assert caught.value.line == name_line
    assert caught.value.problem.startswith("not GBK text, as declared")


def test_an_encoding_python_does_not_know_is_refused_as_a_statement_error():
    content = sample("genkgo__camt053.v8.xml").replace(b'encoding="UTF-8"', b'encoding="X-UNKNOWN"')

    with pytest.raises(StatementInvalid, match=r"^line 1: the declared encoding 'X-UNKNOWN'"):
        parse_camt053(content)


# -- entries without a date of their own ---------------------------------------------------

# A valid camt.053.001.08: its entry has neither BookgDt nor ValDt (both optional).
UNDATED = re.sub(rb"\s*<BookgDt>.*?</ValDt>", b"", sample("genkgo__camt053.v8.xml"), flags=re.S)


def test_an_entry_without_dates_is_on_its_statements_closing_booked_balance_date():
    row = only_row(parse_camt053(UNDATED))

    # CLBD's <Dt> is 2014-12-30; not FrToDt's 2007-10-18, nor CreDtTm's 2015-03-10.
    assert row["booking_date"] == row["value_date"] == pd.Timestamp("2014-12-30")
    assert row["line_no"] == 110 and row["amount"] == 885


def test_without_a_closing_booked_balance_the_entry_is_on_a_one_day_period():
    no_closing = UNDATED.replace(b"<Cd>CLBD</Cd>", b"<Cd>ITBD</Cd>")

    row = only_row(parse_camt053(no_closing))

    assert row["booking_date"] == row["value_date"] == pd.Timestamp("2007-10-18")  # FrToDt


def test_an_undated_entry_of_a_statement_of_several_days_is_refused_not_dated_by_guess():
    several_days = UNDATED.replace(b"<ToDtTm>2007-10-18", b"<ToDtTm>2007-10-19")

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(several_days)

    assert caught.value.line == 110
    assert caught.value.problem == (
        "Stmt[1]/Ntry[1] has neither BookgDt nor ValDt, and its statement's FrToDt is "
        "2007-10-18 to 2007-10-19, not one day"
    )


def test_a_bad_closing_balance_date_taken_for_an_entry_is_named_where_it_is_written():
    lines = UNDATED.split(b"\n")
    closing = next(n for n, line in enumerate(lines) if b"<Cd>CLBD</Cd>" in line)
    date_line = next(n for n in range(closing, len(lines)) if b"<Dt>2014-12-30</Dt>" in lines[n])
    lines[date_line] = lines[date_line].replace(b"2014-12-30", b"2014-12-32")

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(b"\n".join(lines))

    assert caught.value.line == date_line + 1
    assert caught.value.problem.startswith("Stmt[1]/Bal[2]/Dt/Dt '2014-12-32' is not a valid date")


def test_a_version_8_document_with_a_namespace_prefix_reads_as_without():
    prefixed = (
        sample("genkgo__camt053.v8.xml")
        .replace(b'<Document xmlns="', b'<camt:Document xmlns:camt="')
        .replace(b"</Document>", b"</camt:Document>")
    )
    prefixed = re.sub(rb"<(?!/?camt:|\?)(/?)", rb"<\1camt:", prefixed)
    assert b"<camt:Ntry>" in prefixed and b"camt.053.001.08" in prefixed

    frame = parse_camt053(prefixed)

    assert frame.equals(parse_camt053(sample("genkgo__camt053.v8.xml")))


# -- the writer -------------------------------------------------------------------------


def entries_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["value_date"] = pd.to_datetime(frame["value_date"])
    frame["booking_date"] = pd.to_datetime(frame["booking_date"])
    return frame


def test_a_written_statement_reads_back_with_every_field_and_its_balances():
    entries = entries_frame(
        [
            {
                "amount": 1234567,
                "value_date": "2026-03-02",
                "booking_date": "2026-03-01",
                "bank_ref": "SBX0000000000001",
                "counterparty_account": "3301040160000000001",
                "counterparty_name": "支付宝（中国）网络技术有限公司",
                "description": "清算 <po_1> & <po_2>",
            },
            {
                "amount": -350,
                "value_date": "2026-03-01",
                "booking_date": "2026-03-01",
                "bank_ref": "SBX0000000000002",
                "counterparty_account": "",
                "counterparty_name": "",
                "description": "",
            },
        ]
    )

    content = render_camt053(entries, "1202020209000012345", date(2026, 3, 1), opening_balance=-100)
    frame = parse_camt053(content)

    assert frame.drop(columns="line_no").to_dict("records") == [
        {
            "account": "1202020209000012345",
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-02"),
            "amount": 1234567,
            "currency": "CNY",
            "bank_ref": "SBX0000000000001",
            "counterparty_account": "3301040160000000001",
            "counterparty_name": "支付宝（中国）网络技术有限公司",
            "description": "清算 <po_1> & <po_2>",
        },
        {
            "account": "1202020209000012345",
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-01"),
            "amount": -350,
            "currency": "CNY",
            "bank_ref": "SBX0000000000002",
            "counterparty_account": "",
            "counterparty_name": "",
            "description": "",
        },
    ]
    lines = content.decode().split("\n")
    assert [lines[n - 1].strip() for n in frame["line_no"]] == ["<Ntry>", "<Ntry>"]
    balances = {
        bal.findtext(".//{*}Cd"): (bal.findtext("{*}Amt"), bal.findtext("{*}CdtDbtInd"))
        for bal in ET.fromstring(content).iterfind(".//{*}Bal")  # noqa: S314 (our file)
    }
    assert balances == {"OPBD": ("1.00", "DBIT"), "CLBD": ("12341.17", "CRDT")}


def test_a_description_longer_than_one_remittance_line_is_refused():
    entry = {"amount": 1, "value_date": "2026-03-01", "booking_date": "2026-03-01"}
    entries = entries_frame([{**entry, "description": "x" * 141}])

    with pytest.raises(ValueError, match="140"):
        render_camt053(entries, "1", date(2026, 3, 1))


text = st.text(
    st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\x85\xa0\u2028\u2029"),
    max_size=40,
).map(str.strip)
entry = st.fixed_dictionaries(
    {
        "amount": st.integers(-(10**13), 10**13),
        "value_date": st.dates(date(2000, 1, 1), date(2099, 12, 31)),
        "booking_date": st.dates(date(2000, 1, 1), date(2099, 12, 31)),
        "bank_ref": st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-/", max_size=35),
        "counterparty_account": st.text("0123456789", max_size=30),
        "counterparty_name": text,
        "description": text,
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(entry, max_size=12))
def test_any_frame_written_reads_back_the_same(rows):
    entries = entries_frame(rows) if rows else pd.DataFrame(columns=["amount", "value_date"])

    frame = parse_camt053(render_camt053(entries, "1202020209000012345", date(2026, 3, 1)))

    assert len(frame) == len(rows)
    if rows:
        expected = entries.assign(account="1202020209000012345", currency="CNY")
        for column in BANK_COLUMNS:
            if column != "line_no":
                assert frame[column].tolist() == expected[column].tolist(), column
