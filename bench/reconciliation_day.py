"""The business date that bench/reconciliation.py reconciles: our side and the parties' files.

Our side is generated with numpy, its text built as Arrow strings straight from character
codes (no Python object per value: ten million orders hold about 2 GB), and written with
COPY a slice at a time. Each party's file is rendered from the same rows by the party's own
code, with about 0.1 % of its lines changed, and stored as a StatementFile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from psycopg import sql

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
BUSINESS_DATE = date(2025, 11, 3)  # a Monday; the bank statements are of the next day
SETTLEMENT_DATE = BUSINESS_DATE + timedelta(days=1)
DAY_US = 86_400 * 10**6

# How the day's payments split across the channels; the floor joins the first one's data.
CHANNEL_SHARES = {"public_platform": 0.40, "alipay": 0.25, "wechatpay": 0.20, "unionpay": 0.15}
CHANNELS = tuple(CHANNEL_SHARES)
# The accounts each channel pays the departments from, as their bank statements show them.
PROCESSOR_ACCOUNTS = {
    "110060000000000001": "public_platform",
    "110060000000000002": "alipay",
    "110060000000000003": "wechatpay",
    "110060000000000004": "unionpay",
}
REVENUE_SYSTEM = "zj"
REGION_PREFIX = "33"
COURIER = "sf"
REFUND_SHARE = 0.03  # of fee orders, refunded the same day
PAYMENTS_PER_SHIPMENT = 200  # 1,000,000 payments: 5,000 shipments, half with applicant freight
DIFFERENCE_SHARE = 0.001  # of each file's lines: 40 % left out, 30 % amount changed, 30 % added
COPY_ROWS = 500_000  # rows turned into CSV and sent to COPY at a time
TEXT = pd.StringDtype("pyarrow")
BASE32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", np.uint8)

# Where each channel's sandbox writes its bill.
BILL_RENDERERS = {
    "public_platform": "sandboxes.public_platform.views",
    "alipay": "sandboxes.alipay.bill",
    "wechatpay": "sandboxes.wechatpay.wire",
    "unionpay": "sandboxes.unionpay.views",
}


@dataclass
class Day:
    """Our side of the date as generated, before it is copied in, and the departments."""

    orders: pd.DataFrame
    refunds: pd.DataFrame
    shipments: pd.DataFrame
    departments: pd.DataFrame  # id, code, region_code, account, bank


def reference_data() -> pd.DataFrame:
    """Three departments, one per camt.053 settlement account; the processors; the system."""
    import harness
    from django.conf import settings

    from billing.models import Department
    from billing.revenue import revenue_system_configure

    accounts = [
        (bank, account)
        for bank, config in settings.BANKS.items()
        if config["format"] == "camt053"
        for account in config["accounts"]
    ]
    rows = []
    for number, (bank, account) in enumerate(accounts, start=1):
        department = Department.objects.create(
            code=f"3301{number:02d}BENCH",
            name=f"基准测试执收单位{number}",
            region_code=f"3301{number:02d}",
            settlement_account_name=f"基准测试执收单位{number}",
            settlement_account_number=account,
            settlement_bank=bank,
        )
        rows.append((department.pk, department.code, department.region_code, account, bank))
    harness.open_every_channel()  # the licensed processors, every channel accepted
    revenue_system_configure(
        code=REVENUE_SYSTEM,
        name="浙江省非税收入征管系统",
        region_prefix=REGION_PREFIX,
        base_url=f"{settings.SERVICE_BASE_URL}/sandbox/revenue",
        app_key="bench",
        secret="bench-secret",  # noqa: S106 (not a credential: the unused sandbox's)
        actor="bench",
    )
    return pd.DataFrame.from_records(rows, columns=["id", "code", "region_code", "account", "bank"])


# -- our side ---------------------------------------------------------------------------


def generate(n: int, departments: pd.DataFrame, rng: np.random.Generator) -> Day:
    """N paid orders of the date, one succeeded attempt each; refunds; shipments."""
    start = day_start()
    shipments_count = max(2, n // PAYMENTS_PER_SHIPMENT)
    freight_orders = shipments_count // 2  # the applicant pays these shipments' freight
    department = rng.integers(0, len(departments), n)
    channel = rng.choice(len(CHANNELS), n, p=list(CHANNEL_SHARES.values()))
    freight = np.zeros(n, dtype=bool)
    freight[:freight_orders] = True
    amount = np.where(freight, rng.integers(1_200, 2_400, n), rng.integers(100, 200_000, n))
    paid_us = rng.integers(0, DAY_US, n)  # after the day's start
    orders = pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "public_id": public_ids("po", n, rng),
            "payment_code": payment_codes(
                character_codes(departments["region_code"])[department],
                rng.permutation(n) + 10**11,
            ),
            "department_id": departments["id"].to_numpy()[department],
            "department_code": labels(department, departments["code"]),
            "region_code": labels(department, departments["region_code"]),
            "purpose": labels(freight.astype(np.int8), ["fee", "freight"]),
            "channel": labels(channel, CHANNELS),
            "amount": amount.astype(np.int64),
            "paid_at": moments(start, paid_us),
            "attempt_public_id": public_ids("pay", n, rng),
            "provider_trade_no": provider_refs(channel, "0", np.arange(n)),
        }
    )
    orders["fee"] = fees(channel, amount)

    # A few % of the fee orders refunded later the same day, in full or in part.
    candidates = np.flatnonzero(~freight)
    refunded = np.sort(rng.choice(candidates, int(len(candidates) * REFUND_SHARE), replace=False))
    paid = paid_us[refunded]
    later = paid + (rng.random(len(refunded)) * (DAY_US - 1 - paid)).astype(np.int64)
    full = rng.random(len(refunded)) < 0.5
    paid_amount = amount[refunded]
    refund_amount = np.where(full, paid_amount, rng.integers(1, paid_amount, endpoint=True))
    refunds = pd.DataFrame(
        {
            "id": np.arange(1, len(refunded) + 1, dtype=np.int64),
            "order_id": orders["id"].to_numpy()[refunded],
            "public_id": public_ids("rf", len(refunded), rng),
            "amount": refund_amount.astype(np.int64),
            "refunded_at": moments(start, later),
            "provider_refund_no": provider_refs(channel[refunded], "1", np.arange(len(refunded))),
            "channel": labels(channel[refunded], CHANNELS),
            **{
                name: orders[name].array.take(refunded)
                for name in ("attempt_public_id", "provider_trade_no", "payment_code")
            },
            "department_code": labels(department[refunded], departments["code"]),
        }
    )
    # The fee on the refunded amount goes back, never more than the payment's fee.
    refunds["fee"] = -np.minimum(
        fees(channel[refunded], refund_amount), orders["fee"].to_numpy()[refunded]
    )
    refunded_amount = np.zeros(n, dtype=np.int64)
    refunded_amount[refunded] = refund_amount
    orders["refunded_amount"] = refunded_amount
    orders["status"] = labels(
        np.where(refunded_amount == 0, 0, np.where(refunded_amount == amount, 1, 2)),
        ["paid", "refunded", "partially_refunded"],
    )

    agency = shipments_count - freight_orders
    booked = moments(start, rng.integers(0, DAY_US, shipments_count))
    shipment_department = np.concatenate(
        [department[:freight_orders], rng.integers(0, len(departments), agency)]
    )
    freight_order_id = pd.array(np.arange(1, shipments_count + 1), dtype="Int64")
    freight_order_id[freight_orders:] = pd.NA  # the agency pays the others
    shipments = pd.DataFrame(
        {
            "id": np.arange(1, shipments_count + 1, dtype=np.int64),
            "public_id": public_ids("shp", shipments_count, rng),
            "department_id": departments["id"].to_numpy()[shipment_department],
            "freight_payer": labels(
                (np.arange(shipments_count) >= freight_orders).astype(np.int8),
                ["applicant", "agency"],
            ),
            "freight_amount": np.concatenate(
                [amount[:freight_orders], rng.integers(1_200, 2_400, agency)]
            ).astype(np.int64),
            "freight_order_id": freight_order_id,
            "waybill_no": ascii_text("SF", digits(7_000_000_000 + np.arange(shipments_count), 13)),
            "booked_at": booked,
        }
    )
    return Day(orders=orders, refunds=refunds, shipments=shipments, departments=departments)


def day_start() -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(BUSINESS_DATE, datetime.min.time(), BUSINESS_TZ))


def moments(start: pd.Timestamp, after_us: np.ndarray) -> pd.Series:
    """Times ``after_us`` microseconds after ``start``, in UTC."""
    return pd.Series(start + pd.to_timedelta(after_us, unit="us")).dt.tz_convert("UTC")


# -- text, built from character codes ----------------------------------------------------


def ascii_text(*parts: str | np.ndarray) -> pd.arrays.ArrowStringArray:
    """Fixed-width ASCII values, one a row, of parts side by side: a constant, or an
    (n, width) array of character codes. One buffer for them all, no object per value."""
    n = next(len(part) for part in parts if not isinstance(part, str))
    chars = np.hstack(
        [
            np.broadcast_to(np.frombuffer(part.encode(), np.uint8), (n, len(part)))
            if isinstance(part, str)
            else part
            for part in parts
        ]
    )
    offsets = np.arange(n + 1, dtype=np.int64) * chars.shape[1]
    text = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars))
    return pd.arrays.ArrowStringArray(text.cast(pa.string()))


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """(n, width) character codes of the values in decimal, zero-padded on the left."""
    rest = np.asarray(values, dtype=np.int64).copy()
    chars = np.empty((len(rest), width), dtype=np.uint8)
    for column in reversed(range(width)):
        chars[:, column] = rest % 10 + ord("0")
        rest //= 10
    return chars


def character_codes(values: Sequence[str]) -> np.ndarray:
    """(k, width) character codes of k ASCII values of one width."""
    return np.frombuffer("".join(values).encode(), np.uint8).reshape(len(values), -1)


def labels(codes: np.ndarray, names: Sequence[str]) -> pd.arrays.ArrowStringArray:
    """names[code] for each code, as Arrow strings."""
    dictionary = pa.array(list(names), pa.string())
    decoded = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), dictionary)
    return pd.arrays.ArrowStringArray(decoded.dictionary_decode())


def public_ids(prefix: str, n: int, rng: np.random.Generator) -> pd.arrays.ArrowStringArray:
    """billing.models.ids.new_public_id's shape: the prefix, "_", 24 base32 characters."""
    return ascii_text(f"{prefix}_", base32(rng.bytes(15 * n)).reshape(n, 24))


