"""Limits on documents from outside, checked while they are read.

Framework-free, so the providers' modules in ``integrations/`` use the same rules as the
API's parser. Every refusal is an ``UntrustedInput``, a ``ValueError``, so a caller that
already turns a ``ValueError`` into "malformed" needs no new branch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

# Deeper than any message we exchange, far shallower than the interpreter's recursion limit.
MAX_DEPTH = 32
# The largest notification or push a provider sends is a few kilobytes.
MAX_MESSAGE_BYTES = 64 * 1024
# What is kept of a refused message: enough to investigate it, too little to store abuse.
EXCERPT_BYTES = 2048

T = TypeVar("T")


class UntrustedInput(ValueError):
    """A document refused before any of its values is used."""


def without_nul(text: str) -> str:
    return text.replace("\x00", "")


def excerpt(body: bytes, *, limit: int = EXCERPT_BYTES) -> str:
    """The start of a refused body as storable text."""
    return without_nul(body[:limit].decode("utf-8", errors="replace"))


def check_size(body: bytes, *, limit: int = MAX_MESSAGE_BYTES) -> None:
    if len(body) > limit:
        raise UntrustedInput(f"the message is larger than {limit} bytes")


def check_structure(value: object, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``max_depth``, a NUL in any string or key, and NaN or ±∞.

    PostgreSQL cannot store a NUL in text, so a NUL that got this far would fail later,
    at the database, as a server error.
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UntrustedInput("a string holds a NUL character")
            continue
        if isinstance(item, float) and not math.isfinite(item):
            raise UntrustedInput("a number is not finite")
        if not isinstance(item, dict | list | tuple):
            continue
        if depth > max_depth:
            raise UntrustedInput(f"the document is nested deeper than {max_depth} levels")
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        else:
            pending.extend((child, depth + 1) for child in item)


def parse_checked(parse: Callable[[Any], T], data: Any, *, max_depth: int = MAX_DEPTH) -> T:
    """``parse(data)``, refusing what ``check_structure`` refuses and nesting that overflows."""
    try:
        value = parse(data)
    except RecursionError as exc:
        raise UntrustedInput("the document is nested too deeply") from exc
    check_structure(value, max_depth=max_depth)
    return value


def json_loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """JSON without NaN or Infinity, within ``max_depth`` levels and without a NUL."""
    return parse_checked(_strict_json, data, max_depth=max_depth)


def _strict_json(data: bytes | str) -> Any:
    return json.loads(data, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise UntrustedInput(f"{name} is not a number JSON allows")
