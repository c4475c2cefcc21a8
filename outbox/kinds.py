"""The kinds of outbox rows: what the mechanism needs to know of each, and their registry.

A kind names its model, which of its statuses are still to be worked on, its retry
schedule, and how one row is done. A ``RemoteKind`` sends a row to an outside party: it is
claimed under its row lock, sent outside any transaction, and settled under the lock
again. A ``LocalKind`` applies rows in our own database, many in one transaction.
Each app registers its kinds when it is ready.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.db.models import QuerySet

from core.states import check_transition
from outbox.models import OutboxRow

# The first hours of a party's retries: soon after a blip, then doubling. A kind adds the
# tail that fits how long its message keeps its point.
FIRST_HOURS_BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
)


class Kind(ABC):
    name: ClassVar[str]
    label: ClassVar[str]  # what a person calls one row: "webhook delivery"
    model: ClassVar[type[OutboxRow]]
    transitions: ClassVar[dict[str, frozenset[str]]]
    open_statuses: ClassVar[tuple[str, ...]]
    failed_status: ClassVar[str]
    retry_permission: ClassVar[str]  # the Django permission of "retry now"

    @abstractmethod
    def retry_schedule(self) -> Sequence[timedelta]:
        """The wait before each try after a failed one; when it runs out, the row fails."""

    def rows(self) -> QuerySet:
        """The rows as the kind reads them (with what it follows from each row)."""
        return self.model.objects.all()

    def due(self, rows: QuerySet, now: datetime) -> QuerySet:
        return rows.filter(status__in=self.open_statuses, next_attempt_at__lte=now)

    def is_due(self, row: Any, now: datetime) -> bool:
        """The row-level twin of ``due``, for a row already read."""
        return (
            row.status in self.open_statuses
            and row.next_attempt_at is not None
            and row.next_attempt_at <= now
        )

    def move(self, row: Any, new: str) -> None:
        check_transition(self.transitions, kind=self.label, current=row.status, new=new)
        row.status = new

    def reopen(self, row: Any) -> None:
        """Make a row that a person retries open again; refuse if nothing is left to do."""
        if row.status not in self.open_statuses:
            self.move(row, self.open_statuses[0])


class RemoteKind(Kind):
    """Rows sent to an outside party, one at a time."""

    # How long a send in flight keeps the sweep away from its row.
    lease: ClassVar[timedelta] = timedelta(minutes=2)

    @abstractmethod
    def claim(self, row: Any, now: datetime) -> Any | None:
        """Under the row's lock: what ``send`` needs, or None when the row must wait."""

    @abstractmethod
    def send(self, call: Any) -> Any:
        """Call the outside party; no transaction is open and no lock is held."""

    @abstractmethod
    def settle(self, row: Any, call: Any, outcome: Any, now: datetime) -> None:
        """Under the row's lock again: log the try and apply what the party answered."""


class LocalKind(Kind):
    """Rows applied in our own database, many in one transaction."""

    batch: ClassVar[int] = 200

    @abstractmethod
    def apply(self, rows: list[Any], now: datetime) -> None:
        """Apply the locked rows in the caller's transaction and mark each one done."""


_registry: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    _registry[kind.name] = kind


def kind_named(name: str) -> Kind:
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no outbox kind {name!r} is registered") from None


def all_kinds() -> list[Kind]:
    return list(_registry.values())