def base32(data: bytes) -> np.ndarray:
    """The character codes of base64.b32encode(data).lower() (data a multiple of 5 bytes
    long), column by column: 40 bits at a time make 8 characters of 5 bits."""
    groups = np.frombuffer(data, np.uint8).reshape(-1, 5)
    bits = np.zeros(len(groups), dtype=np.uint64)
    for column in range(5):
        bits = bits << np.uint64(8) | groups[:, column]
    chars = np.empty((len(groups), 8), dtype=np.uint8)
    for column in range(8):
        chars[:, column] = BASE32[(bits >> np.uint64(35 - 5 * column)) & np.uint64(31)]
    return chars


def payment_codes(region: np.ndarray, serial: np.ndarray) -> pd.arrays.ArrowStringArray:
    """billing.payment_codes.RegionSerialCode: region (character codes), 13 serial digits,
    a Luhn check digit."""
    body = np.hstack([region, digits(serial, 13)])
    doubled = body[:, ::-1] - np.uint8(ord("0"))  # from the right: positions 0, 2, ... double
    doubled[:, 0::2] *= 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - doubled.sum(axis=1, dtype=np.int64) % 10) % 10
    return ascii_text(body, digits(check, 1))


def provider_refs(channel: np.ndarray, kind: str, serial: np.ndarray) -> pd.arrays.ArrowStringArray:
    """Digits, as every processor's trade numbers: date, channel, payment or refund, serial."""
    return ascii_text(f"{BUSINESS_DATE:%Y%m%d}", digits(channel + 1, 1), kind, digits(serial, 11))


