"""The sandbox bank's own statements: camt.053.001.02, MT940 and its CSV exports, each
checked against its standard's shape, and the bank's entries across a restart."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree as ET

import pandas as pd
import pytest

from sandboxes import state
from sandboxes.banks import camt053, csv_layouts, mt940

DAY = date(2026, 3, 1)
ACCOUNT = "1202020209000012345"
ENTRIES = pd.DataFrame(
    {
        "amount": [1234567, -350],
        "value_date": pd.to_datetime(["2026-03-02", "2026-03-01"]),
        "booking_date": pd.to_datetime(["2026-03-01", "2026-03-01"]),
        "bank_ref": ["SBX0000000000001", ""],
        "counterparty_account": ["3301040160000000001", ""],
        "counterparty_name": ["支付宝（中国）网络技术有限公司", ""],
        "description": ["清算 <po_1> & <po_2>", "手续费"],
    }
)

# The order of the elements the bank writes, from camt.053.001.02's message definition.
STATEMENT_ORDER = ["Id", "ElctrncSeqNb", "LglSeqNb", "CreDtTm", "FrToDt", "CpyDplctInd"]
STATEMENT_ORDER += ["RptgSrc", "Acct", "RltdAcct", "Intrst", "Bal", "TxsSummry", "Ntry"]
ENTRY_ORDER = ["NtryRef", "Amt", "CdtDbtInd", "RvslInd", "Sts", "BookgDt", "ValDt"]
ENTRY_ORDER += ["AcctSvcrRef", "Avlbty", "BkTxCd", "ComssnWvrInd", "AddtlInfInd", "AmtDtls"]
ENTRY_ORDER += ["Chrgs", "TechInptChanl", "Intrst", "NtryDtls", "AddtlNtryInf"]


def local_names(element: ET.Element) -> list[str]:
    return [child.tag.rpartition("}")[2] for child in element]


def in_order(names: list[str], order: list[str]) -> bool:
    positions = [order.index(name) for name in names]
    return positions == sorted(positions)


def test_a_camt053_statement_is_version_02_in_the_definitions_order():
    root = ET.fromstring(camt053.render_camt053(ENTRIES, ACCOUNT, DAY, opening_balance=-100))  # noqa: S314
    ns = {"c": camt053.NAMESPACE}

    assert root.tag == f"{{{camt053.NAMESPACE}}}Document"
    statement = root.find("c:BkToCstmrStmt/c:Stmt", ns)
    assert in_order(local_names(statement), STATEMENT_ORDER)
    entries = statement.findall("c:Ntry", ns)
    assert all(in_order(local_names(entry), ENTRY_ORDER) for entry in entries)
    assert [entry.findtext("c:Sts", namespaces=ns) for entry in entries] == ["BOOK", "BOOK"]
    credit = entries[0].find("c:NtryDtls/c:TxDtls", ns)
    assert (
        credit.findtext("c:RltdPties/c:Dbtr/c:Nm", namespaces=ns)
        == "支付宝（中国）网络技术有限公司"
    )
    assert credit.findtext("c:RmtInf/c:Ustrd", namespaces=ns) == "清算 <po_1> & <po_2>"
    balances = {
        balance.findtext("c:Tp/c:CdOrPrtry/c:Cd", namespaces=ns): (
            balance.findtext("c:Amt", namespaces=ns),
            balance.findtext("c:CdtDbtInd", namespaces=ns),
        )
        for balance in statement.findall("c:Bal", ns)
    }
    assert balances == {"OPBD": ("1.00", "DBIT"), "CLBD": ("12341.17", "CRDT")}


@pytest.mark.parametrize(
    ("column", "limit"),
    [("description", 140), ("counterparty_name", 140), ("counterparty_account", 34)],
)
def test_a_camt053_text_longer_than_its_definition_allows_is_refused(column, limit):
    entries = ENTRIES.assign(**{column: "x" * (limit + 1)})
    with pytest.raises(ValueError, match=str(limit)):
        camt053.render_camt053(entries, ACCOUNT, DAY)


# The MT940 fields the bank writes, in SWIFT's grammar (15d: 15 characters with the comma).
AMOUNT = r"\d{1,12},\d{0,2}"
FIELDS = {
    "20": r"[^\n]{1,16}",
    "25": r"[^\n]{1,35}",
    "28C": r"\d{1,5}(/\d{1,5})?",
    "60F": rf"[CD]\d{{6}}[A-Z]{{3}}{AMOUNT}",
    "62F": rf"[CD]\d{{6}}[A-Z]{{3}}{AMOUNT}",
    "61": rf"\d{{6}}(\d{{4}})?R?[CD][A-Z]?{AMOUNT}[A-Z][A-Z0-9]{{3}}"
    r"[^\n]{1,16}(//[^\n]{1,16})?",
    "86": r"[^\n]{1,65}(\n[^\n:][^\n]{0,64}){0,5}",
}


def test_every_mt940_field_follows_its_grammar():
    text = mt940.render_mt940(ENTRIES, ACCOUNT, DAY, opening_balance=-100).decode()

    assert text.endswith("\n-\n")
    fields = re.findall(r"^:(\w+):(.*?)(?=\n:|\n-\n)", text, flags=re.M | re.S)
    assert [tag for tag, _ in fields] == ["20", "25", "28C", "60F", "61", "86", "61", "86", "62F"]
    for tag, content in fields:
        assert re.fullmatch(FIELDS[tag], content), (tag, content)
    assert ":61:2603020301C12345,67NTRFNONREF//SBX0000000000001\n" in text


def test_an_mt940_reference_longer_than_16x_is_refused():
    with pytest.raises(ValueError, match="16"):
        mt940.render_mt940(ENTRIES.assign(bank_ref="R" * 17), ACCOUNT, DAY)


def test_the_icbc_example_export_is_gb18030_with_split_columns_and_thousands():
    text = csv_layouts.render_csv(ENTRIES, ACCOUNT, DAY, "icbc_example").decode("gb18030")

    assert text.splitlines() == [
        "中国工商银行账户历史明细（示例格式）",
        f"账号：{ACCOUNT},起止日期：2026-03-01",
        "凭证号,对方账号,交易时间,借方发生额,贷方发生额,摘要,对方单位名称",
        'SBX0000000000001,3301040160000000001,2026-03-01 00:00:00,,"12,345.67",'
        "清算 <po_1> & <po_2>,支付宝（中国）网络技术有限公司",
        ",,2026-03-01 00:00:00,3.50,,手续费,",
    ]


def test_the_ccb_example_export_marks_debits_and_credits():
    text = csv_layouts.render_csv(ENTRIES, ACCOUNT, DAY, "ccb_example").decode("utf-8")

    assert text.splitlines()[1:] == [
        f"{ACCOUNT},20260301,20260302,贷,12345.67,人民币,支付宝（中国）网络技术有限公司,"
        "3301040160000000001,清算 <po_1> & <po_2>,SBX0000000000001",
        f"{ACCOUNT},20260301,20260301,借,3.50,人民币,,,手续费,",
    ]


# -- the bank's entries -------------------------------------------------------------------

SANDBOX = "/sandbox/banks"


def test_a_restarted_bank_still_holds_its_entries_and_a_reset_forgets_them(
    client, settings, tmp_path
):
    settings.SANDBOX_STATE_DIR = tmp_path
    settings.SANDBOX_BANKS = {"accounts": [ACCOUNT], "hold_until_day_ends": False}
    client.post(f"{SANDBOX}/_control/reset")
    entry = {"amount": 700, "value_date": "2026-03-01", "description": "清算"}
    client.post(f"{SANDBOX}/_control/accounts/{ACCOUNT}/entries", entry, "application/json")

    restarted = state.Store("bank-entries")

    [kept] = restarted.values()
    assert (kept["account"], kept["amount"], kept["bank_ref"]) == (ACCOUNT, 700, "SBX0000000000001")
    assert client.post(f"{SANDBOX}/_control/reset").status_code == 200
    assert len(state.Store("bank-entries")) == 0
