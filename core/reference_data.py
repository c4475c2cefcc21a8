"""Reference data (departments, fee items and their waiver rules, service items and their
fees, processors, revenue systems, webhook endpoints) cached per process, never stale.

Reference rows are read on every order, attempt and notification and change rarely. Every
change to a reference table gives one version row a new number in the same transaction (a
trigger: ``core/migrations/0003_reference_data_version.py``; the numbers come from a
sequence, so the number of a change that was rolled back is never seen again). An API
request learns the committed number in a query it makes anyway, the API key's lookup; a
provider's notification, in its first statement (the order's lock,
``billing/services/attempts.py``). Each reads what this process cached under that number;
anything else (a task, the console, a service called directly, another request without a
key) reads the database. So a cached row is never older than the start of the request that
uses it, in any process.

A request must not change reference data and then read it back through the cache (it
would see the version it started with): none does; the catalogue is written by staff
sessions and commands, which read the database.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

MAX_ENTRIES = 10_000  # far above a catalogue's size: a bound, not an eviction policy

_version: ContextVar[int | None] = ContextVar("reference_data_version", default=None)
# key -> (version it was read under, value); replaced whole, never mutated in place.
_entries: dict[Hashable, tuple[int, object]] = {}


# The committed version, as a column of another query.
VERSION_QUERY = "(SELECT version FROM reference_data_version WHERE id = 1)"


def track_changes_sql(table: str) -> tuple[str, str]:
    """The SQL that makes every change to ``table`` number a new version, and its reverse:
    for the migration of an app whose rows are cached."""
    trigger = f"{table}_reference_data_changed"
    return (
        f"CREATE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION reference_data_changed();",
        f"DROP TRIGGER {trigger} ON {table};",
    )


def cached(key: Hashable, load: Callable[[], T]) -> T:
    """``load()``'s value for ``key`` as of this request's version, read once per process.

    The value is shared between the process's threads: treat it as read-only."""
    version = _version.get()
    if version is None:
        return load()
    entry = _entries.get(key)
    if entry is not None and entry[0] == version:
        return entry[1]
    value = load()
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[key] = (version, value)
    return value


def observe(version: int | None) -> None:
    """Called with the version a request's first query read; the middleware forgets it."""
    _version.set(version)


class ReferenceVersionMiddleware:
    """Each request starts without a version, and none outlives it (threads are reused)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _version.set(None)
        try:
            return self.get_response(request)
        finally:
            _version.reset(token)
