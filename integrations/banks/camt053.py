"""ISO 20022 camt.053 (BkToCstmrStmt, the bank-to-customer statement): reading and writing.

Any version is read (camt.053.001.02 to .001.08 and later): elements are matched by their
local name, whatever the namespace. The file is read as a stream (``iterparse``), each
statement's children are dropped once read, so memory stays flat however many entries
it has. Every ``Ntry`` becomes one BANK_COLUMNS row; what is taken from where is in
docs/banks.md.
"""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from integrations.banks import values
from integrations.statements import BANK_COLUMNS, StatementInvalid, empty, typed

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"  # the version we write
MAX_REMITTANCE = 140  # characters of one Ustrd
_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Ntry[\s/>]")
_NOT_MARKUP = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.S)
_FIELDS = (
    "amount",
    "currency",
    "mark",
    "booked",
    "valued",
    "bank_ref",
    "counterparty_account",
    "counterparty_name",
    "description",
)


def parse_camt053(content: bytes) -> pd.DataFrame:
    """The statement's entries as a BANK_COLUMNS frame, in file order.

    Raises StatementInvalid naming the line of the first bad entry, or the line where the
    XML stops being well-formed.
    """
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise StatementInvalid(_line_of(content, content.find(b"<!")), "a DTD is not allowed")
    entry_lines = _entry_lines(content)
    counted = len(entry_lines)
    rows: dict[str, list] = {name: [] for name in (*_FIELDS, "account")}
    reader = _EntryReader()
    statements, account, currency = 0, None, ""
    # Only end events: an element is complete when it ends. Each Ntry is read and emptied
    # as it ends, and each Stmt emptied as it ends, so the tree never holds the entries.
    events = ET.iterparse(io.BytesIO(content), events=("end",))  # noqa: S314
    try:
        for _, element in events:
            name = reader.name(element)
            if name == "Ntry":
                at = len(rows["mark"])
                line = int(entry_lines[at]) if at < counted else 0
                entry = reader.read(element, line, currency)
                for field, value in zip(_FIELDS, entry, strict=True):
                    rows[field].append(value)
                element.clear()
            elif name == "Acct" and account is None:  # a Stmt's Acct comes before its entries
                account, currency = reader.account(element)
            elif name == "Stmt":
                statements += 1
                rows["account"] += [account or ""] * (len(rows["mark"]) - len(rows["account"]))
                account, currency = None, ""
                element.clear()
    except ET.ParseError as exc:
        raise StatementInvalid(exc.position[0], f"not well-formed XML: {exc.msg}") from None
    root = events.root
    envelope = [reader.name(root), *(reader.name(child) for child in root[:1])]
    if envelope != ["Document", "BkToCstmrStmt"]:
        raise StatementInvalid(0, f"not a camt.053 statement: <{'><'.join(envelope)}>")
    if not statements:
        raise StatementInvalid(0, "not a camt.053 statement: no Stmt in BkToCstmrStmt")
    if not rows["mark"]:
        return empty(BANK_COLUMNS)
    if counted != len(rows["mark"]):  # a "<Ntry" the scan could not place: lines unknown
        entry_lines = np.zeros(len(rows["mark"]), dtype=np.int64)
    return _frame(rows, np.asarray(entry_lines, dtype=np.int64))


def _frame(rows: dict[str, list], line_no: np.ndarray) -> pd.DataFrame:
    amount = values.fen_from_decimal(rows["amount"], line_no, what="Ntry/Amt")
    mark = np.array(rows["mark"], dtype=object)
    values.first_bad(
        ~np.isin(mark, ("CRDT", "DBIT")),
        line_no,
        lambda at: f"Ntry/CdtDbtInd {mark[at]!r} is neither CRDT nor DBIT",
    )
    booked = np.array(rows["booked"], dtype=object)
    valued = np.array(rows["valued"], dtype=object)
    values.first_bad(
        (booked == "") & (valued == ""), line_no, lambda _: "Ntry has neither BookgDt nor ValDt"
    )
    booked, valued = np.where(booked == "", valued, booked), np.where(valued == "", booked, valued)
    currency = np.array(rows["currency"], dtype=object)
    values.first_bad(currency == "", line_no, lambda _: "Ntry/Amt has no Ccy, nor has Acct")
    frame = pd.DataFrame(
        {
            "line_no": line_no,
            "account": rows["account"],
            "booking_date": values.dates(booked, line_no, what="Ntry/BookgDt", fmt="%Y-%m-%d"),
            "value_date": values.dates(valued, line_no, what="Ntry/ValDt", fmt="%Y-%m-%d"),
            "amount": np.where(mark == "CRDT", amount, -amount),
            "currency": currency,
            "bank_ref": rows["bank_ref"],
            "counterparty_account": rows["counterparty_account"],
            "counterparty_name": rows["counterparty_name"],
            "description": rows["description"],
        }
    )
    return typed(frame, BANK_COLUMNS)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _line_of(content: bytes, offset: int) -> int:
    return content.count(b"\n", 0, max(offset, 0)) + 1


