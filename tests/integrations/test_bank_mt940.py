"""MT940 statements: real banks' files with their quirks, errors by line, and the writer."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import mt940
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.banks.formats.mt940 import parse_mt940
from integrations.statements import BANK_COLUMNS, StatementInvalid
from sandboxes.banks.mt940 import render_mt940

FIXTURES = Path(__file__).parents[1] / "fixtures" / "banks"


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_mbank_file_starting_with_a_control_byte_reads_its_three_entries():
    content = sample("wolph__mBank__mt940.sta")
    assert content.startswith(b"\x01\n")

    frame = parse_mt940(content)

    assert frame["line_no"].tolist() == [6, 12, 18]
    assert frame["amount"].tolist() == [1, 1, 1]  # C 0,01 PLN each
    assert set(frame["account"]) == {"PL29114010810000267002001002"}
    assert set(frame["currency"]) == {"PLN"}
    assert set(frame["booking_date"]) == {pd.Timestamp("2017-01-19")}
    assert frame["bank_ref"].tolist() == ["MB170119012058", "MB170119012085", "MB170119012121"]
    assert frame["description"][0] == (
        "911 TRANSAKCJA COLLECT; ID IPH: XX000000000001; Z RACH.:\n"
        "56114010810000267002001001; OD: JAN NOWAK\n"
        "UL. NIJAKA 1 M 2 31-234 KRAKOW; TYT.: PRZELEW SRODKOW   ;\n"
        "TNR: 179171073864111.010001"
    )


def test_a_code_page_852_file_is_read_as_such_when_it_is_not_utf8():
    frame = parse_mt940(sample("wolph__self-provided__raiffeisen-cmi.sta"))

    assert len(frame) == 7
    assert frame["account"][0] == "UBRTHUHB/123456789150ABCDEF002/HUF"
    assert frame["currency"][0] == "HUF"
    assert frame["amount"][:3].tolist() == [206663700, -1479000, -305180000]
    assert frame["line_no"][:3].tolist() == [6, 13, 19]
    assert "UV, napi összevont utánvét, 2018.04" in frame["description"][0]


def test_february_30th_is_an_error_on_its_line_not_moved_to_the_end_of_the_month():
    content = sample("wolph__self-provided__february_30.sta")
    assert b"\r\n:61:1602300301DR6,00N024NONREF\r\n" in content  # line 6

    with pytest.raises(StatementInvalid) as caught:
        parse_mt940(content)

    assert caught.value.line == 6
    assert "value date '20160230' is not a valid date" in caught.value.problem
    # The mt940 library's own parser moves it to 29 February.
    assert mt940.parse(content)[0].data["date"] == date(2016, 2, 29)


def test_van_lanschot_statements_with_header_lines_between_them_keep_their_entries_apart():
    frame = parse_mt940(sample("zilverline__van_lanschot__van_lanschot.txt"))

    assert frame["line_no"].tolist() == [8, 21, 24, 37]
    assert frame["amount"].tolist() == [271676, -11100, -199300, -81675]
    assert set(frame["account"]) == {"0878787878"}  # ":25:0878787878" and trailing spaces
    assert frame["bank_ref"].tolist() == ["0130045721", "0002445588", "0002445588", "0130138568"]
    # The statement's own :86: after its closing balance, the "-XXX" end and the next
    # statement's headers are not the last entry's description.
    assert frame["description"][0] == (
        "/TRTP/SEPA Overboeking/IBAN/NL81RABO0444444444/BIC/RABONL2U/NAME/\n"
        "ABDFGEKSLJFN ASLDJDKE B.V/REMI/201400-001/EREF/333333333"
    )
    assert frame["counterparty_account"][0] == "NL81RABO0444444444"
    assert frame["counterparty_name"][0] == "ABDFGEKSLJFN ASLDJDKE B.V"


def test_old_rabobank_export_keeps_all_39_entries_with_point_decimals():
    content = sample("phpmt940__Rabo__sample.sta")
    assert content.endswith(b"\x1a")
    entry_lines = [n for n, line in enumerate(content.split(b"\n"), 1) if line.startswith(b":61:")]

    frame = parse_mt940(content)

    assert frame["line_no"].tolist() == entry_lines and len(entry_lines) == 39
    first = frame.iloc[0]
    assert (first["account"], first["amount"], first["bank_ref"]) == (
        "1017.490.554EUR",
        30000,
        "170059286",
    )
    assert first["description"] == "Demo gebruiker\nSpaarpot kantine"  # two :86: fields
    # :61:030111C000000121189.65NMSCNONREF          CHIPPER FOODS
    chipper = frame[frame["account"] == "1700.59.286USD"]
    assert chipper["amount"].tolist()[-1] == 12118965
    assert set(frame["currency"]) == {"EUR", "USD", "JPY"}
    # The mt940 library reads the amount's "." as the end of the number and loses entries.
    assert sum(len(statement) for statement in mt940.parse_statements(content)) == 10


def test_asn_bank_envelopes_and_an_iban_as_customer_reference():
    frame = parse_mt940(sample("wolph__ASNB__0708271685_09022020_164516.940.txt"))

    assert len(frame) == 8
    first = frame.iloc[0]
    assert first["line_no"] == 6
    assert first["amount"] == -6500  # :61:2001010101D65,00NOVBNL47INGB9999999999
    assert first["bank_ref"] == "NL47INGB9999999999"
    assert first["description"] == "NL47INGB9999999999 hr gjlm paulissen\nBetaling sieraden"


def test_hsbc_debit_with_a_funds_code_and_a_bank_reference():
    frame = parse_mt940(sample("phpmt940__Hsbc__sample.sta"))

    assert frame[["line_no", "amount", "currency", "bank_ref"]].to_dict("records") == [
        {"line_no": 5, "amount": -2000000, "currency": "HKD", "bank_ref": "6128522200250001"}
    ]
    # The :86: after the closing balance (/OSDR/HSBCHKHH) is the statement's, not the entry's.
    assert frame["description"][0].endswith("BENEFICIARY INFO")


def test_german_subfields_wrapped_across_lines_give_the_counterparty():
    frame = parse_mt940(sample("zilverline__deutsche_bank.txt"))

    assert frame["counterparty_account"].tolist() == [
        "DE422938944551657098369",
        "DE04400694620000233025",
    ]
    assert frame["counterparty_name"].tolist() == ["PETRA TESTER", "PETER TESTER"]
    assert frame["booking_date"].tolist() == [
        pd.Timestamp("2014-03-26"),
        pd.Timestamp("2014-03-28"),
    ]
    assert frame["value_date"].tolist() == [pd.Timestamp("2014-03-25"), pd.Timestamp("2014-03-28")]
    assert frame["amount"].tolist() == [399, 1]


def test_amounts_without_decimals_and_an_entry_date_before_the_value_date():
    frame = parse_mt940(sample("wolph__jejik__abnamro.sta"))

    assert len(frame) == 10
    assert frame["amount"][0] == -900  # D9,
    second = frame.iloc[1]  # :61:1105210523D11,59N426NONREF
    assert (second["value_date"], second["booking_date"]) == (
        pd.Timestamp("2011-05-21"),
        pd.Timestamp("2011-05-23"),
    )
    assert frame["amount"].sum() == -34593


def test_structured_details_give_the_counterparty_of_every_bunq_entry():
    frame = parse_mt940(sample("phpmt940__Bunq__sample.sta"))

    assert len(frame) == 111
    assert (frame["amount"] < 0).sum() == 85
    assert frame.iloc[0][["amount", "counterparty_account", "counterparty_name"]].tolist() == [
        200,
        "NL65BUNQ2206724936",
        "P.C. Wacki",
    ]


def test_a_customer_reference_with_a_space_and_details_with_a_tab():
    frame = parse_mt940(sample("wolph__jejik__ing.sta"))

    assert frame["bank_ref"][2] == "TMG TANGO"  # :61:100722D1,11NTRFTMG TANGO
    assert frame["description"][1] == "0111111111 GPSEOUL SPOEDBETALING\tMPBZS1016000047 GPSEOUL"


def test_a_bare_nonref_is_no_reference_and_a_padded_one_stops_at_its_padding():
    penta = parse_mt940(sample("phpmt940__Penta__sample.sta"))  # :61:2009020902D20,00NONREF
    rabobank = parse_mt940(sample("wolph__jejik__rabobank.sta"))

    assert set(penta["bank_ref"]) == {""}
    assert len(penta) == 30
    # :61:110527D000000001213,28N0440121470966      W.P. Jansen
    assert rabobank.iloc[0][["amount", "bank_ref"]].tolist() == [-121328, "0121470966"]


def test_a_swift_envelope_and_a_statement_number_the_library_cannot_read():
    content = sample("phpmt940__Zetb__sample.sta")

    frame = parse_mt940(content)

    assert len(frame) == 8
    assert frame.iloc[0][["account", "amount", "currency", "bank_ref"]].tolist() == [
        "1014365930",
        22000000,
        "NGN",
        "19239782213",
    ]
    with pytest.raises(RuntimeError):
        mt940.parse(content)  # ":28C: /1"


def test_a_statement_without_entries_is_an_empty_frame():
    frame = parse_mt940(sample("zilverline__knab__knab_empty.txt"))

    assert frame.empty and list(frame.columns) == list(BANK_COLUMNS)


AGREES_WITH_THE_LIBRARY = (
    "wolph__mBank__mt940.sta",
    "wolph__self-provided__raiffeisen-cmi.sta",
    "phpmt940__Hsbc__sample.sta",
    "zilverline__deutsche_bank.txt",
    "wolph__jejik__abnamro.sta",
    "phpmt940__Bunq__sample.sta",
    "wolph__jejik__ing.sta",
    "wolph__jejik__postfinance.sta",
    "wolph__betterplace__sepa_snippet.sta",
)


@pytest.mark.parametrize("name", AGREES_WITH_THE_LIBRARY)
def test_amounts_and_dates_agree_with_the_mt940_library(name):
    content = sample(name)
    ours = parse_mt940(content)

    theirs = [t for statement in mt940.parse_statements(content) for t in statement]

    assert ours["amount"].tolist() == [int(t.data["amount"].amount * 100) for t in theirs]
    assert all(t.data["amount"].amount * 100 % 1 == Decimal(0) for t in theirs)
    assert ours["value_date"].dt.date.tolist() == [t.data["date"] for t in theirs]
    assert ours["currency"].tolist() == [t.data["currency"] for t in theirs]


# -- errors -----------------------------------------------------------------------------

STATEMENT = (
    ":20:REF\n:25:1202020209000012345\n:28C:1/1\n:60F:C260301CNY0,00\n"
    "{entries}:62F:C260301CNY0,00\n-\n"
)


def test_a_statement_line_that_is_not_one_names_its_line():
    content = STATEMENT.format(entries=":61:2603010301C1,00NTRF\n:61:26030X0301C1,00NTRF\n")

    with pytest.raises(StatementInvalid) as caught:
        parse_mt940(content.encode())

    assert caught.value.line == 6
    assert "'26030X0301C1,00NTRF' is not a statement line" in caught.value.problem


def test_an_amount_with_two_decimal_marks_or_three_decimals_names_its_line():
    with pytest.raises(StatementInvalid, match=r"line 5: :61: amount '1,2,3NTRF' is not an amount"):
        parse_mt940(STATEMENT.format(entries=":61:2603010301C1,2,3NTRF\n").encode())
    with pytest.raises(StatementInvalid, match=r"line 5: :61: amount '1,234' has more than 2"):
        parse_mt940(STATEMENT.format(entries=":61:2603010301C1,234NTRF\n").encode())


def test_an_impossible_entry_date_names_its_line():
    with pytest.raises(StatementInvalid, match=r"line 5: :61: entry date '1332'"):
        parse_mt940(STATEMENT.format(entries=":61:2603011332C1,00NTRF\n").encode())


def test_a_file_cut_before_its_closing_balance_is_refused():
    content = STATEMENT.format(entries=":61:2603010301C1,00NTRF\n:86:first\n").split(":62F:")[0]

    with pytest.raises(StatementInvalid) as caught:
        parse_mt940(content.encode())

    assert caught.value.line == 6  # the last field of the unfinished statement
    assert "no closing balance" in caught.value.problem


def test_a_file_without_a_statement_is_refused():
    with pytest.raises(StatementInvalid, match="no MT940 statement"):
        parse_mt940(b"<Document/>\n")


def test_a_named_encoding_is_used_and_a_wrong_one_names_the_line():
    content = STATEMENT.format(entries=":61:2603010301C1,00NTRF//B1\n:86:/REMI/支付宝清算\n")

    frame = parse_mt940(content.encode("gb18030"), encoding="gb18030")

    assert frame["description"].tolist() == ["/REMI/支付宝清算"]
    with pytest.raises(StatementInvalid, match=r"line 6: not gb18030 text"):
        parse_mt940(
            content.replace("支付宝", "\udcff").encode("utf-8", "surrogateescape"),
            encoding="gb18030",
        )


def test_reversals_are_signed_by_what_they_do_to_the_balance():
    entries = ":61:2603010301RC5,00NTRF\n:61:2603010301RD7,00NTRF\n"

    frame = parse_mt940(STATEMENT.format(entries=entries).encode())

    assert frame["amount"].tolist() == [-500, 700]  # reversal of a credit takes money out


# -- the writer -------------------------------------------------------------------------


def test_a_written_statement_reads_back_with_the_counterparty_in_its_details():
    entries = pd.DataFrame(
        {
            "amount": [1234567, -350],
            "value_date": pd.to_datetime(["2026-03-02", "2026-02-28"]),
            "booking_date": pd.to_datetime(["2026-03-01", "2026-03-01"]),
            "bank_ref": ["SBX0000000000001", "SBX0000000000002"],
            "counterparty_account": ["3301040160000000001", ""],
            "counterparty_name": ["支付宝（中国）网络技术有限公司", ""],
            "description": ["清算 po_1", ""],
        }
    )

    content = render_mt940(entries, "1202020209000012345", date(2026, 3, 1), opening_balance=-100)
    frame = parse_mt940(content)

    assert content.decode().startswith(
        ":20:STMT20260301\n:25:1202020209000012345\n:28C:00060/1\n:60F:D260301CNY1,00\n"
    )
    assert content.decode().endswith(":62F:C260301CNY12341,17\n-\n")
    assert frame.drop(columns=["line_no", "description"]).to_dict("records") == [
        {
            "account": "1202020209000012345",
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-02"),
            "amount": 1234567,
            "currency": "CNY",
            "bank_ref": "SBX0000000000001",
            "counterparty_account": "3301040160000000001",
            "counterparty_name": "支付宝（中国）网络技术有限公司",
        },
        {
            "account": "1202020209000012345",
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-02-28"),
            "amount": -350,
            "currency": "CNY",
            "bank_ref": "SBX0000000000002",
            "counterparty_account": "",
            "counterparty_name": "",
        },
    ]
    assert frame["description"].tolist() == [
        "/CNTP/3301040160000000001//支付宝（中国）网络技术有限公司///REMI/清算 po_1",
        "",
    ]


word = st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=16)
name = st.text(st.characters(categories=("L", "N")), max_size=30)
entry = st.fixed_dictionaries(
    {
        "amount": st.integers(-(10**13), 10**13),
        "value_date": st.dates(date(2000, 1, 2), date(2099, 12, 30)),
        "shift": st.integers(-40, 40),
        "bank_ref": word,
        "counterparty_account": st.text("0123456789", max_size=30),
        "counterparty_name": name,
        "description": st.text(st.characters(categories=("L", "N")), max_size=140),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(entry, min_size=1, max_size=12))
def test_any_frame_written_reads_back_the_same(rows):
    entries = pd.DataFrame(rows)
    entries["value_date"] = pd.to_datetime(entries["value_date"])
    entries["booking_date"] = entries["value_date"] + pd.to_timedelta(
        entries.pop("shift"), unit="D"
    )

    frame = parse_mt940(render_mt940(entries, "1202020209000012345", date(2026, 3, 1)))

    for column in ("amount", "value_date", "booking_date", "bank_ref", "counterparty_account"):
        assert frame[column].tolist() == entries[column].tolist(), column
    assert (
        frame["counterparty_name"].tolist()
        == entries["counterparty_name"]
        .where((entries["counterparty_name"] != "") | (entries["counterparty_account"] != ""), "")
        .tolist()
    )
    remittance = frame["description"].str.replace("\n", "").str.partition("/REMI/")[2]
    assert remittance.tolist() == entries["description"].tolist()
