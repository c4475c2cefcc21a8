"""Re-sealing stored personal data under the active key and recomputing its blind indexes,
while the service runs (``manage.py reseal_personal_data``).

A model's rows are walked in id order, a batch at a time, each batch in a transaction of
its own that locks its rows: a row is read and written under its lock, so a change another
transaction makes to it lands before the read or after the write, never lost between them.
The lock is taken with SKIP LOCKED, so the walk never waits on the service's transactions
(and cannot deadlock with them): a row another transaction holds is tried again after the
walk, and reported if it stays locked. A row already under the active key with its index
current is read and left alone, so a run stopped half-way is finished by running again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Model

from core import pii
from core.pii_fields import SealedModel

RETRIES = 10
RETRY_PAUSE_SECONDS = 1.0


@dataclass
class Progress:
    label: str
    checked: int = 0
    resealed: int = 0
    last_id: int = 0
    busy: list[int] = field(default_factory=list)  # rows another transaction held
    unreadable: list[str] = field(default_factory=list)  # "<model> <id> <field>: <why>"


def reseal_model(
    sealed: SealedModel,
    *,
    batch_size: int,
    retries: int = RETRIES,
    pause: float = RETRY_PAUSE_SECONDS,
) -> Iterator[Progress]:
    """Walk ``sealed``'s rows; yields the progress after each committed batch (at least once)."""
    progress = Progress(sealed.label)
    while ids := _ids_after(sealed.model, progress.last_id, batch_size):
        progress.busy += _reseal_rows(sealed, ids, progress)
        progress.last_id = ids[-1]
        yield progress
    if not progress.last_id:
        yield progress  # a table with no rows is reported all the same
    for _ in range(retries):
        if not progress.busy:
            break
        time.sleep(pause)
        # A row deleted meanwhile is no longer waited for.
        waiting = list(
            sealed.model.objects.filter(pk__in=progress.busy)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        progress.busy = []
        for start in range(0, len(waiting), batch_size):
            progress.busy += _reseal_rows(sealed, waiting[start : start + batch_size], progress)
        yield progress


def _ids_after(model: type[Model], last_id: int, count: int) -> list[int]:
    return list(
        model.objects.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:count]
    )


def _reseal_rows(sealed: SealedModel, ids: list[int], progress: Progress) -> list[int]:
    """Re-seal those of ``ids`` no other transaction holds; the ids it held."""
    with transaction.atomic():
        rows = list(
            sealed.model.objects.filter(pk__in=ids)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .only(*sealed.stored_fields)
        )
        changed = [row for row in rows if _resealed(sealed, row, progress.unreadable)]
        if changed:
            _write(sealed, changed)
    progress.checked += len(rows)
    progress.resealed += len(changed)
    locked = {row.pk for row in rows}
    return [pk for pk in ids if pk not in locked]


def _resealed(sealed: SealedModel, row: Model, unreadable: list[str]) -> bool:
    """Bring ``row``'s sealed fields to the active key and its indexes to the current
    algorithm; whether anything changed. A value that does not open is left as it is."""
    changed = False
    for column in sealed.fields:
        token = getattr(row, column.field)
        if not token:
            continue
        try:
            opened = pii.decrypt(token, column=column.column)
        except pii.PiiError as exc:
            unreadable.append(f"{sealed.label} {row.pk} {column.field}: {exc}")
            continue
        if not pii.sealed_with_active_key(token):
            setattr(row, column.field, pii.encrypt(opened, column=column.column))
            changed = True
        if column.index:
            index = pii.blind_index(column.index.indexed(opened), purpose=column.index.purpose)
            if getattr(row, column.index.field) != index:
                setattr(row, column.index.field, index)
                changed = True
    return changed


def _write(sealed: SealedModel, rows: list[Model]) -> None:
    """Write the rows' sealed fields and indexes: one statement, sent for each row in a
    pipeline (``bulk_update``'s CASE expressions cost about ten times the CPU)."""
    names = sealed.stored_fields
    meta, quote = sealed.model._meta, connection.ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in names)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*(getattr(row, name) for name in names), row.pk] for row in rows])