def _entry_lines(content: bytes) -> np.ndarray:
    """The line each <Ntry> starts on, in document order (comments and CDATA skipped)."""
    starts = [match.start() for match in _ENTRY_TAG.finditer(content)]
    hidden = (
        [(m.start(), m.end()) for m in _NOT_MARKUP.finditer(content)] if b"<!" in content else []
    )
    if hidden:
        starts = [s for s in starts if not any(a <= s < b for a, b in hidden)]
    newlines = np.flatnonzero(np.frombuffer(content, dtype=np.uint8) == ord("\n"))
    return np.searchsorted(newlines, np.asarray(starts, dtype=np.int64), side="right") + 1


class _EntryReader:
    """Reads one Ntry (and a Stmt's Acct) by walking its children, whatever the namespace."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def name(self, element: ET.Element) -> str:
        """The element's local name (cached: a file has few distinct tags)."""
        tag = element.tag
        name = self._names.get(tag)
        if name is None:
            name = self._names[tag] = tag.rpartition("}")[2]
        return name

    def _child(self, element: ET.Element, name: str) -> ET.Element | None:
        for child in element:
            if self.name(child) == name:
                return child
        return None

    def _account_id(self, account: ET.Element | None) -> str:
        """<Id><IBAN> or <Id><Othr><Id> of an account."""
        identity = self._child(account, "Id") if account is not None else None
        if identity is None:
            return ""
        found = self._child(identity, "IBAN")
        if found is None and (other := self._child(identity, "Othr")) is not None:
            found = self._child(other, "Id")
        return _text(found)

    def _party_name(self, party: ET.Element) -> str:
        """<Nm> of a party, directly or (from version 8) inside <Pty>."""
        name = self._child(party, "Nm")
        if name is None and (inner := self._child(party, "Pty")) is not None:
            name = self._child(inner, "Nm")
        return _text(name)

    def account(self, element: ET.Element) -> tuple[str, str]:
        return self._account_id(element), _text(self._child(element, "Ccy"))

    def read(self, entry: ET.Element, line: int, currency: str) -> tuple[str, ...]:
        found: dict[str, ET.Element] = {}
        transactions: list[ET.Element] = []
        for child in entry:
            name = self.name(child)
            if name == "NtryDtls":
                transactions += [tx for tx in child if self.name(tx) == "TxDtls"]
            else:
                found.setdefault(name, child)
        amt = found.get("Amt")
        if amt is None:
            raise StatementInvalid(line, "Ntry has no Amt")
        mark = _text(found.get("CdtDbtInd"))
        party_tag, account_tag = ("Cdtr", "CdtrAcct") if mark == "DBIT" else ("Dbtr", "DbtrAcct")
        references = [_text(found.get("AcctSvcrRef")), _text(found.get("NtryRef"))]
        party_name = party_account = ""
        unstructured: list[str] = []
        structured: list[str] = []
        for transaction in transactions:
            for part in transaction:
                name = self.name(part)
                if name == "Refs":
                    references.append(_text(self._child(part, "AcctSvcrRef")))
                elif name == "RltdPties" and not (party_name or party_account):
                    party = self._child(part, party_tag)
                    party_name = self._party_name(party) if party is not None else ""
                    party_account = self._account_id(self._child(part, account_tag))
                elif name == "RmtInf":
                    for remittance in part:
                        kind = self.name(remittance)
                        if kind == "Ustrd" and (text := _text(remittance)):
                            unstructured.append(text)
                        elif kind == "Strd" and (reference := self._creditor_reference(remittance)):
                            structured.append(reference)
        description = " ".join(unstructured or structured) or _text(found.get("AddtlNtryInf"))
        return (
            _text(amt),
            amt.get("Ccy", currency).strip(),
            mark,
            self._date(found.get("BookgDt")),
            self._date(found.get("ValDt")),
            next((reference for reference in references if reference), ""),
            party_account,
            party_name,
            description,
        )

    def _date(self, element: ET.Element | None) -> str:
        """The day of a <Dt> or <DtTm> inside ``element``, as written (YYYY-MM-DD)."""
        if element is None:
            return ""
        for child in element:
            return _text(child)[:10]
        return ""

    def _creditor_reference(self, structured: ET.Element) -> str:
        information = self._child(structured, "CdtrRefInf")
        return _text(self._child(information, "Ref")) if information is not None else ""