def fee_rates() -> dict[str, int]:
    """Each channel's fee in basis points, as its sandbox charges it."""
    from sandboxes.alipay import bill as alipay
    from sandboxes.unionpay import views as unionpay
    from sandboxes.wechatpay import wire as wechatpay

    return {
        "public_platform": 0,  # the platform takes no fee from government collections
        "alipay": alipay.FEE_RATE_BPS,
        "wechatpay": wechatpay.FEE_RATE_BPS,
        "unionpay": unionpay.FEE_RATE_BPS,
    }


def fees(channel: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """The fee in fen of each channel (its index in CHANNELS): amount x rate / 10000,
    rounded half up, as the engine expects it."""
    rates = np.array([fee_rates()[name] for name in CHANNELS], dtype=np.int64)[channel]
    return (np.asarray(amount, dtype=np.int64) * rates + 5_000) // 10_000


# -- into the database ------------------------------------------------------------------


def copy_our_side(day: Day) -> None:
    """Our side with COPY, only the columns the tables need, two tables at a time (each on a
    connection of its own), then the id sequences moved on and the tables vacuumed and
    analysed as a live database's are (so autovacuum does not start on them while the runs
    are measured)."""
    from reconciliation.frames import conninfo

    now = pd.Timestamp.now(tz="UTC")
    tables = {
        "billing_paymentorder": (day.orders, lambda o: order_columns(o, now)),
        "billing_paymentattempt": (day.orders, lambda o: attempt_columns(o, now)),
        "billing_refund": (day.refunds, lambda r: refund_columns(r, now)),
        "logistics_shipment": (day.shipments, lambda s: shipment_columns(s, now)),
    }

    def copy(table: str) -> None:
        with psycopg.connect(conninfo(), autocommit=True) as own:
            # No trigger fired, so no foreign key checked row by row: the rows are
            # generated consistent.
            own.execute("SET session_replication_role = replica")
            copy_rows(own, table, *tables[table])

    with psycopg.connect(conninfo(), autocommit=True) as raw:
        with indexes_built_after(raw, list(tables)), ThreadPoolExecutor(2) as pool:
            list(pool.map(copy, tables))
        for table, (frame, _) in tables.items():
            raw.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), {})").format(
                    sql.Literal(table), sql.Literal(max(len(frame), 1))
                )
            )
            raw.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))


