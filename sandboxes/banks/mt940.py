"""The bank's end-of-day statement as a SWIFT MT940 customer statement message.

Written to the MT940 field grammar (SWIFT's notation: ``n`` digits, ``a`` letters, ``c``
letters and digits, ``x`` any character, ``d`` an amount with a comma; ``!`` fixed length):

- ``:20:`` transaction reference, 16x: ``STMT`` + the date;
- ``:25:`` account identification, 35x;
- ``:28C:`` statement number / sequence number, 5n[/5n]: the day of the year, ``/1``;
- ``:60F:`` opening balance, 1!a6!n3!a15d: C or D, YYMMDD, currency, amount;
- per entry ``:61:`` statement line, 6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]: value date
  YYMMDD, entry (booking) date MMDD, C or D, the amount, ``N`` + ``TRF`` (a transfer),
  the account owner's reference (``NONREF``: the bank has none of the owner's) and
  ``//`` the bank's reference; then ``:86:`` information to the account owner, 6*65x:
  the other party as ``/CNTP/<account>/<BIC>/<name>/<city>/`` (BIC and city unknown) and
  ``/REMI/<remittance>``, the structured layout of the Dutch banks (NVB), cut into lines
  of 65 characters;
- ``:62F:`` closing balance, like ``:60F:``; and ``-`` ending the message.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sandboxes.banks import columns

LINE_WIDTH = 65  # characters of one :86: line
MAX_DETAIL_LINES = 6
MAX_REFERENCE = 16  # the bank's reference after //, 16x


def _details_lines(texts: pa.Array) -> pa.Array:
    """The texts cut into lines of LINE_WIDTH characters."""
    lines = [pc.utf8_slice_codeunits(texts, 0, LINE_WIDTH)]
    for start in range(LINE_WIDTH, LINE_WIDTH * MAX_DETAIL_LINES, LINE_WIDTH):
        more = pc.utf8_slice_codeunits(texts, start, start + LINE_WIDTH)
        lines.append(columns.when(columns.given(more), "\n", more))
    return columns.concat(*lines)


def render_mt940(
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

    def one_line(name: str) -> pa.Array:
        return pc.replace_substring(columns.text(entries, name), "\n", " ")

    party_account, party_name = one_line("counterparty_account"), one_line("counterparty_name")
    reference, remittance = one_line("bank_ref"), one_line("description")
    if columns.longest(reference) > MAX_REFERENCE:
        raise ValueError(f"a bank reference is longer than {MAX_REFERENCE} characters")
    details = columns.concat(
        columns.when(
            pc.or_(columns.given(party_account), columns.given(party_name)),
            "/CNTP/",
            party_account,
            "//",
            party_name,
            "//",
        ),
        columns.when(columns.given(remittance), "/REMI/", remittance),
    )
    if columns.longest(details) > LINE_WIDTH * MAX_DETAIL_LINES:
        raise ValueError(f"an entry's :86: would be longer than {MAX_DETAIL_LINES} lines")
    lines = columns.concat(
        ":61:",
        columns.day(entries, "value_date", "%y%m%d"),
        columns.day(entries, "booking_date", "%m%d"),
        columns.either(amount >= 0, "C", "D"),
        columns.units(amount, ","),
        "NTRFNONREF",
        columns.when(columns.given(reference), "//", reference),
        columns.when(columns.given(details), "\n:86:", _details_lines(details)),
        "\n",
    )
    closing = opening_balance + int(amount.sum())
    day = f"{business_date:%y%m%d}"
    head = (
        f":20:STMT{business_date:%Y%m%d}\n:25:{account}\n"
        f":28C:{business_date.timetuple().tm_yday:05d}/1\n"
        f":60F:{_balance(opening_balance, day, currency)}\n"
    )
    tail = f":62F:{_balance(closing, day, currency)}\n-\n"
    return head.encode("utf-8") + columns.utf8(lines) + tail.encode("utf-8")


def _balance(fen: int, day: str, currency: str) -> str:
    amount = columns.units(np.array([fen]), ",")[0].as_py()
    return f"{'C' if fen >= 0 else 'D'}{day}{currency}{amount}"
