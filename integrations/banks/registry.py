"""Bank codes to configured banks, and statement formats to parsers, from the settings.

``settings.BANKS`` is ``{bank code: {"format": ..., "base_url": ..., "accounts": [...]}}``;
a bank whose format is ``csv:<name>`` with a name that is not a built-in example
layout gives the layout itself under ``"csv_layout"`` (CsvLayout's fields).
"""

from __future__ import annotations

import pandas as pd
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.banks.base import BankStatementFormat, BankStatements
from integrations.banks.base import parse_bank_statement as _parse
from integrations.banks.csv_layout import LAYOUTS, CsvLayout
from integrations.banks.http import HttpStatementBank


class UnknownBank(ValueError):
    pass


def bank_codes() -> tuple[str, ...]:
    return tuple(settings.BANKS)


def _config(code: str) -> dict:
    config = settings.BANKS.get(code)
    if config is None:
        raise UnknownBank(f"no bank {code!r}")
    missing = [name for name in ("format", "base_url") if not config.get(name)]
    if missing:
        raise ImproperlyConfigured(f"BANKS[{code!r}] lacks {', '.join(missing)}")
    return config


def bank_format(code: str) -> str:
    """The format name of the statements the bank sends."""
    return _config(code)["format"]


def get_bank(code: str) -> BankStatements:
    config = _config(code)
    return HttpStatementBank(code=code, base_url=config["base_url"], format=config["format"])


def csv_layouts() -> dict[str, CsvLayout]:
    """The built-in example layouts and those the configured banks define."""
    layouts = dict(LAYOUTS)
    for code, config in settings.BANKS.items():
        kind, name = BankStatementFormat.of(config.get("format", ""))
        if kind is BankStatementFormat.CSV and "csv_layout" in config:
            try:
                layouts[name] = CsvLayout.from_settings(name, config["csv_layout"])
            except (TypeError, ValueError) as exc:
                raise ImproperlyConfigured(f"BANKS[{code!r}]['csv_layout']: {exc}") from exc
    return layouts


def parse_bank_statement(content: bytes, fmt: str) -> pd.DataFrame:
    """The statement file as a BANK_COLUMNS frame (base.parse_bank_statement), with the
    configured banks' CSV layouts known by name."""
    return _parse(content, fmt, layouts=csv_layouts())
