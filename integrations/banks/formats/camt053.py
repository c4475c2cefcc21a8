"""ISO 20022 camt.053 (BkToCstmrStmt, the bank-to-customer statement): reading it.

Any version is read (camt.053.001.02 to .001.08 and later): elements are matched by their
local name, whatever the namespace or prefix. The file is read as a stream
(``iterparse``), each statement's children are dropped once read, so memory stays flat
however many entries it has. Every ``Ntry`` becomes one BANK_COLUMNS row; what is taken
from where is in docs/banks.md.

A document in an encoding expat cannot read itself (GBK, GB18030, Big5...) is decoded by
its declaration first. An error names the line and the path of the element at fault
(``Stmt[1]/Ntry[3]/Amt``): the stream knows no lines, so on an error the file is walked
once more with expat, which does, as far as that element.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree as ET
from xml.parsers import expat

import numpy as np
import pandas as pd

from integrations.banks.formats import values
from integrations.statements import BANK_COLUMNS, StatementInvalid, empty, typed

_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?Ntry[\s/>]")
_NOT_MARKUP = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.S)
_DECLARED = re.compile(rb"<\?xml\s[^<>\x80-\xff]*?\bencoding\s*=\s*[\"']([^\"'<>]*)[\"']")
_NOT_ASCII = re.compile(rb"[\x80-\xff]")
# Read by expat itself (codecs.lookup names); any other encoding is decoded here first.
_EXPAT_READS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "iso8859-1", "ascii"})
_COUNTED = frozenset({"Stmt", "Ntry", "Bal"})  # written with their position in a path
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

    Raises StatementInvalid naming the line (and path) of the element at fault, or the
    line where the XML stops being well-formed.
    """
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise StatementInvalid(_line_of(content, content.find(b"<!")), "a DTD is not allowed")
    content = _readable(content)
    entry_lines = _entry_lines(content)
    counted = len(entry_lines)
    places = _Places(content, entry_lines)
    rows: dict[str, list] = {name: [] for name in (*_FIELDS, "account", "statement")}
    days: list[_Day] = []
    reader = _EntryReader()
    account, currency = None, ""
    # Only end events: an element is complete when it ends. Each Ntry is read and emptied
    # as it ends, and each Stmt emptied as it ends, so the tree never holds the entries.
    events = ET.iterparse(io.BytesIO(content), events=("end",))  # noqa: S314
    try:
        for _, element in events:
            name = reader.name(element)
            if name == "Ntry":
                entry = reader.read(element, currency)
                if entry[0] is None:
                    line, path = places.entry(len(rows["mark"]))
                    raise StatementInvalid(line, f"{path} has no Amt")
                for field, value in zip(_FIELDS, entry, strict=True):
                    rows[field].append(value)
                element.clear()
            elif name == "Acct" and account is None:  # a Stmt's Acct comes before its entries
                account, currency = reader.account(element)
            elif name == "Stmt":
                entries = len(rows["mark"]) - len(rows["account"])
                rows["account"] += [account or ""] * entries
                rows["statement"] += [len(days)] * entries
                days.append(reader.statement_day(element))
                account, currency = None, ""
                element.clear()
    except ET.ParseError as exc:
        raise StatementInvalid(exc.position[0], f"not well-formed XML: {exc.msg}") from None
    except StatementInvalid:
        raise
    except (LookupError, ValueError) as exc:  # expat refusing an encoding, say
        raise StatementInvalid(1, f"cannot be read as XML: {exc}") from None
    root = events.root
    envelope = [reader.name(root), *(reader.name(child) for child in root[:1])]
    if envelope != ["Document", "BkToCstmrStmt"]:
        wrong = 1 if envelope[0] != "Document" else 2  # the root, or its first child
        line = places.find(lambda _name, _nth, depth: depth == wrong)[0]
        raise StatementInvalid(line, f"not a camt.053 statement: <{'><'.join(envelope)}>")
    if not days:
        line = places.find(lambda _name, _nth, depth: depth == 2)[0]
        raise StatementInvalid(line, "not a camt.053 statement: no Stmt in BkToCstmrStmt")
    if not rows["mark"]:
        return empty(BANK_COLUMNS)
    if counted != len(rows["mark"]):  # a "<Ntry" the scan could not place: lines unknown
        entry_lines = np.zeros(len(rows["mark"]), dtype=np.int64)
    return _frame(rows, np.asarray(entry_lines, dtype=np.int64), days, places)


