"""Bank codes to banks (their statements and their credit transfers), and statement formats
to parsers, from the configuration given.

``banks`` is ``{bank code: {"format": ..., "base_url": ..., "accounts": [...]}}``, and
optionally ``"bic"`` and ``"name"``, the bank as a pain.001 names it; a bank whose format
is ``csv:<name>`` with a name that is not a built-in example layout gives the layout itself
under ``"csv_layout"`` (CsvLayout's fields).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from integrations.banks.base import BankStatementFormat, BankStatements, BankTransfers
from integrations.banks.base import parse_bank_statement as _parse
from integrations.banks.formats.csv_layout import LAYOUTS, CsvLayout
from integrations.banks.http import HttpStatementBank
from integrations.banks.transfers import HttpTransferBank
from integrations.configuration import required
from integrations.errors import BadCsvLayout, UnknownBank


def bank_config(banks: Mapping, code: str) -> Mapping:
    config = banks.get(code)
    if config is None:
        raise UnknownBank(f"no bank {code!r}")
    required(config, ("format", "base_url"))
    return config


def build_bank(banks: Mapping, code: str) -> BankStatements:
    config = bank_config(banks, code)
    return HttpStatementBank(code=code, base_url=config["base_url"], format=config["format"])


def build_transfer_bank(banks: Mapping, code: str) -> BankTransfers:
    config = bank_config(banks, code)
    return HttpTransferBank(code=code, base_url=config["base_url"])


def bank_for_account(banks: Mapping, account: str) -> str:
    """The code of the bank keeping ``account``; UnknownBank when none does."""
    for code, config in banks.items():
        if account in config.get("accounts", ()):
            return code
    raise UnknownBank(f"no bank keeps account {account!r}")


def csv_layouts(banks: Mapping) -> dict[str, CsvLayout]:
    """The built-in example layouts and those the configured banks define."""
    layouts = dict(LAYOUTS)
    for code, config in banks.items():
        kind, name = BankStatementFormat.of(config.get("format", ""))
        if kind is BankStatementFormat.CSV and "csv_layout" in config:
            try:
                layouts[name] = CsvLayout.from_settings(name, config["csv_layout"])
            except (TypeError, ValueError) as exc:
                raise BadCsvLayout(code, str(exc)) from exc
    return layouts


def parse_bank_statement(content: bytes, fmt: str, banks: Mapping) -> pd.DataFrame:
    """The statement file as a BANK_COLUMNS frame (base.parse_bank_statement), with the
    configured banks' CSV layouts known by name."""
    return _parse(content, fmt, layouts=csv_layouts(banks))
