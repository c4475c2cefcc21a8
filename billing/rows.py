"""One-row statements whose text is made once per model, for the busiest path: applying a
payment notification.

The ORM compiles every query again on every call, and for an insert or an update of one row
by its key that costs more CPU than PostgreSQL spends running the statement. These do what
``save()`` does for such a row (each field's own conversion, ``auto_now`` and
``auto_now_add``) and send no model signals (none is connected to the models they write).
The models have an auto-incremented ``id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from django.db import DatabaseError, connection
from django.db.models import Field, Model


def row_insert(obj: Model, *, unless_taken: str | None = None) -> bool:
    """Insert ``obj`` as ``save(force_insert=True)`` would, and give it its id. With
    ``unless_taken``, the name of a unique field: nothing is written, and False returned,
    when a row already holds ``obj``'s value of it."""
    values = _values(obj, adding=True)
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(obj), unless_taken), values)
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    obj.pk = inserted[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return True


def row_update(obj: Model) -> None:
    """Write every field of ``obj`` (read whole, no field deferred) to its row, as ``save()``
    does to a row that exists."""
    values = _values(obj, adding=False)
    with connection.cursor() as cursor:
        cursor.execute(_update_sql(type(obj)), [*values, obj.pk])
        if cursor.rowcount != 1:
            raise DatabaseError(f"{type(obj).__name__} {obj.pk} has no row to update")


def quote(name: str) -> str:
    """A table's or column's name as it is written in SQL."""
    return connection.ops.quote_name(name)


def columns(model: type[Model], alias: str) -> str:
    """Every column of ``model`` in a select list, qualified by ``alias``: read back with
    ``instances``."""
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def instances(row: Sequence, *models: type[Model]) -> list[Model]:
    """The instances of ``models`` read from ``row``, which holds the ``columns`` of each in
    that order (any columns after them are left out), each value converted as the ORM
    converts it (a JSON column comes from the driver as text)."""
    found, start = [], 0
    for model in models:
        names = _attnames(model)
        values = list(row[start : start + len(names)])
        for position, field, converters in _converters(model):
            for converter in converters:
                values[position] = converter(values[position], field.cached_col, connection)
        found.append(model.from_db(connection.alias, names, values))
        start += len(names)
    return found


def _values(obj: Model, *, adding: bool) -> list:
    return [
        field.get_db_prep_save(field.pre_save(obj, adding), connection)
        for field in _written_fields(type(obj))
    ]


@cache
def _written_fields(model: type[Model]) -> tuple[Field, ...]:
    return tuple(field for field in model._meta.concrete_fields if not field.primary_key)


@cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


@cache
def _converters(model: type[Model]) -> tuple[tuple[int, Field, tuple], ...]:
    fields = enumerate(model._meta.concrete_fields)
    found = (
        (position, field, tuple(field.get_db_converters(connection))) for position, field in fields
    )
    return tuple(entry for entry in found if entry[2])


@cache
def _insert_sql(model: type[Model], unless_taken: str | None) -> str:
    names = ", ".join(quote(field.column) for field in _written_fields(model))
    slots = ", ".join(["%s"] * len(_written_fields(model)))
    conflict = ""
    if unless_taken:
        conflict = f"ON CONFLICT ({quote(model._meta.get_field(unless_taken).column)}) DO NOTHING "
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({slots}) "  # noqa: S608
        f"{conflict}RETURNING {quote(model._meta.pk.column)}"
    )


@cache
def _update_sql(model: type[Model]) -> str:
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in _written_fields(model))
    return (
        f"UPDATE {quote(model._meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote(model._meta.pk.column)} = %s"
    )
