"""Work to do once the caller's transaction commits, whose failure must not undo it."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction


def after_commit(function: Callable[..., object], *args: object) -> None:
    """Call ``function(*args)`` when the transaction commits; if it raises, log and go on.

    Not ``on_commit(partial(...), robust=True)``: Django 5.2 names a failed robust callback
    by its ``__qualname__``, which a partial lacks, so the failure to log it raised instead
    and a committed request answered 500.
    """

    def committed() -> None:
        function(*args)

    committed.__qualname__ = getattr(function, "__qualname__", repr(function))
    transaction.on_commit(committed, robust=True)