def _frame(
    rows: dict[str, list], line_no: np.ndarray, days: list[_Day], places: _Places
) -> pd.DataFrame:
    """The rows as a frame, each value checked; an error names its element."""
    n = len(line_no)
    amount = _read(
        lambda labels: values.fen_from_decimal(rows["amount"], labels, what="Amt"),
        n,
        "Amt",
        lambda at: places.entry(at, "Amt"),
    )
    mark = np.array(rows["mark"], dtype=object)
    if (at := _first(~np.isin(mark, ("CRDT", "DBIT")))) is not None:
        line, path = places.entry(at, "CdtDbtInd")
        raise StatementInvalid(line, f"{path} {mark[at]!r} is neither CRDT nor DBIT")
    currency = np.array(rows["currency"], dtype=object)
    if (at := _first(currency == "")) is not None:
        line, path = places.entry(at, "Amt")
        raise StatementInvalid(line, f"{path} has no Ccy, nor has Acct")
    booked, valued = np.array(rows["booked"], dtype=object), np.array(rows["valued"], dtype=object)
    statement = np.asarray(rows["statement"], dtype=np.int64)
    day = np.array([found.day for found in days], dtype=object)[statement]
    undated = (booked == "") & (valued == "")
    if (at := _first(undated & (day == ""))) is not None:
        line, path = places.entry(at)
        raise StatementInvalid(
            line, f"{path} has neither BookgDt nor ValDt, and {days[statement[at]].none}"
        )
    # An entry without a date of its own is on its statement's day (_EntryReader.statement_day);
    # one with a single date has it as both. A bad date is named where it is written.
    given = {"BookgDt": booked, "ValDt": valued}
    dates = {}
    for own, other in (("BookgDt", "ValDt"), ("ValDt", "BookgDt")):
        source = np.where(given[own] != "", own, np.where(given[other] != "", other, ""))
        text = np.where(
            given[own] != "", given[own], np.where(given[other] != "", given[other], day)
        )

        def where(at: int, source: np.ndarray = source) -> tuple[int, str]:
            if source[at]:
                return places.entry(at, str(source[at]), "*")
            return places.statement(int(statement[at]), *days[statement[at]].written)

        dates[own] = _read(
            lambda labels, text=text: values.dates(text, labels, what="date", fmt="%Y-%m-%d"),
            n,
            "date",
            where,
        )
    frame = pd.DataFrame(
        {
            "line_no": line_no,
            "account": rows["account"],
            "booking_date": dates["BookgDt"],
            "value_date": dates["ValDt"],
            "amount": np.where(mark == "CRDT", amount, -amount),
            "currency": currency,
            "bank_ref": rows["bank_ref"],
            "counterparty_account": rows["counterparty_account"],
            "counterparty_name": rows["counterparty_name"],
            "description": rows["description"],
        }
    )
    return typed(frame, BANK_COLUMNS)


def _read(
    read: Callable[[np.ndarray], np.ndarray],
    n: int,
    what: str,
    where: Callable[[int], tuple[int, str]],
) -> np.ndarray:
    """``read(labels)`` of a values function, its error named by the element at fault.

    The values functions name a bad row by the number given for it, and begin their
    message with ``what``: the rows are numbered 1, 2... here, and a bad row's number
    turned into its element's line, and ``what`` into the element's path.
    """
    try:
        return read(np.arange(1, n + 1, dtype=np.int64))
    except StatementInvalid as exc:
        line, path = where(exc.line - 1)
        raise StatementInvalid(line, path + exc.problem.removeprefix(what)) from None


def _first(bad: np.ndarray) -> int | None:
    return int(np.argmax(bad)) if bad.any() else None


def _line_of(content: bytes, offset: int) -> int:
    return content.count(b"\n", 0, max(offset, 0)) + 1