def _text(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


# -- writing ----------------------------------------------------------------------------


def render_camt053(
    entries: pd.DataFrame,
    account: str,
    business_date: date,
    *,
    opening_balance: int = 0,
    currency: str = "CNY",
) -> bytes:
    """A camt.053.001.08 statement of ``account`` for ``business_date`` with these entries.

    ``entries`` has ``amount`` (fen, credits positive) and ``value_date``; optionally
    ``booking_date`` (default: the value date), ``bank_ref``, ``counterparty_account``,
    ``counterparty_name``, ``description`` (at most 140 characters) and ``currency``.
    Every entry given is written, in order; the balances are ``opening_balance`` and
    that plus the entries. Written column by column with Arrow's string kernels.
    """
    amount = entries["amount"].to_numpy(dtype=np.int64)
    value_date = values.date_text(entries["value_date"], "%Y-%m-%d")
    booking_date = (
        values.date_text(entries["booking_date"], "%Y-%m-%d")
        if "booking_date" in entries.columns
        else value_date
    )
    description = values.column_text(entries, "description")
    if len(description) and pc.max(pc.utf8_length(description)).as_py() > MAX_REMITTANCE:
        raise ValueError(f"a description is longer than {MAX_REMITTANCE} characters")
    credit = amount >= 0
    text = {
        name: values.escaped_xml(values.column_text(entries, name))
        for name in ("bank_ref", "counterparty_name", "counterparty_account")
    }
    name, party_account = text["counterparty_name"], text["counterparty_account"]
    has_name = values.flags(pc.not_equal(name, ""))
    has_account = values.flags(pc.not_equal(party_account, ""))
    has_reference = values.flags(pc.not_equal(text["bank_ref"], ""))
    has_description = values.flags(pc.not_equal(description, ""))
    party = pa.array(np.where(credit, "Dbtr", "Cdtr"), type=pa.string())
    related = values.when(
        has_name | has_account,
        "\n          <RltdPties>",
        values.when(
            has_name, "\n            <", party, "><Pty><Nm>", name, "</Nm></Pty></", party, ">"
        ),
        values.when(
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
    remittance = values.when(
        has_description,
        "\n          <RmtInf><Ustrd>",
        values.escaped_xml(description),
        "</Ustrd></RmtInf>",
    )
    ntry = values.concat(
        '    <Ntry>\n      <Amt Ccy="',
        values.escaped_xml(values.column_text(entries, "currency", currency)),
        '">',
        values.amount_text(amount),
        "</Amt>\n      <CdtDbtInd>",
        pa.array(np.where(credit, "CRDT", "DBIT"), type=pa.string()),
        "</CdtDbtInd>\n      <Sts><Cd>BOOK</Cd></Sts>\n      <BookgDt><Dt>",
        booking_date,
        "</Dt></BookgDt>\n      <ValDt><Dt>",
        value_date,
        "</Dt></ValDt>",
        values.when(has_reference, "\n      <AcctSvcrRef>", text["bank_ref"], "</AcctSvcrRef>"),
        "\n      <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>",
        pa.array(np.where(credit, "RCDT", "ICDT"), type=pa.string()),
        "</Cd><SubFmlyCd>OTHR</SubFmlyCd></Fmly></Domn></BkTxCd>",
        values.when(
            has_name | has_account | has_description,
            "\n      <NtryDtls>\n        <TxDtls>",
            related,
            remittance,
            "\n        </TxDtls>\n      </NtryDtls>",
        ),
        "\n    </Ntry>\n",
    )
    closing = opening_balance + int(amount.sum())
    day, created = business_date.isoformat(), (business_date + timedelta(days=1)).isoformat()
    statement_id = f"{account}-{business_date:%Y%m%d}"
    escaped_account = escape(account)
    created_at = f"<CreDtTm>{created}T00:00:00+08:00</CreDtTm>"
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{NAMESPACE}">\n<BkToCstmrStmt>\n'
        f"  <GrpHdr><MsgId>{escaped_account}-{business_date:%Y%m%d}</MsgId>{created_at}</GrpHdr>\n"
        f"  <Stmt>\n    <Id>{escape(statement_id)}</Id>\n    {created_at}\n"
        f"    <FrToDt><FrDtTm>{day}T00:00:00+08:00</FrDtTm>"
        f"<ToDtTm>{day}T23:59:59+08:00</ToDtTm></FrToDt>\n"
        f"    <Acct><Id><Othr><Id>{escaped_account}</Id></Othr></Id><Ccy>{currency}</Ccy></Acct>\n"
        + _balance("OPBD", opening_balance, currency, day)
        + _balance("CLBD", closing, currency, day)
    )
    tail = "  </Stmt>\n</BkToCstmrStmt>\n</Document>\n"
    return head.encode("utf-8") + values.joined(ntry) + tail.encode("utf-8")


def _balance(code: str, fen: int, currency: str, day: str) -> str:
    mark = "CRDT" if fen >= 0 else "DBIT"
    amount = f"{abs(fen) // 100}.{abs(fen) % 100:02d}"
    return (
        f"    <Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{mark}</CdtDbtInd>'
        f"<Dt><Dt>{day}</Dt></Dt></Bal>\n"
    )
