"""The check every status change makes against its table of legal transitions."""

from __future__ import annotations

from core.errors import IllegalTransition


def check_transition(
    table: dict[str, frozenset[str]], *, kind: str, current: str, new: str
) -> None:
    if new not in table[current]:
        raise IllegalTransition(f"A {kind} cannot go from {current} to {new}.")