def _readable(content: bytes) -> bytes:
    """The document in an encoding expat reads: as given, or decoded and written as UTF-8.

    expat reads UTF-8, UTF-16, ISO-8859-1 and US-ASCII, and through Python single-byte
    encodings only; a multi-byte one (GBK, GB18030, Big5...) makes it raise a bare
    ValueError. So a document declaring any other encoding Python knows is decoded here
    by its declaration, strictly, and given to expat as UTF-8 with the declaration
    changed to say so (lines stay where they are). A byte that is not valid in the
    declared encoding refuses the file, naming its line; so does text that is UTF-8
    while another encoding is declared: GBK and GB18030 decode most UTF-8 Chinese
    without complaint, as other characters, and real text in them of more than a
    character or two is never valid UTF-8, so it is the declaration that is wrong, and
    every name would be misread.
    """
    declared = _DECLARED.match(content)
    if declared is None:
        return content
    name = declared.group(1).decode("ascii")
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise StatementInvalid(1, f"the declared encoding {name!r} is not one known") from None
    if codec.startswith(("utf-8", "utf-16")):
        return content
    if (other := _NOT_ASCII.search(content)) is not None and _is_utf8(content):
        raise StatementInvalid(
            _line_of(content, other.start()), f"{name} is declared but the text is UTF-8"
        )
    if codec in _EXPAT_READS:
        return content
    try:
        text = content.decode(codec)
    except UnicodeDecodeError as exc:
        raise StatementInvalid(
            _line_of(content, exc.start), f"not {name} text, as declared: {exc.reason}"
        ) from None
    except LookupError:  # a codec that is not a text encoding ("hex", "rot13")
        raise StatementInvalid(1, f"the declared encoding {name!r} is not a text one") from None
    start, end = declared.span(1)  # the declaration is ASCII: offsets are the same in text
    return (text[:start] + "UTF-8" + text[end:]).encode("utf-8")


def _is_utf8(content: bytes) -> bool:
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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


@dataclass(frozen=True)
class _Day:
    """The day of a statement's entries that have no date of their own, and where it is
    written (steps below the Stmt); or, when it has none, why (``none``)."""

    day: str = ""
    written: tuple[str, ...] = ()
    none: str = ""


class _Found(Exception):
    pass


class _Places:
    """Where elements are written in the file, to name the element at fault in an error.

    The read itself (iterparse, in C) knows no lines, and tracking them for every element
    would slow every read. When an error is found, the file is walked again with expat,
    which knows the line of each start tag, as far as the element sought.
    """

    def __init__(self, content: bytes, entry_lines: np.ndarray) -> None:
        self._content, self._entry_lines = content, entry_lines

    def entry(self, at: int, *inside: str) -> tuple[int, str]:
        """The line and path of the ``at``-th Ntry of the file (0-based), or of the
        element ``inside`` it (child names, "Bal[2]" for the second, "*" for the first
        child whatever its name)."""
        seen = [0]

        def anchor(name: str, _nth: int, _depth: int) -> bool:
            if name != "Ntry":
                return False
            seen[0] += 1
            return seen[0] == at + 1

        fallback = int(self._entry_lines[at]) if at < len(self._entry_lines) else 0
        return self.find(anchor, inside, fallback=fallback, unfound=f"Ntry[{at + 1}]")

    def statement(self, number: int, *inside: str) -> tuple[int, str]:
        """The line and path of the element ``inside`` the ``number``-th Stmt (0-based)."""
        return self.find(
            lambda name, nth, depth: depth == 3 and name == "Stmt" and nth == number + 1,
            inside,
            unfound=f"Stmt[{number + 1}]",
        )

    def find(
        self,
        anchor: Callable[[str, int, int], bool],
        inside: tuple[str, ...] = (),
        *,
        fallback: int = 0,
        unfound: str = "",
    ) -> tuple[int, str]:
        """The line and path (below BkToCstmrStmt) of the first element for which
        ``anchor(name, position among its namesakes, depth)`` holds (the root is at depth
        1), or of the element ``inside`` it. When an element inside is missing, the line
        of the deepest one found, and the path of the one sought."""
        parser = expat.ParserCreate()
        walk = _Walk(parser, anchor, inside)
        parser.StartElementHandler, parser.EndElementHandler = walk.start, walk.end
        try:
            parser.Parse(self._content, True)
        except _Found:
            pass
        except expat.ExpatError:  # beyond the element sought, or before it: as far as found
            pass
        rest = [step for step in inside[max(walk.steps - 1, 0) :] if step != "*"]
        if not walk.steps:
            return fallback, "/".join([unfound, *rest] if unfound else rest)
        return walk.line, "/".join(walk.path[2:] + rest)