def order_columns(o: pd.DataFrame, now: pd.Timestamp) -> dict:
    created = o["paid_at"] - pd.Timedelta(minutes=2)
    return {
        "id": o["id"],
        "public_id": o["public_id"],
        "payment_code": o["payment_code"],
        "verification_code_hash": "0" * 64,
        "case_number": numbered("BENCH-", o["id"]),
        "service_item_code": "bench",
        "department_id": o["department_id"],
        "region_code": o["region_code"],
        "purpose": o["purpose"],
        "payer_type": "natural",
        "payer_name": "基准测试",
        "payer_id_number_encrypted": "",
        "payer_id_number_index": "",
        "payer_id_number_masked": "",
        "payer_phone_encrypted": "",
        "payer_phone_index": "",
        "amount": o["amount"],
        "currency": "CNY",
        "status": o["status"],
        "expires_at": created + pd.Timedelta(days=1),
        "paid_at": o["paid_at"],
        "refunded_amount": o["refunded_amount"],
        "created_at": created,
        "updated_at": now,
    }


def attempt_columns(o: pd.DataFrame, now: pd.Timestamp) -> dict:
    return {
        "id": o["id"],
        "public_id": o["attempt_public_id"],
        "order_id": o["id"],
        "channel": o["channel"],
        "status": "succeeded",
        "amount": o["amount"],
        "received_amount": o["amount"],
        "provider_trade_no": o["provider_trade_no"],
        "pay_url": "",
        "paid_at": o["paid_at"],
        "failure_reason": "",
        "settles_order": True,
        "refund_due": False,
        "query_count": 0,
        "routing": "{}",
        "created_at": o["paid_at"] - pd.Timedelta(minutes=2),
        "updated_at": now,
    }


def refund_columns(r: pd.DataFrame, now: pd.Timestamp) -> dict:
    return {
        "id": r["id"],
        "public_id": r["public_id"],
        "order_id": r["order_id"],
        "attempt_id": r["order_id"],  # one attempt per order, with the order's id
        "kind": "requested",
        "amount": r["amount"],
        "reason": "申请人撤回",
        "status": "succeeded",
        "provider_refund_no": r["provider_refund_no"],
        "failure_reason": "",
        "refunded_at": r["refunded_at"],
        "query_count": 0,
        "created_at": r["refunded_at"] - pd.Timedelta(seconds=5),
        "updated_at": now,
    }


