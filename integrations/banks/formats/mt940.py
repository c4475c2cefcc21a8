"""SWIFT MT940 customer statements: reading them.

The file is read line by line with pandas, all lines at once: field tags (``:61:``),
their continuation lines, and the statements (``:20:`` to the ``-`` that ends one) are
found with column operations, then every ``:61:`` is split into its subfields with the
statement-line grammar of the ``mt940`` library (``mt940.tags.Statement``), widened
where real banks stray from it (see ``_STATEMENT_LINE``). The library itself parses one
tag at a time in Python, about 22 seconds for a million lines, and it silently loses or
moves entries in several real files (docs/banks.md); here its grammar is applied to a
whole column at once.

What is taken from where is in docs/banks.md. In short: amount and sign from ``:61:``
(C and RD are credits, D and RC debits), the value date and the entry (booking) date
from ``:61:``, the bank's reference after ``//`` (else the customer reference, unless
NONREF), the account from ``:25:``, the currency from the opening balance, and the
``:86:`` that follows an entry, line breaks kept, as its description. An impossible
date such as 30 February is an error, not moved to the end of the month.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from integrations.banks.formats import values
from integrations.statements import BANK_COLUMNS, StatementInvalid, empty, typed

_CONTROL_BYTES = bytes([*range(9), *range(11, 32), 127])  # SOH, Ctrl-Z, CR...; not tab, LF
_ENVELOPE = re.compile(r"(?m)^\{1:[^\n]*?\{4:")  # a SWIFT header before block 4's fields
_TAG_LINE = r"^:(\d\d[A-Z]?|NS):"
_END_OF_STATEMENT = r"^\s*-(XXX)?\}?(\{5:.*)?$"  # "-", "-XXX", "-}", "-}{5:}"
_BALANCE_TAGS = ("60F", "60M", "60", "62F", "62M", "62", "64", "65")
# mt940.tags.Statement's grammar, 6!n[4!n]2a[1!a]15d1!a3!c16x[//16x][34x], written for
# Arrow's RE2 engine (no look-ahead: the tail after the type code is split below), and
# taking "." as well as "," in amounts, as old Rabobank exports write them.
_STATEMENT_LINE = (
    r"^(?P<value_date>\d{6})"
    r"(?P<entry_date>\d{4}|[ ]{4})?"
    r"(?P<mark>R?[CD])"
    r"(?P<funds_code>[A-Z])?"
    r"[\n ]?"
    r"(?P<amount>\d+(?:[,.]\d*)?)"
    r"(?P<type>[A-Z][A-Z0-9 ]{3})?"
    r"(?P<tail>[^\n]*)"
)
# The tail: the customer reference, then "//" and the bank's reference. The customer
# reference is 16x, but runs on while it has no space (ASN Bank puts an IBAN there).
_TAIL = r"^(?P<head>(?:[^/]|/[^/])*)(?://(?P<bank>\S*))?"
_CUSTOMER_REFERENCE = r"^(?P<reference>.{0,15}\S*)"


def parse_mt940(content: bytes, *, encoding: str | None = None) -> pd.DataFrame:
    """Every ``:61:`` of every statement in the file as a BANK_COLUMNS row, in file order.

    ``encoding`` is the file's, when the bank says (e.g. "gb18030"); without it the text
    is read as UTF-8, or as DOS code page 852 when it is not UTF-8, as the mt940 library
    does. Raises StatementInvalid naming the first bad line.
    """
    fields = _fields(_lines(content, encoding))
    _check_closed(fields)
    is_entry = fields["tag"] == "61"
    if not is_entry.any():
        return empty(BANK_COLUMNS)
    line_no = fields["line_no"][is_entry]
    statement = fields["statement"][is_entry]
    texts = fields["content"].filter(pa.array(is_entry))
    parts = pc.extract_regex(texts, _STATEMENT_LINE)
    values.first_bad(
        pc.is_null(parts),
        line_no,
        lambda at: f":61: {texts[at].as_py()[:40]!r} is not a statement line "
        "(YYMMDD[MMDD], C/D/RC/RD, amount, type, reference)",
    )
    field = {
        name: pc.struct_field(parts, name)
        for name in ("value_date", "entry_date", "mark", "amount", "type", "tail")
    }
    # The amount runs to the type code: more digits or marks after it are a malformed one.
    values.first_bad(
        pc.and_(pc.equal(field["type"], ""), pc.match_substring_regex(field["tail"], r"^[0-9,.]")),
        line_no,
        lambda at: f":61: amount {field['amount'][at].as_py() + field['tail'][at].as_py()[:20]!r} "
        "is not an amount",
    )
    amount = values.fen_from_decimal(
        field["amount"], line_no, what=":61: amount", decimal_mark="either"
    )
    debit = values.flags(pc.is_in(field["mark"], pa.array(["D", "RC"])))
    value_date = values.dates(
        pc.binary_join_element_wise("20", field["value_date"], ""),
        line_no,
        what=":61: value date",
        fmt="%Y%m%d",
    )
    description = _details(fields, np.flatnonzero(is_entry))
    frame = pd.DataFrame(
        {
            "line_no": line_no,
            "account": _per_statement(fields, ("25",), r"^(?P<found>.*)$", statement),
            "booking_date": _entry_dates(
                field["entry_date"], field["value_date"], value_date, line_no
            ),
            "value_date": value_date,
            "amount": np.where(debit, -amount, amount),
            "currency": _per_statement(
                fields, _BALANCE_TAGS, r"^[CD]\d{6}(?P<found>[A-Z]{3})", statement
            ),
            "bank_ref": _reference(field["type"], field["tail"]),
            "description": description.to_numpy(zero_copy_only=False),
        }
    )
    values.first_bad(
        frame["account"].isna(), line_no, lambda _: "the statement has no :25: account"
    )
    values.first_bad(
        frame["currency"].isna(),
        line_no,
        lambda _: "the statement has no balance giving its currency",
    )
    frame["counterparty_account"], frame["counterparty_name"] = _counterparty(description)
    return typed(frame, BANK_COLUMNS)


def _lines(content: bytes, encoding: str | None) -> pa.StringArray:
    """The file's lines, trailing spaces removed, as one Arrow array (line n at n - 1).

    Control characters other than tabs and line feeds (a leading SOH, a DOS Ctrl-Z,
    carriage returns) are dropped first; no encoding we read uses them inside characters.
    """
    if len(content) >= 2**31:
        raise StatementInvalid(0, "the file is larger than 2 GiB")
    cleaned = content.translate(None, _CONTROL_BYTES)
    if encoding:
        try:
            text = cleaned.decode(encoding)
        except UnicodeDecodeError as exc:
            line = cleaned.count(b"\n", 0, exc.start) + 1
            raise StatementInvalid(line, f"not {encoding} text: {exc.reason}") from None
    else:
        try:
            text = cleaned.decode("utf-8")
        except UnicodeDecodeError:
            text = cleaned.decode("cp852")
    text = text.removeprefix("\ufeff")
    if "{1:" in text:
        text = _ENVELOPE.sub("", text)
    data = text.encode("utf-8")
    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    offsets = np.concatenate(([0], breaks + 1, [len(data)])).astype(np.int32)
    lines = pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))
    return pc.utf8_rtrim_whitespace(lines)


def _fields(lines: pa.StringArray) -> dict:
    """One entry per tag inside a statement: its line, tag, statement number and its text
    with its continuation lines (blank lines dropped, line breaks kept).

    A statement runs from its :20: to the line that ends it ("-", "-XXX", "-}"); the
    headers some banks write between statements are outside any.
    """
    is_tag = values.flags(pc.match_substring_regex(lines, _TAG_LINE))
    head = pc.utf8_slice_codeunits(lines, 1, 4)  # "61:", "62F" or "NS:"
    tag = pc.utf8_rtrim(head, ":")
    rest = pc.if_else(
        pc.equal(pc.utf8_length(tag), 2),
        pc.utf8_slice_codeunits(lines, 4),
        pc.utf8_slice_codeunits(lines, 5),
    )
    ends = values.flags(pc.match_substring_regex(lines, _END_OF_STATEMENT))
    marker = np.full(len(lines), -1, dtype=np.int8)
    marker[is_tag & values.flags(pc.equal(tag, "20"))] = 1
    marker[ends] = 0
    last_marked = np.maximum.accumulate(np.where(marker >= 0, np.arange(len(marker)), 0))
    inside = (marker[last_marked] == 1) & ~ends
    keep = inside & (is_tag | values.flags(pc.greater(pc.utf8_length(lines), 0)))
    tag_rows = np.flatnonzero(keep & is_tag)
    if not len(tag_rows):
        raise StatementInvalid(0, "no MT940 statement (a :20: field) in the file")
    texts = pc.if_else(pa.array(is_tag), rest, lines).filter(pa.array(keep))
    tags = tag.take(pa.array(tag_rows)).to_numpy(zero_copy_only=False)
    return {
        "line_no": tag_rows + 1,
        "tag": tags,
        "statement": np.cumsum(tags == "20"),
        "content": pc.utf8_trim_whitespace(_join_runs(texts, np.flatnonzero(is_tag[keep]))),
    }


def _join_runs(texts: pa.Array, starts: np.ndarray) -> pa.Array:
    """The texts from each start to the next joined with line feeds, one per start."""
    offsets = pa.array(np.append(starts, len(texts)).astype(np.int32))
    return pc.binary_join(pa.ListArray.from_arrays(offsets, texts), "\n")


def _check_closed(fields: dict) -> None:
    """Every statement has its closing balance: one without was cut short."""
    closing = np.char.startswith(fields["tag"].astype(str), "62")
    closed = np.isin(fields["statement"], fields["statement"][closing])
    if not closed.all():
        last = pd.Series(fields["line_no"][~closed]).groupby(fields["statement"][~closed]).max()
        raise StatementInvalid(
            int(last.iloc[0]), "the statement has no closing balance (:62F:): the file is cut short"
        )


def _details(fields: dict, entries: np.ndarray) -> pa.Array:
    """Each entry's :86: text (several :86: in a row joined), "" when it has none.

    An :86: belongs to the :61: before it when only :86: fields come between; one after
    the closing balance is about the statement, not an entry.
    """
    tag = fields["tag"]
    position = np.arange(len(tag))
    owner = np.where(tag == "61", position, np.where(tag == "86", -2, -1))
    last_set = np.maximum.accumulate(np.where(owner != -2, position, 0))
    owner = np.where(owner == -2, owner[last_set], owner)
    mine = (tag == "86") & (owner >= 0)
    if not mine.any():
        return pa.repeat(pa.scalar("", pa.string()), len(entries))
    owners = owner[mine]
    starts = np.flatnonzero(np.concatenate(([True], owners[1:] != owners[:-1])))
    joined = _join_runs(fields["content"].filter(pa.array(mine)), starts)
    run_of = np.full(len(tag), -1, dtype=np.int64)
    run_of[owners[starts]] = np.arange(len(starts))
    runs = run_of[entries]
    return pc.fill_null(joined.take(pa.array(runs, mask=runs < 0)), "")


def _per_statement(
    fields: dict, tags: tuple[str, ...], pattern: str, statement: np.ndarray
) -> pd.Series:
    """For each entry, the first of ``tags`` in its statement read with ``pattern`` (or NA)."""
    chosen = np.flatnonzero(np.isin(fields["tag"], tags))
    numbers, first = np.unique(fields["statement"][chosen], return_index=True)
    rows = chosen[first]
    found = pc.struct_field(
        pc.extract_regex(fields["content"].take(pa.array(rows)), pattern), "found"
    )
    by_statement = pd.Series(found.to_numpy(zero_copy_only=False), index=numbers, dtype=object)
    return pd.Series(statement).map(by_statement.str.strip())


def _entry_dates(
    entry: pa.Array, value_text: pa.Array, value_date: np.ndarray, line_no: np.ndarray
) -> np.ndarray:
    """The booking date: the entry date's MMDD in the year that puts it nearest the value date."""
    key = pc.binary_join_element_wise(value_text, pc.fill_null(entry, ""), "")

    def read(distinct: pd.Series) -> np.ndarray:
        given = distinct.str.fullmatch(r"\d{10}")
        value = pd.to_datetime("20" + distinct.str.slice(0, 6), format="%Y%m%d", errors="coerce")
        candidates = [
            pd.to_datetime(
                (value.dt.year + shift).astype("Int64").astype(str) + distinct.str.slice(6, 10),
                format="%Y%m%d",
                errors="coerce",
            )
            for shift in (-1, 0, 1)
        ]
        distance = np.column_stack(
            [(c - value).abs().dt.days.fillna(10**6).to_numpy() for c in candidates]
        )
        chosen = np.choose(
            distance.argmin(axis=1), [c.to_numpy(dtype="datetime64[ns]") for c in candidates]
        )
        return np.where(given, chosen, value.to_numpy(dtype="datetime64[ns]"))

    booked = values.per_distinct(key, read)
    given = values.flags(pc.match_substring_regex(pc.fill_null(entry, ""), r"^\d{4}$"))
    values.first_bad(
        given & np.isnat(booked),
        line_no,
        lambda at: f":61: entry date {entry[at].as_py()!r} is not a month and day",
    )
    return np.where(given, booked, value_date)


