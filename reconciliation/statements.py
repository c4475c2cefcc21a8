"""Each party's file for a date: fetched through its adapter or uploaded, stored, parsed.

Every file is kept compressed with the SHA-256 of its bytes (the same bytes twice are one
file). Parsing gives
the canonical frame of integrations.statements; a malformed file raises StatementInvalid
naming the line, and the run that read it fails with that message. A party's answer that it
has no file for a day without trades is kept as an empty file of source ``no_bill``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial

import pandas as pd
import psycopg
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing.models import RevenueSystem
from billing.revenue import revenue_receiver
from core import outside as banks
from core.outside import get_channel, get_courier, get_receipt_platform
from integrations import statements
from integrations.errors import NoStatement, ProviderError
from integrations.revenue.http_json import parse_daily_records
from reconciliation import frames, legs
from reconciliation.compressed import compress, decompress
from reconciliation.models import PartyKind, StatementFile
from reconciliation.ours import day_bounds
from reconciliation.parties import Party, statement_party

# Every party's file of a day is out by noon the next day (WeChat Pay's bill after 10:00,
# UnionPay's file in the morning): one still missing then is late, and a party's answer
# that it has none is taken as the day having had no trades.
DUE_AFTER_DAY_END = timedelta(hours=12)
# Each kind of party's file as parsed: a day without a file is an empty one of these.
COLUMNS = {
    PartyKind.PROCESSOR: statements.TRANSACTION_COLUMNS,
    PartyKind.BANK: statements.BANK_COLUMNS,
    PartyKind.REMITTANCE: statements.BANK_COLUMNS,
    PartyKind.REVENUE: statements.REVENUE_COLUMNS,
    PartyKind.COURIER: statements.FREIGHT_COLUMNS,
    PartyKind.RECEIPT: statements.RECEIPT_COLUMNS,
}


class StatementNotReady(Exception):
    """The party has no file for the date yet (WeChat Pay's appears in the morning)."""


def file_due(business_date: date) -> bool:
    """Whether the parties' files of the date are due: noon the next day has passed."""
    _, day_end = day_bounds(business_date)
    return timezone.now() >= day_end + DUE_AFTER_DAY_END


def statement_store(
    *,
    party: Party,
    business_date: date,
    content: bytes,
    source: str,
    filename: str = "",
    actor: str = "",
) -> StatementFile:
    """Keep a file once: the same bytes for the same party and date are the same file."""
    sha256 = hashlib.sha256(content).hexdigest()
    same = StatementFile.objects.filter(
        party=party.code, business_date=business_date, sha256=sha256
    ).defer("content")
    existing = same.first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            statement = StatementFile.objects.create(
                party=party.code,
                business_date=business_date,
                source=source,
                format=statement_format(party),
                filename=filename,
                content=b"",
                sha256=sha256,
                size=len(content),
                uploaded_by=actor,
            )
            _write_content(statement.pk, content)
    except IntegrityError:  # stored meanwhile by another run
        return same.get()
    statement.content = content
    return statement


def _write_content(statement_id: int, content: bytes) -> None:
    """The file's bytes compressed and sent as a binary parameter, in the transaction of
    Django's connection: the ORM sends bytes as hex inside the statement's text, which
    PostgreSQL refuses for a file that compresses to a few hundred MB."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"UPDATE {StatementFile._meta.db_table} SET content = %b WHERE id = %s",  # noqa: S608
            [compress(content), statement_id],
        )


def statement_for(party: Party, business_date: date) -> StatementFile:
    """The newest file for the party and date, fetched from the party when there is none.

    A file fetched before its day was over is provisional (a run of today, as the demo's, or
    a finance officer's early look): it is fetched again, and kept while the party cannot
    answer. So is one that could not be read (a download cut short), which is not used
    again; one uploaded stays as it is, as a person gave it. A remittance party's copy of
    its bank party's file follows that file (one uploaded for the bank later included); one
    uploaded for it wins.

    A party that answers it has no file for the date (NoStatement) had no trades, once the
    file is due and we hold nothing of its leg for the date either: its file is an empty
    one of source no_bill. Else the run waits for the file."""
    latest = (
        StatementFile.objects.filter(party=party.code, business_date=business_date)
        .defer("content")
        .first()
    )
    if latest is not None and not _to_fetch_again(party, latest):
        return latest
    try:
        content = _fetch(party, business_date)
    except ProviderError as exc:
        if latest is not None and not latest.unreadable:
            return latest
        if isinstance(exc, NoStatement) and _without_trades(party, business_date):
            return statement_store(
                party=party,
                business_date=business_date,
                content=b"",
                source=StatementFile.Source.NO_BILL,
            )
        raise StatementNotReady(f"{party.code} has no file for {business_date}: {exc}") from exc
    return statement_store(
        party=party,
        business_date=business_date,
        content=content,
        source=StatementFile.Source.FETCHED,
    )


def _to_fetch_again(party: Party, statement: StatementFile) -> bool:
    """A fetched file that is provisional, unreadable, or a remittance party's copy."""
    if statement.source != StatementFile.Source.FETCHED:
        return False
    _, day_end = day_bounds(statement.business_date)
    return (
        statement.received_at < day_end
        or statement.unreadable
        or party.kind == PartyKind.REMITTANCE
    )


def _without_trades(party: Party, business_date: date) -> bool:
    """The party's file of the date is due, and our side of its leg holds nothing."""
    return file_due(business_date) and legs.our_side(party, business_date).empty


def _fetch(party: Party, business_date: date) -> bytes:
    if party.kind == PartyKind.PROCESSOR:
        return get_channel(party.name).fetch_statement(business_date)
    if party.kind == PartyKind.COURIER:
        return get_courier(party.name).fetch_freight_bill(business_date)
    if party.kind == PartyKind.REVENUE:
        system = RevenueSystem.objects.get(code=party.name)
        return revenue_receiver(system).fetch_daily_records(business_date)
    if party.kind == PartyKind.RECEIPT:
        return get_receipt_platform().fetch_day_file(business_date)
    if party.kind == PartyKind.REMITTANCE:  # the account's statement, as its bank party has it
        return statement_content(statement_for(statement_party(party), business_date))
    return banks.get_bank(party.name).fetch_statement(party.account, business_date)


def statement_format(party: Party) -> str:
    if party.kind in (PartyKind.BANK, PartyKind.REMITTANCE):
        return banks.bank_format(party.name)
    return party.name


def statement_content(statement: StatementFile) -> bytes:
    """The file's bytes. Read in binary when not loaded yet: bytea as text is hex, twice
    the bytes to send and to decode (2 to 5 times as long for a 56 MB bill).

    Read on a connection of its own, closed before the bytes are unpacked, unless inside a
    transaction (a file stored in it is not visible to another connection): libpq keeps an
    input buffer as large as the largest row its connection received, for as long as the
    connection lives, so a 100 MB file read on Django's connection stays 100 MB of the
    process's."""
    if "content" not in statement.get_deferred_fields():
        return bytes(statement.content)
    if connection.in_atomic_block:
        connection.ensure_connection()
        stored = _stored(connection.connection, statement.pk)
    else:
        with psycopg.connect(frames.conninfo(), autocommit=True) as own:
            stored = _stored(own, statement.pk)
    return decompress(stored)


def _stored(on: psycopg.Connection, statement_id: int) -> bytes:
    """The content column as stored (compressed), bypassing the field that unpacks it."""
    with psycopg.Cursor(on) as cursor:
        cursor.execute(
            f"SELECT content FROM {StatementFile._meta.db_table} WHERE id = %s",  # noqa: S608
            [statement_id],
            binary=True,
        )
        return cursor.fetchone()[0]


def statement_frame(party: Party, statement: StatementFile) -> pd.DataFrame:
    """The file read and parsed into its canonical frame; its bytes are garbage once this
    returns. StatementInvalid when it cannot be read, the file then marked unreadable."""
    try:
        return parser(party, statement)(statement_content(statement))
    except statements.StatementInvalid:
        StatementFile.objects.filter(pk=statement.pk).update(unreadable=True)
        raise


def parser(party: Party, statement: StatementFile) -> Callable[[bytes], pd.DataFrame]:
    """What reads the party's file, built here (it reads settings): it needs no database."""
    if statement.source == StatementFile.Source.NO_BILL:
        return lambda _content: statements.empty(COLUMNS[party.kind])
    if party.kind == PartyKind.PROCESSOR:
        return get_channel(party.name).parse_statement
    if party.kind == PartyKind.REVENUE:
        return parse_daily_records
    if party.kind == PartyKind.COURIER:
        return partial(_freight_frame, get_courier(party.name))
    if party.kind == PartyKind.RECEIPT:
        return get_receipt_platform().parse_day_file
    return partial(
        banks.parse_bank_statement, fmt=statement.format or banks.bank_format(party.name)
    )


def _freight_frame(courier, content: bytes) -> pd.DataFrame:
    try:
        lines = courier.parse_freight_bill(content)
    except ProviderError as exc:
        raise statements.StatementInvalid(0, str(exc)) from exc
    frame = pd.DataFrame(
        {
            "line_no": range(2, len(lines) + 2),  # after the header line
            "waybill_no": [line.waybill_no for line in lines],
            "order_no": [line.order_no for line in lines],
            "amount": [line.amount for line in lines],
            "bill_date": pd.to_datetime([line.date for line in lines]),
        }
    )
    return (
        statements.typed(frame, statements.FREIGHT_COLUMNS)
        if lines
        else statements.empty(statements.FREIGHT_COLUMNS)
    )