def shipment_columns(s: pd.DataFrame, now: pd.Timestamp) -> dict:
    return {
        "id": s["id"],
        "public_id": s["public_id"],
        "kind": "result",
        "case_number": numbered("BENCH-S", s["id"]),
        "department_id": s["department_id"],
        "consolidation": "single",
        "parallel_approval_id": "",
        "sender_encrypted": "",
        "sender_masked": "{}",
        "recipient_encrypted": "",
        "recipient_masked": "{}",
        "recipient_phone_index": "",
        "recipient_region_code": "330102",
        "courier": COURIER,
        "service_level": "standard",
        "routing": "{}",
        "declared_value": 0,
        "deliver_by": s["booked_at"] + pd.Timedelta(days=3),
        "undeliverable_rule": "hold",
        "freight_payer": s["freight_payer"],
        "freight_amount": s["freight_amount"],
        "freight_order_id": s["freight_order_id"],
        "status": "in_transit",
        "failure_reason": "",
        "failed_attempts": 0,
        "waybill_no": s["waybill_no"],
        "label": "",
        "booked_at": s["booked_at"],
        "booking_tries": 1,
        "booking_error": "",
        "undeliverable_action": "",
        "pod_signer_encrypted": "",
        "pod_signer_masked": "",
        "pod_image_ref": "",
        "created_at": s["booked_at"] - pd.Timedelta(minutes=1),
        "updated_at": now,
    }


def numbered(prefix: str, ids: pd.Series) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(ids), pa.string()), "")


@contextmanager
def indexes_built_after(raw: psycopg.Connection, tables: list[str]) -> Iterator[None]:
    """The tables' indexes other than primary keys (and those a foreign key relies on)
    dropped while the rows go in and built again after. Ten million rows put into a dozen
    indexes a row at a time, random keys among them, took most of an hour; built after,
    each index is one sort."""
    indexes = raw.execute(
        """
        SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text, c.conname,
               coalesce(pg_get_constraintdef(c.oid), pg_get_indexdef(i.indexrelid))
        FROM pg_index i
        LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
        WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
          AND NOT EXISTS (
            SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid
          )
        """,
        [tables],
    ).fetchall()
    for table, index, constraint, _ in indexes:
        raw.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(table), sql.Identifier(constraint)
            )
            if constraint
            else sql.SQL("DROP INDEX {}").format(sql.SQL(index))
        )
    yield
    raw.execute("SET maintenance_work_mem = '1GB'")
    for table, _, constraint, definition in indexes:
        raw.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.SQL(table), sql.Identifier(constraint), sql.SQL(definition)
            )
            if constraint
            else sql.SQL(definition)
        )
    raw.execute("RESET maintenance_work_mem")


def copy_rows(
    raw: psycopg.Connection,
    table: str,
    frame: pd.DataFrame,
    columns: Callable[[pd.DataFrame], dict],
):
    """COPY FROM STDIN of the rows ``columns`` makes of the frame (a column, or one value for
    every row), as CSV that Arrow writes COPY_ROWS rows at a time: every value quoted, so
    only nulls are NULL."""
    names = list(columns(frame.iloc[:0]))
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT CSV)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    options = pcsv.WriteOptions(include_header=False, quoting_style="all_valid")
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for at in range(0, len(frame), COPY_ROWS):
            part = frame.iloc[at : at + COPY_ROWS]
            rows = pa.table(
                {name: arrow(values, len(part)) for name, values in columns(part).items()}
            )
            csv = pa.BufferOutputStream()
            pcsv.write_csv(rows, csv, options)
            copy.write(memoryview(csv.getvalue()))


def arrow(values: object, n: int) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pd.Series):
        return pa.Array.from_pandas(values)
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    return pa.repeat(values, n)


# -- the parties' files -----------------------------------------------------------------


def store_files(day: Day, rng: np.random.Generator) -> dict:
    """Each party's file from the same rows with injected differences, stored."""
    from reconciliation.models import StatementFile
    from reconciliation.parties import parse_party
    from reconciliation.statements import statement_store

    def store(party: str, content: bytes | memoryview, filename: str) -> None:
        statement_store(
            party=parse_party(party),
            business_date=BUSINESS_DATE,
            content=content,
            source=StatementFile.Source.UPLOADED,
            filename=filename,
            actor="bench",
        )

    injected = {}
    for channel in CHANNELS:
        rows, counts = inject(
            bill_rows(day, channel), rng, lambda k, c=channel: extra_bill(c, k, rng)
        )
        sandbox = importlib.import_module(BILL_RENDERERS[channel])
        store(channel, sandbox.render_statement(rows), f"{channel}-{BUSINESS_DATE}")
        injected[channel] = counts
    rows, counts = inject(revenue_rows(day), rng, lambda k: extra_revenue(day, k, rng))
    store(f"revenue:{REVENUE_SYSTEM}", revenue_file(rows), f"revenue-{BUSINESS_DATE}.csv")
    injected[f"revenue:{REVENUE_SYSTEM}"] = counts
    rows, counts = inject(freight_rows(day), rng, lambda k: extra_freight(k))
    store(f"courier:{COURIER}", freight_file(rows), f"sf-bill-{BUSINESS_DATE}.csv")
    injected[f"courier:{COURIER}"] = counts
    return injected


