"""The bank's end-of-day statement as ISO 20022 camt.053.001.02 (BkToCstmrStmt).

Written to the message definition of camt.053.001.02, the version the sample statements
in tests/fixtures/banks carry: one ``Stmt`` per file with the account as ``Acct/Id/Othr/Id``,
its opening (``OPBD``) and closing (``CLBD``) booked balances, and one ``Ntry`` per entry
in the order given, booked (``Sts`` ``BOOK``), with ``BookgDt``/``ValDt``, the bank's
reference as ``AcctSvcrRef``, a bank transaction code (``PMNT`` / ``RCDT`` for a credit,
``ICDT`` for a debit) and, when there is one, the other party (``Dbtr``/``DbtrAcct`` of a
credit, ``Cdtr``/``CdtrAcct`` of a debit) and the remittance line (``RmtInf/Ustrd``).
"""

from __future__ import annotations

from datetime import date, timedelta
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sandboxes.banks import columns

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
# The longest texts the message definition allows.
MAX_REMITTANCE = 140  # RmtInf/Ustrd, Max140Text
MAX_NAME = 140  # Nm, Max140Text
MAX_ACCOUNT = 34  # Othr/Id, Max34Text
MAX_REFERENCE = 35  # AcctSvcrRef, Max35Text


def _xml(texts: pa.Array) -> pa.Array:
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        texts = pc.replace_substring(texts, raw, entity)
    return texts


def _checked(entries: pd.DataFrame) -> dict[str, pa.Array]:
    """The entries' texts; ValueError for one longer than the message definition allows."""
    limits = {
        "bank_ref": MAX_REFERENCE,
        "counterparty_account": MAX_ACCOUNT,
        "counterparty_name": MAX_NAME,
        "description": MAX_REMITTANCE,
    }
    texts = {name: columns.text(entries, name) for name in limits}
    for name, limit in limits.items():
        if columns.longest(texts[name]) > limit:
            raise ValueError(f"a {name} is longer than {limit} characters")
    return {name: _xml(value) for name, value in texts.items()}


def render_camt053(
    entries: pd.DataFrame,
    account: str,
    business_date: date,
    *,
    opening_balance: int = 0,
    currency: str = "CNY",
) -> bytes:
    """The statement of ``account`` for ``business_date`` holding these entries (UTF-8).

    The closing balance is ``opening_balance`` (fen) plus the entries.
    """
    amount = columns.fen(entries)
    credit = amount >= 0
    text = _checked(entries)
    name, party_account = text["counterparty_name"], text["counterparty_account"]
    has_name, has_account = columns.given(name), columns.given(party_account)
    has_party = pc.or_(has_name, has_account)
    has_remittance = columns.given(text["description"])
    party = columns.either(credit, "Dbtr", "Cdtr")
    related = columns.when(
        has_party,
        "\n          <RltdPties>",
        columns.when(has_name, "\n            <", party, "><Nm>", name, "</Nm></", party, ">"),
        columns.when(
            has_account,
            "\n            <",
            party,
            "Acct><Id><Othr><Id>",
            party_account,
            "</Id></Othr></Id></",
            party,
            "Acct>",
        ),
        "\n          </RltdPties>",
    )
    entry = columns.concat(
        '    <Ntry>\n      <Amt Ccy="',
        _xml(columns.text(entries, "currency", currency)),
        '">',
        columns.units(amount),
        "</Amt>\n      <CdtDbtInd>",
        columns.either(credit, "CRDT", "DBIT"),
        "</CdtDbtInd>\n      <Sts>BOOK</Sts>\n      <BookgDt><Dt>",
        columns.day(entries, "booking_date", "%Y-%m-%d"),
        "</Dt></BookgDt>\n      <ValDt><Dt>",
        columns.day(entries, "value_date", "%Y-%m-%d"),
        "</Dt></ValDt>",
        columns.when(
            columns.given(text["bank_ref"]),
            "\n      <AcctSvcrRef>",
            text["bank_ref"],
            "</AcctSvcrRef>",
        ),
        "\n      <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>",
        columns.either(credit, "RCDT", "ICDT"),
        "</Cd><SubFmlyCd>OTHR</SubFmlyCd></Fmly></Domn></BkTxCd>",
        columns.when(
            pc.or_(has_party, has_remittance),
            "\n      <NtryDtls>\n        <TxDtls>",
            related,
            columns.when(
                has_remittance,
                "\n          <RmtInf><Ustrd>",
                text["description"],
                "</Ustrd></RmtInf>",
            ),
            "\n        </TxDtls>\n      </NtryDtls>",
        ),
        "\n    </Ntry>\n",
    )
    closing = opening_balance + int(amount.sum())
    return (
        _head(account, business_date, opening_balance, closing, currency).encode("utf-8")
        + columns.utf8(entry)
        + b"  </Stmt>\n</BkToCstmrStmt>\n</Document>\n"
    )


def _head(account: str, business_date: date, opening: int, closing: int, currency: str) -> str:
    """From the XML declaration to the balances: the statement made after its day ends."""
    day = business_date.isoformat()
    created = f"<CreDtTm>{business_date + timedelta(days=1)}T00:00:00+08:00</CreDtTm>"
    identity = escape(f"{account}-{business_date:%Y%m%d}")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{NAMESPACE}">\n<BkToCstmrStmt>\n'
        f"  <GrpHdr><MsgId>{identity}</MsgId>{created}</GrpHdr>\n"
        f"  <Stmt>\n    <Id>{identity}</Id>\n    {created}\n"
        f"    <FrToDt><FrDtTm>{day}T00:00:00+08:00</FrDtTm>"
        f"<ToDtTm>{day}T23:59:59+08:00</ToDtTm></FrToDt>\n"
        f"    <Acct><Id><Othr><Id>{escape(account)}</Id></Othr></Id><Ccy>{currency}</Ccy></Acct>\n"
        + _balance("OPBD", opening, currency, day)
        + _balance("CLBD", closing, currency, day)
    )


def _balance(code: str, fen: int, currency: str, day: str) -> str:
    amount = columns.units(np.array([fen]))[0].as_py()
    return (
        f"    <Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{amount}</Amt>'
        f"<CdtDbtInd>{'CRDT' if fen >= 0 else 'DBIT'}</CdtDbtInd>"
        f"<Dt><Dt>{day}</Dt></Dt></Bal>\n"
    )