def _reference(type_code: pa.Array, tail: pa.Array) -> np.ndarray:
    """The bank's reference (after //), else the account owner's, never the word NONREF.

    The owner's reference is 16x, but is read on past 16 characters while it has no
    space: ASN Bank puts an IBAN there.
    """
    # A bare "NONREF" with no type code before it is read as type "NONR" and "EF...".
    split_nonref = pc.and_(pc.equal(type_code, "NONR"), pc.starts_with(tail, "EF"))
    tail = pc.if_else(split_nonref, pc.binary_join_element_wise("NONR", tail, ""), tail)
    # Appending "//" makes every split two parts; the bank's reference ends at the "//".
    halves = pc.split_pattern(pc.binary_join_element_wise(tail, "//", ""), "//", max_splits=1)
    head = pc.list_element(halves, 0)
    bank = pc.list_element(pc.split_pattern(pc.list_element(halves, 1), "//", max_splits=1), 0)
    bank = pc.list_element(pc.split_pattern(pc.utf8_trim_whitespace(bank), " ", max_splits=1), 0)
    customer = pc.utf8_slice_codeunits(head, 0, 15)
    longer = values.flags(pc.greater(pc.utf8_length(head), 15))
    if longer.any():
        run_on = pc.struct_field(
            pc.extract_regex(pc.utf8_slice_codeunits(head, 15), r"^(?P<v>\S*)"), "v"
        )
        customer = pc.if_else(
            pa.array(longer), pc.binary_join_element_wise(customer, run_on, ""), customer
        )
    customer = pc.utf8_trim_whitespace(customer)
    bank = pc.if_else(pc.equal(pc.utf8_upper(bank), "NONREF"), "", bank)
    customer = pc.if_else(pc.equal(pc.utf8_upper(customer), "NONREF"), "", customer)
    return pc.if_else(pc.equal(bank, ""), customer, bank).to_numpy(zero_copy_only=False)