def inject(rows: pd.DataFrame, rng: np.random.Generator, extra: Callable) -> tuple:
    """About DIFFERENCE_SHARE of the lines: 40 % left out, 30 % amounts changed, 30 % added
    (at least one of each), then the lines in time order, as the parties write them."""
    k = max(3, round(len(rows) * DIFFERENCE_SHARE))
    dropped, changed = max(1, round(k * 0.4)), max(1, round(k * 0.3))
    added = max(1, k - dropped - changed)
    picked = rng.choice(len(rows), dropped + changed, replace=False)
    amount = rows["amount"].to_numpy(dtype=np.int64).copy()
    amount[picked[dropped:]] += rng.integers(1, 500, changed)
    kept = np.ones(len(rows), dtype=bool)
    kept[picked[:dropped]] = False
    rows = pd.concat(
        [rows.assign(amount=amount)[kept], extra(added).astype(rows.dtypes.to_dict())],
        ignore_index=True,
    )
    rows = rows.sort_values("occurred_at", kind="stable", ignore_index=True)
    return rows, {"left_out": dropped, "amount_changed": changed, "added": added}


def bill_rows(day: Day, channel: str) -> pd.DataFrame:
    """The channel's payments and refunds as its bill holds them (TRANSACTION_COLUMNS and
    the columns the renderers fill the rest from)."""
    o = day.orders[(day.orders["channel"] == channel).to_numpy(dtype=bool)]
    r = day.refunds[(day.refunds["channel"] == channel).to_numpy(dtype=bool)]
    payments = pd.DataFrame(
        {
            "kind": "payment",
            "ref": o["attempt_public_id"],
            "provider_ref": o["provider_trade_no"],
            "amount": o["amount"],
            "fee": o["fee"],
            "occurred_at": o["paid_at"],
            "out_trade_no": "",
            "transaction_id": "",
            "original_provider_ref": "",
            "payment_code": o["payment_code"],
            "department_code": o["department_code"],
        }
    )
    refunds = pd.DataFrame(
        {
            "kind": "refund",
            "ref": r["public_id"],
            "provider_ref": r["provider_refund_no"],
            "amount": r["amount"],
            "fee": r["fee"],
            "occurred_at": r["refunded_at"],
            "out_trade_no": r["attempt_public_id"],
            "transaction_id": r["provider_trade_no"],
            "original_provider_ref": r["provider_trade_no"],
            "payment_code": r["payment_code"],
            "department_code": r["department_code"],
        }
    )
    return pd.concat([payments, refunds], ignore_index=True).astype(
        dict.fromkeys(["kind", "out_trade_no", "transaction_id", "original_provider_ref"], TEXT)
    )


def extra_bill(channel: str, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """Payments the channel took that we have no record of (a lost notification)."""
    amount = rng.integers(100, 200_000, k)
    index = CHANNELS.index(channel)
    return pd.DataFrame(
        {
            "kind": "payment",
            "ref": public_ids("pay", k, rng),
            "provider_ref": provider_refs(np.full(k, index), "2", np.arange(k)),
            "amount": amount,
            "fee": fees(np.full(k, index), amount),
            "occurred_at": moments(day_start(), rng.integers(0, DAY_US, k)),
            "out_trade_no": "",
            "transaction_id": "",
            "original_provider_ref": "",
            "payment_code": "",
            "department_code": "",
        }
    )


def revenue_rows(day: Day) -> pd.DataFrame:
    """What the revenue system recorded: every fee order's payment and each of its refunds."""
    o = day.orders[(day.orders["purpose"] == "fee").to_numpy(dtype=bool)]
    r = day.refunds
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "payment_code": o["payment_code"],
                    "department_code": o["department_code"],
                    "amount": o["amount"],
                    "kind": "payment",
                    "occurred_at": o["paid_at"] + pd.Timedelta(seconds=3),
                }
            ),
            pd.DataFrame(
                {
                    "payment_code": r["payment_code"],
                    "department_code": r["department_code"],
                    "amount": r["amount"],
                    "kind": "refund",
                    "occurred_at": r["refunded_at"] + pd.Timedelta(seconds=3),
                }
            ),
        ],
        ignore_index=True,
    ).astype({"kind": TEXT})


