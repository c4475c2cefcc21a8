"""Money and the business clock, written once for every module and every outside party.

Amounts are integer fen everywhere; yuan exist only as text at the edges (what a provider
writes, what a person reads). The business clock is Beijing time, UTC+8 all year.
Pure functions: no Django, no I/O.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def business_date_of(moment: datetime) -> date:
    """The business date of an aware moment: its calendar date in Beijing, cut at 24:00."""
    return moment.astimezone(BEIJING).date()


# No leading zeros ("01.00"), no sign but a minus, ASCII digits only.
_YUAN = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?")


def yuan_text(fen: int) -> str:
    """Fen as yuan with two decimals: 1234 -> "12.34", -5 -> "-0.05"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}.{cents:02d}"


def fen_from_yuan(text: str, *, places: int = 2, signed: bool = False) -> int:
    """Yuan written in digits ("12", "12.3", "12.30") as fen, exactly, without floats.

    Up to ``places`` decimals, of which those past the second must be zeros (a fraction of
    a fen is refused); a minus sign only when ``signed``. Raises ValueError otherwise.
    """
    match = _YUAN.fullmatch(text) if isinstance(text, str) else None
    if match is None or (match[1] and not signed):
        raise ValueError(f"{text!r} is not an amount in yuan")
    sign, whole, decimals = match[1], match[2], match[3] or ""
    if len(decimals) > places or decimals[2:].strip("0"):
        raise ValueError(f"{text!r} is not whole fen in yuan (at most {places} decimals)")
    fen = int(whole) * 100 + int(decimals[:2].ljust(2, "0"))
    return -fen if sign else fen
