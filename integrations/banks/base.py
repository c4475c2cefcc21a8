"""The contract between the service and the banks holding the settlement accounts.

A bank sends each account's statement for a business date as a file in one of three
formats, named by one string: ``camt053`` (ISO 20022), ``mt940`` or ``mt940:<encoding>``
(SWIFT; the encoding when it is not UTF-8, e.g. ``mt940:gb18030``) and
``csv:<layout>`` (an export read through a CsvLayout). Every format parses into the
BANK_COLUMNS frame of integrations.statements (the parsers are in formats/). The errors
are those of integrations.errors, re-exported here for the service; ProviderUnavailable
(and StatementNotReady, a kind of it) is the only retryable one.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date
from typing import Protocol

import pandas as pd

from integrations.banks.formats import camt053, csv_layout, mt940
from integrations.banks.pain import PaymentStatusReport
from integrations.errors import ProviderDeclined, ProviderError, ProviderUnavailable

__all__ = [
    "BankStatementFormat",
    "BankStatements",
    "BankTransfers",
    "ProviderDeclined",
    "ProviderError",
    "ProviderUnavailable",
    "StatementNotReady",
    "parse_bank_statement",
]


class StatementNotReady(ProviderUnavailable):
    """The bank has no statement for that date yet (the day is not over): ask again later."""


class BankStatementFormat(enum.StrEnum):
    """The kind of a format name; a name is the kind, or the kind, ":" and its option."""

    CAMT053 = "camt053"
    MT940 = "mt940"  # "mt940:<encoding>" when the file is not UTF-8
    CSV = "csv"  # "csv:<layout name>"

    @classmethod
    def of(cls, fmt: str) -> tuple[BankStatementFormat, str]:
        """The kind and the option of a format name; ValueError for an unknown one."""
        kind, _, option = fmt.partition(":")
        try:
            parsed = cls(kind)
        except ValueError:
            raise ValueError(f"no bank statement format {fmt!r}") from None
        if (parsed is cls.CAMT053 and option) or (parsed is cls.CSV and not option):
            raise ValueError(f"no bank statement format {fmt!r}")
        return parsed, option


def parse_bank_statement(
    content: bytes, fmt: str, *, layouts: Mapping[str, object] | None = None
) -> pd.DataFrame:
    """The statement file as a BANK_COLUMNS frame, one row per entry, in file order.

    ``layouts`` are the CSV layouts by name (csv_layout.LAYOUTS, the built-in examples,
    by default). Raises StatementInvalid naming the first bad line, ValueError for a
    format name that is not one.
    """
    kind, option = BankStatementFormat.of(fmt)
    if kind is BankStatementFormat.CAMT053:
        return camt053.parse_camt053(content)
    if kind is BankStatementFormat.MT940:
        return mt940.parse_mt940(content, encoding=option or None)
    layout = (csv_layout.LAYOUTS if layouts is None else layouts).get(option)
    if not isinstance(layout, csv_layout.CsvLayout):
        raise ValueError(f"no CSV layout {option!r}")
    return csv_layout.parse_csv(content, layout)


class BankStatements(Protocol):
    """One bank, as the service sees it: the statement files of its accounts."""

    code: str
    format: str  # the format name of the files it sends

    def fetch_statement(self, account: str, business_date: date) -> bytes:
        """The account's statement for the date, as the raw bytes the bank serves.

        StatementNotReady while the bank has none for the date yet.
        """
        ...


class BankTransfers(Protocol):
    """One bank, as the service pays through it: credit transfers from its accounts."""

    code: str

    def initiate_transfer(self, document: bytes) -> PaymentStatusReport:
        """Send a pain.001 (pain.build_pain001); the bank's pain.002 about it.

        The same document sent again gets the same report: a bank dedupes by MsgId.
        ProviderUnavailable when the outcome is unknown (send it again, unchanged).
        """
        ...