def extra_revenue(day: Day, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """Records of payment codes we never issued."""
    region = character_codes(day.departments["region_code"])[np.zeros(k, dtype=int)]
    return pd.DataFrame(
        {
            "payment_code": payment_codes(region, np.arange(k) + 9 * 10**12),
            "department_code": day.departments["code"].iloc[0],
            "amount": rng.integers(100, 200_000, k),
            "kind": "payment",
            "occurred_at": moments(day_start(), rng.integers(0, DAY_US, k)),
        }
    )


def revenue_file(rows: pd.DataFrame) -> memoryview:
    """The daily record file: UTF-8 CSV with the header DAILY_COLUMNS."""
    from integrations.revenue.http_json import DAILY_COLUMNS

    table = pa.table(
        {
            "record_id": arrow_text(public_ids("rv", len(rows), np.random.default_rng(len(rows)))),
            "payment_code": arrow_text(rows["payment_code"]),
            "department_code": arrow_text(rows["department_code"]),
            "amount_fen": rows["amount"].to_numpy(dtype=np.int64),
            "kind": arrow_text(rows["kind"]),
            "received_time": beijing_iso(rows["occurred_at"]),
        }
    )
    assert tuple(table.column_names) == DAILY_COLUMNS
    return csv_bytes(table)


def arrow_text(values: pd.Series | pd.api.extensions.ExtensionArray) -> pa.ChunkedArray:
    array = pa.array(values.array if isinstance(values, pd.Series) else values)
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def csv_bytes(table: pa.Table) -> memoryview:
    """The table as CSV with a header line, unquoted, in one Arrow buffer."""
    out = pa.BufferOutputStream()
    pcsv.write_csv(table, out, pcsv.WriteOptions(quoting_style="none"))
    return memoryview(out.getvalue())


def beijing_iso(moments: pd.Series) -> pa.Array:
    """ISO 8601 in Beijing time, with its offset: 2025-11-03T08:00:01+08:00."""
    utc = pd.to_datetime(moments, utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    local = (utc + np.timedelta64(8, "h")).astype("datetime64[s]")
    text = pa.array(local, pa.timestamp("s")).cast(pa.string())  # yyyy-MM-dd HH:mm:ss
    date_part, time_part = pc.utf8_slice_codeunits(text, 0, 10), pc.utf8_slice_codeunits(text, 11)
    return pc.binary_join_element_wise(date_part, "T", time_part, "+08:00", "")


def freight_rows(day: Day) -> pd.DataFrame:
    s = day.shipments
    return pd.DataFrame(
        {
            "waybill_no": s["waybill_no"],
            "order_no": s["public_id"],
            "amount": s["freight_amount"],
            "occurred_at": s["booked_at"],
        }
    )


def extra_freight(k: int) -> pd.DataFrame:
    """Waybills billed that we never booked."""
    return pd.DataFrame(
        {
            "waybill_no": ascii_text("SF", digits(8_000_000_000 + np.arange(k), 13)),
            "order_no": [f"unknown{i}" for i in range(k)],
            "amount": np.full(k, 1_800, dtype=np.int64),
            "occurred_at": moments(day_start(), np.zeros(k, dtype=np.int64)),
        }
    )


def freight_file(rows: pd.DataFrame) -> memoryview:
    """SF's freight bill (sf.BILL_COLUMNS): every line billed on the business date."""
    from integrations.couriers.sf import bill as sf

    amount = np.abs(rows["amount"].to_numpy(dtype=np.int64))
    table = pa.table(
        {
            "waybill_no": arrow_text(rows["waybill_no"]),
            "order_no": arrow_text(rows["order_no"]),
            "date": pa.repeat(BUSINESS_DATE.isoformat(), len(rows)),
            "weight_kg": pa.repeat("1.0", len(rows)),
            "amount_yuan": pc.binary_join_element_wise(
                pc.cast(pa.array(amount // 100), pa.string()),
                pc.utf8_lpad(pc.cast(pa.array(amount % 100), pa.string()), 2, "0"),
                ".",
            ),
        }
    )
    assert tuple(table.column_names) == sf.BILL_COLUMNS
    return csv_bytes(table)