def _counterparty(details: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The other party from a structured :86:, when it is one of two common layouts.

    Dutch NVB/ING codes (/IBAN/<account>/NAME/<name>/ or /CNTP/<account>/<bic>/<name>/)
    and the German ZKA subfields (?31 account, ?32 and ?33 name). Lines are wrapped at
    fixed width, so they are joined without a break first.
    """
    flat = pc.replace_substring(details, "\n", "")
    nvb = pc.match_substring_regex(flat, r"^/[A-Z]{3,4}/")
    zka = pc.match_substring_regex(flat, r"^\d{3}\?")
    iban, named = _after(flat, "/IBAN/", "/"), _after(flat, "/NAME/", "/")
    account = pc.if_else(pc.equal(iban, ""), _after(flat, "/CNTP/", "/"), iban)
    name = pc.if_else(pc.equal(named, ""), _after(flat, "/CNTP/", "/", 2), named)
    zka_name = pc.binary_join_element_wise(_after(flat, "?32", "?"), _after(flat, "?33", "?"), "")
    account = pc.if_else(nvb, account, pc.if_else(zka, _after(flat, "?31", "?"), ""))
    name = pc.if_else(nvb, name, pc.if_else(zka, zka_name, ""))
    return (
        pc.utf8_trim_whitespace(account).to_numpy(zero_copy_only=False),
        pc.utf8_trim_whitespace(name).to_numpy(zero_copy_only=False),
    )


def _after(texts: pa.Array, marker: str, stop: str, skip: int = 0) -> pa.Array:
    """What follows the first ``marker`` up to the next ``stop`` ("" without a marker);
    with ``skip``, the part after that many more stops. Only texts with the marker are
    split."""
    found = pa.repeat(pa.scalar("", pa.string()), len(texts))
    has = values.flags(pc.match_substring(texts, marker))
    if not has.any():
        return found
    chosen = texts.filter(pa.array(has))
    after = pc.list_element(pc.split_pattern(chosen, marker, max_splits=1), 1)
    # Appending the stops makes every split long enough to index.
    padded = pc.binary_join_element_wise(after, stop * (skip + 1), "")
    part = pc.list_element(pc.split_pattern(padded, stop, max_splits=skip + 1), skip)
    return pc.replace_with_mask(found, pa.array(has), part)
