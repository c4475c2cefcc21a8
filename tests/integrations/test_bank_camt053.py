"""camt.053 statements: real files of three versions, errors by line, and the writer."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.banks.camt053 import parse_camt053, render_camt053
from integrations.statements import BANK_COLUMNS, StatementInvalid

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


def test_an_amount_with_a_third_significant_decimal_names_its_entry_line():
    content = sample("genkgo__camt053.v2.five.decimals.xml").replace(
        b'<Amt Ccy="EUR">8.850</Amt>', b'<Amt Ccy="EUR">8.855</Amt>'
    )

    with pytest.raises(StatementInvalid) as caught:
        parse_camt053(content)

    assert caught.value.line == 61
    assert "more than 2 decimals" in caught.value.problem and "8.855" in caught.value.problem


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


def test_an_unknown_credit_debit_mark_and_an_impossible_date_are_refused_on_their_entry():
    v2 = sample("genkgo__camt053.v2.five.decimals.xml")

    with pytest.raises(StatementInvalid, match=r"line 61: Ntry/CdtDbtInd 'CRED'"):
        parse_camt053(
            v2.replace(b"CRDT</CdtDbtInd>\n                <RvslInd>", b"CRED</CdtDbtInd><RvslInd>")
        )
    with pytest.raises(StatementInvalid, match=r"line 61: Ntry/ValDt '2015-02-30'"):
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