class _Walk:
    """expat handlers finding one element: an anchor, then the steps ``inside`` it."""

    def __init__(
        self,
        parser: expat.XMLParserType,
        anchor: Callable[[str, int, int], bool],
        inside: tuple[str, ...],
    ) -> None:
        self._parser, self._anchor, self._inside = parser, anchor, inside
        self._children: list[dict[str, int]] = [{}]  # of each open element, by name ("": all)
        self._open: list[str] = []  # the open elements as written in a path
        self._depth = 0  # of the deepest element found (0: not even the anchor yet)
        self.steps = 0  # found: 1 is the anchor, 1 + k the k-th step inside it
        self.line, self.path = 0, []

    def start(self, tag: str, _attributes: dict) -> None:
        name = tag.rpartition(":")[2]
        siblings = self._children[-1]
        nth = siblings[name] = siblings.get(name, 0) + 1
        siblings[""] = siblings.get("", 0) + 1
        depth = len(self._children)
        self._children.append({})
        self._open.append(f"{name}[{nth}]" if name in _COUNTED else name)
        if not self.steps:
            found = self._anchor(name, nth, depth)
        elif depth == self._depth + 1:
            wanted, _, position = self._inside[self.steps - 1].partition("[")
            found = (
                siblings[""] == 1
                if wanted == "*"
                else (name == wanted and nth == int(position.rstrip("]") or 1))
            )
        else:
            found = False
        if found:
            self.steps += 1
            self._depth, self.line = depth, self._parser.CurrentLineNumber
            self.path = list(self._open)
            if self.steps > len(self._inside):
                raise _Found

    def end(self, _tag: str) -> None:
        depth = len(self._children) - 1
        self._children.pop()
        self._open.pop()
        if self.steps and depth == self._depth:  # what was sought next is not in it
            raise _Found


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

    def statement_day(self, statement: ET.Element) -> _Day:
        """The day of the statement's entries that carry neither BookgDt nor ValDt.

        Both are optional in every version. Such an entry was booked within the
        statement's period, so when the period is one day (FrToDt's two ends on the same
        date, as written), or not given, the day is the closing booked balance's (CLBD)
        Dt: the day the statement closes its books, which is the business day of the
        end-of-day statement camt.053 is. Without a CLBD date, a one-day FrToDt's date.
        Never CreDtTm: a statement is often created the morning after its day (ours are,
        sandboxes/banks/camt053.py). A period of several days gives no day: such entries are
        refused rather than dated by guess. Stmt's FrToDt and Bal come before its Ntry
        in every version's schema, so the children are looked at up to the first Ntry
        (the only FrToDt and Bal read are the Stmt's own, not those of an Intrst).
        """
        closing: _Day | None = None
        period: tuple[str, str] | None = None
        balances = 0
        for child in statement:
            name = self.name(child)
            if name == "Ntry":
                break
            if name == "Bal":
                balances += 1
                if closing is None and self._descendant(child, "Tp", "CdOrPrtry", "Cd") == "CLBD":
                    day = self._date(self._child(child, "Dt"))
                    closing = _Day(day, (f"Bal[{balances}]", "Dt", "*"))
            elif name == "FrToDt" and period is None:
                period = (
                    _text(self._child(child, "FrDtTm"))[:10],
                    _text(self._child(child, "ToDtTm"))[:10],
                )
        if period is not None and period[0] != period[1]:
            return _Day(none=f"its statement's FrToDt is {period[0]} to {period[1]}, not one day")
        if closing is not None and closing.day:
            return closing
        if period is not None and period[0]:
            return _Day(period[0], ("FrToDt", "FrDtTm"))
        return _Day(none="its statement has no CLBD balance date, nor FrToDt")

    def read(self, entry: ET.Element, currency: str) -> tuple[str | None, ...]:
        """The entry's fields (_FIELDS); the amount None when it has no Amt."""
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
            return (None, *[""] * (len(_FIELDS) - 1))
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

    def _descendant(self, element: ET.Element, *names: str) -> str:
        """The text of the element found by following ``names`` down from ``element``."""
        found: ET.Element | None = element
        for name in names:
            if found is None:
                break
            found = self._child(found, name)
        return _text(found)

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
