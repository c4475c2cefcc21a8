"""A business date of N payments reconciled across the four legs, from stored files to results.

Per size (--sizes, default 1,000,000 payments), in a fresh PostgreSQL database of its own.
Setup, not timed, in a child process: migrations, three departments (one per camt.053
settlement account of settings.BANKS), the four processors, a revenue system; our side
written with COPY straight into the order, attempt, refund and shipment tables (paid
within the date, split across the channels, a few % refunded, some thousands of shipments
with freight); each party's file rendered from the same rows with about 0.1 % injected
differences (lines left out, amounts changed, lines added) and stored as a StatementFile,
so no run fetches anything. Timed, in a second child process: run_execute of every party,
in-process, one after another (the processors, the revenue system, the courier, then each
settlement account, whose statement is written from the processors' clearing between the
two, not timed); write_xlsx of the largest run's report; the floor, a bare DuckDB FULL
OUTER JOIN of the largest processor's two sides. Figures: each run's wall time and where
it went, the total, the report, the peak RSS of the measuring process, the ratio to the
floor, the targets, and how the total grows from the first size to the last; the
figures of each size are recorded for bench/results.py.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dj_database_url
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gov_payments_bench"
BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
BUSINESS_DATE = date(2025, 11, 3)  # a Monday; the bank statements are of the next day
SETTLEMENT_DATE = BUSINESS_DATE + timedelta(days=1)

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
SHORT_CREDIT = 100  # fen missing from one clearing's credit at the bank
# Per size: the most seconds (runs and report) and peak RSS bytes the targets allow.
TARGETS = {1_000_000: (20, 1024**3), 10_000_000: (300, 4 * 1024**3)}
TARGET_FLOOR_RATIO = 10  # the largest channel's leg-1 run over the DuckDB floor
GIB = 1024**3
ALL_STEPS = ("file", "parse", "ours", "match", "lines", "store")
# Steps in a thread of their own, alongside the main thread's: parse with ours, lines with match.
THREADED_STEPS = ("parse", "lines")


def main() -> None:
    args = arguments()
    if args.phase == "setup":
        setup_phase(args)
    elif args.phase == "measure":
        measure_phase(args)
    else:
        orchestrate(args)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sizes",
        default="1000000",
        help="payments in the business date, comma-separated (e.g. 100000,1000000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="of the generated data")
    parser.add_argument(
        "--profile", default="", help="parties whose runs are also profiled, comma-separated"
    )
    # Internal: the children's phase, size and where the measuring one writes its figures.
    parser.add_argument("--phase", default="", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", default="", help=argparse.SUPPRESS)
    return parser.parse_args()


# -- the parent: one setup and one measuring process per size ---------------------------


def orchestrate(args: argparse.Namespace) -> None:
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    base_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    print(f"{os.cpu_count()} CPUs, business date {BUSINESS_DATE}, sizes {sizes}, seed {args.seed}")
    results = []
    for size in sizes:
        url = size_database_url(base_url, size)
        env = {**os.environ, "DATABASE_URL": url}
        common = [sys.executable, __file__, "--size", str(size), "--seed", str(args.seed)]
        print(f"\n== {size:,} payments (database {dj_database_url.parse(url)['NAME']})")
        subprocess.run([*common, "--phase", "setup"], env=env, check=True)  # noqa: S603 (our argv)
        with tempfile.NamedTemporaryFile(suffix=".json") as result:
            measure = [*common, "--phase", "measure", "--result", result.name]
            if args.profile:
                measure += ["--profile", args.profile]
            subprocess.run(measure, env=env, check=True)  # noqa: S603 (our argv)
            results.append(json.loads(Path(result.name).read_text()))
    record(results)
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"\ngrowth {first['size']:,} -> {last['size']:,} payments "
            f"(x{last['size'] / first['size']:g}): runs x{last['runs'] / first['runs']:.2f} "
            f"({first['runs']:.1f} s -> {last['runs']:.1f} s), with the report "
            f"x{last['total'] / first['total']:.2f}, peak RSS "
            f"x{last['peak_rss'] / first['peak_rss']:.2f}"
        )


def record(measured: list[dict]) -> None:
    """The figures bench/results.py reads, per size."""
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    results.record(
        "reconciliation",
        {
            "sizes": [m["size"] for m in measured],
            "days": {
                str(m["size"]): {
                    "seconds": m["total"],
                    "peak_rss_gib": m["peak_rss"] / GIB,
                    "floor_seconds": m["floor"],
                    "leg1_seconds": m["leg1"],
                    "cpu_seconds": m["cpu"],
                }
                for m in measured
            },
        },
    )


def size_database_url(base_url: str, size: int) -> str:
    """The URL of this size's own database: the base URL's name with a suffix."""
    config = dj_database_url.parse(base_url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"the benchmark runs against PostgreSQL, not {config['ENGINE']}")
    head, _, _ = base_url.rpartition("/")
    return f"{head}/{config['NAME']}_recon_{size}"


# -- setup (not timed) ------------------------------------------------------------------


@dataclass
class Day:
    """Our side of the date as generated, before it is copied in, and the departments."""

    orders: pd.DataFrame
    refunds: pd.DataFrame
    shipments: pd.DataFrame
    departments: pd.DataFrame  # id, code, region_code, account, bank


def setup_phase(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    fresh_database(os.environ["DATABASE_URL"])
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    departments = reference_data()
    day = generate(args.size, departments, rng)
    copy_our_side(day)
    written = time.perf_counter()
    injected = store_files(day, rng)
    stored = time.perf_counter()
    Path(ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / f"bench-reconciliation-{args.size}.json").write_text(json.dumps(injected))
    print(
        f"setup (not timed): migrated in {migrated - started:.1f} s; "
        f"{len(day.orders):,} orders with one paid attempt each, {len(day.refunds):,} refunds, "
        f"{len(day.shipments):,} shipments copied in {written - migrated:.1f} s; "
        f"files rendered and stored in {stored - written:.1f} s"
    )


def fresh_database(url: str) -> None:
    config = dj_database_url.parse(url)
    server = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
    }
    name = sql.Identifier(config["NAME"])
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))


def setup_django() -> None:
    """The bench settings (embedded, no broker: tasks would run in-process) on this database.

    The project's root goes first on the path: "reconciliation" is the app, not this file.
    """
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()


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


def generate(n: int, departments: pd.DataFrame, rng: np.random.Generator) -> Day:
    """N paid orders of the date, one succeeded attempt each; refunds; shipments."""
    start = pd.Timestamp(datetime.combine(BUSINESS_DATE, datetime.min.time(), BUSINESS_TZ))
    day_us = 86_400 * 10**6
    shipments_count = max(2, n // PAYMENTS_PER_SHIPMENT)
    freight_orders = shipments_count // 2  # the applicant pays these shipments' freight
    department = rng.integers(0, len(departments), n)
    channel = rng.choice(len(CHANNELS), n, p=list(CHANNEL_SHARES.values()))
    freight = np.zeros(n, dtype=bool)
    freight[:freight_orders] = True
    amount = np.where(freight, rng.integers(1_200, 2_400, n), rng.integers(100, 200_000, n))
    paid_us = rng.integers(0, day_us, n)  # after the day's start
    paid_at = start + pd.to_timedelta(paid_us, unit="us")
    region = departments["region_code"].to_numpy()[department]
    orders = pd.DataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "public_id": public_ids("po", n, rng),
            "payment_code": payment_codes(region, rng.permutation(n) + 10**11),
            "department_id": departments["id"].to_numpy()[department],
            "department_code": departments["code"].to_numpy()[department],
            "region_code": region,
            "purpose": np.where(freight, "freight", "fee"),
            "channel": np.asarray(CHANNELS, dtype=object)[channel],
            "amount": amount.astype(np.int64),
            "paid_at": paid_at.tz_convert("UTC"),
            "attempt_public_id": public_ids("pay", n, rng),
            "provider_trade_no": provider_refs(channel, "0", np.arange(n)),
        }
    )
    orders["fee"] = fees(orders["channel"], amount)

    # A few % of the fee orders refunded later the same day, in full or in part.
    candidates = np.flatnonzero(~freight)
    refunded = np.sort(rng.choice(candidates, int(len(candidates) * REFUND_SHARE), replace=False))
    paid = paid_us[refunded]
    later = paid + (rng.random(len(refunded)) * (day_us - 1 - paid)).astype(np.int64)
    full = rng.random(len(refunded)) < 0.5
    paid_amount = amount[refunded]
    refund_amount = np.where(full, paid_amount, rng.integers(1, paid_amount, endpoint=True))
    refunds = pd.DataFrame(
        {
            "id": np.arange(1, len(refunded) + 1, dtype=np.int64),
            "order_id": orders["id"].to_numpy()[refunded],
            "public_id": public_ids("rf", len(refunded), rng),
            "amount": refund_amount.astype(np.int64),
            "refunded_at": (start + pd.to_timedelta(later, unit="us")).tz_convert("UTC"),
            "provider_refund_no": provider_refs(channel[refunded], "1", np.arange(len(refunded))),
            "channel": orders["channel"].to_numpy()[refunded],
            "attempt_public_id": orders["attempt_public_id"].to_numpy()[refunded],
            "provider_trade_no": orders["provider_trade_no"].to_numpy()[refunded],
            "payment_code": orders["payment_code"].to_numpy()[refunded],
            "department_code": orders["department_code"].to_numpy()[refunded],
            "paid_fee": orders["fee"].to_numpy()[refunded],
        }
    )
    # The fee on the refunded amount goes back, never more than the payment's fee.
    refunds["fee"] = -np.minimum(
        fees(refunds["channel"], refund_amount), refunds["paid_fee"].to_numpy()
    )
    orders["refunded_amount"] = 0
    orders.loc[refunded, "refunded_amount"] = refund_amount
    orders["status"] = np.where(
        orders["refunded_amount"] == 0,
        "paid",
        np.where(orders["refunded_amount"] == orders["amount"], "refunded", "partially_refunded"),
    )

    agency = shipments_count - freight_orders
    booked = start + pd.to_timedelta(rng.integers(0, day_us, shipments_count), unit="us")
    shipment_department = np.concatenate(
        [department[:freight_orders], rng.integers(0, len(departments), agency)]
    )
    shipments = pd.DataFrame(
        {
            "id": np.arange(1, shipments_count + 1, dtype=np.int64),
            "public_id": public_ids("shp", shipments_count, rng),
            "department_id": departments["id"].to_numpy()[shipment_department],
            "freight_payer": ["applicant"] * freight_orders + ["agency"] * agency,
            "freight_amount": np.concatenate(
                [amount[:freight_orders], rng.integers(1_200, 2_400, agency)]
            ).astype(np.int64),
            "freight_order_id": pd.array(
                [*range(1, freight_orders + 1), *([None] * agency)], dtype="Int64"
            ),
            "waybill_no": [f"SF{7_000_000_000 + i:013d}" for i in range(shipments_count)],
            "booked_at": booked.tz_convert("UTC"),
        }
    )
    return Day(orders=orders, refunds=refunds, shipments=shipments, departments=departments)


def public_ids(prefix: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """billing.models.ids.new_public_id's shape: the prefix, "_", 24 base32 characters."""
    text = base64.b32encode(rng.bytes(15 * n)).lower()  # 15 bytes are 24 characters exactly
    return np.char.add(f"{prefix}_", np.frombuffer(text, dtype="S24").astype("U24")).astype(object)


def payment_codes(region: np.ndarray, serial: np.ndarray) -> np.ndarray:
    """billing.payment_codes.RegionSerialCode: region, 13 serial digits, a Luhn check digit."""
    body = pd.Series(region, dtype=object) + pd.Series(serial).astype(str).str.zfill(13)
    digits = np.frombuffer("".join(body).encode(), dtype=np.uint8).reshape(-1, 19) - ord("0")
    doubled = digits[:, ::-1].astype(np.int64)  # from the right: positions 0, 2, ... double
    doubled[:, 0::2] *= 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - doubled.sum(axis=1) % 10) % 10
    return (body + pd.Series(check).astype(str)).to_numpy(dtype=object)


def provider_refs(channel: np.ndarray, kind: str, serial: np.ndarray) -> np.ndarray:
    """Digits, as every processor's trade numbers: date, channel, payment or refund, serial."""
    head = pd.Series(channel).map(lambda c: f"{BUSINESS_DATE:%Y%m%d}{c + 1}{kind}")
    return (head + pd.Series(serial).astype(str).str.zfill(11)).to_numpy(dtype=object)


# Where each channel's sandbox writes its bill.
BILL_RENDERERS = {
    "public_platform": "sandboxes.public_platform.views",
    "alipay": "sandboxes.alipay.bill",
    "wechatpay": "sandboxes.wechatpay.wire",
    "unionpay": "sandboxes.unionpay.views",
}


def yuan_text(fen: pd.Series | np.ndarray) -> pd.Series:
    """Absolute fen as yuan with two decimals (-1234 -> "12.34"), a whole column at once."""
    magnitude = pd.Series(np.abs(np.asarray(fen, dtype=np.int64)))
    return (magnitude // 100).astype(str) + "." + (magnitude % 100).astype(str).str.zfill(2)


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


def fees(channel: pd.Series, amount: np.ndarray) -> np.ndarray:
    """The fee in fen: amount x rate / 10000, rounded half up, as the engine expects it."""
    rate = pd.Series(channel).map(fee_rates()).to_numpy(dtype=np.int64)
    return (np.asarray(amount, dtype=np.int64) * rate + 5_000) // 10_000


def copy_our_side(day: Day) -> None:
    """Our side with COPY, only the columns the tables need, then the id sequences moved on."""
    o, r, s = day.orders, day.refunds, day.shipments
    now = pd.Timestamp.now(tz="UTC")
    n = len(o)
    created = o["paid_at"] - pd.Timedelta(minutes=2)
    orders = {
        "id": o["id"],
        "public_id": o["public_id"],
        "payment_code": o["payment_code"],
        "verification_code_hash": "0" * 64,
        "case_number": "BENCH-" + o["id"].astype(str),
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
    attempts = {
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
        "created_at": created,
        "updated_at": now,
    }
    refunds = {
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
    shipments = {
        "id": s["id"],
        "public_id": s["public_id"],
        "kind": "result",
        "case_number": "BENCH-S" + s["id"].astype(str),
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
    from django.db import connection

    connection.ensure_connection()
    raw = connection.connection
    assert raw.autocommit, "Django's connection commits each statement"
    tables = {
        "billing_paymentorder": (orders, n),
        "billing_paymentattempt": (attempts, n),
        "billing_refund": (refunds, len(r)),
        "logistics_shipment": (shipments, len(s)),
    }
    for table, (columns, rows) in tables.items():
        copy_rows(raw, table, columns, rows)
        raw.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), {})").format(
                sql.Literal(table), sql.Literal(max(rows, 1))
            )
        )
    # Django keeps its connection in autocommit: each COPY is committed, and VACUUM may run.
    # The tables vacuumed and analysed as a live database's are, so autovacuum does not
    # start on them while the runs are measured.
    for table in tables:
        raw.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))


def copy_rows(raw, table: str, columns: dict, rows: int) -> None:
    """COPY FROM STDIN of a CSV that Arrow writes: every value quoted, so only nulls are NULL."""
    arrays = {}
    for name, values in columns.items():
        if isinstance(values, pd.Series):
            arrays[name] = pa.Array.from_pandas(values)
        else:
            arrays[name] = pa.array([values] * rows)
    buffer = io.BytesIO()
    pcsv.write_csv(pa.table(arrays), buffer, pcsv.WriteOptions(quoting_style="all_valid"))
    names = sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT CSV, HEADER true)").format(
        sql.Identifier(table), names
    )
    view = buffer.getbuffer()
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for at in range(0, len(view), 8 * 1024 * 1024):
            copy.write(view[at : at + 8 * 1024 * 1024])


def store_files(day: Day, rng: np.random.Generator) -> dict:
    """Each party's file from the same rows with injected differences, stored raw."""
    import importlib

    from reconciliation.models import StatementFile
    from reconciliation.parties import parse_party
    from reconciliation.statements import statement_store

    def store(party: str, content: bytes, filename: str) -> None:
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
    rows = rows.copy()
    rows.loc[picked[dropped:], "amount"] += rng.integers(1, 500, changed)
    rows = pd.concat([rows.drop(index=picked[:dropped]), extra(added)], ignore_index=True)
    rows = rows.sort_values("occurred_at", kind="stable", ignore_index=True)
    return rows, {"left_out": dropped, "amount_changed": changed, "added": added}


def bill_rows(day: Day, channel: str) -> pd.DataFrame:
    """The channel's payments and refunds as its bill holds them (TRANSACTION_COLUMNS and
    the columns the renderers fill the rest from)."""
    o = day.orders[day.orders["channel"] == channel]
    r = day.refunds[day.refunds["channel"] == channel]
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
    return pd.concat([payments, refunds], ignore_index=True)


def extra_bill(channel: str, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """Payments the channel took that we have no record of (a lost notification)."""
    amount = rng.integers(100, 200_000, k)
    start = pd.Timestamp(datetime.combine(BUSINESS_DATE, datetime.min.time(), BUSINESS_TZ))
    index = CHANNELS.index(channel)
    return pd.DataFrame(
        {
            "kind": "payment",
            "ref": public_ids("pay", k, rng),
            "provider_ref": provider_refs(np.full(k, index), "2", np.arange(k)),
            "amount": amount,
            "fee": fees(pd.Series([channel] * k), amount),
            "occurred_at": (
                start + pd.to_timedelta(rng.integers(0, 86_400 * 10**6, k), unit="us")
            ).tz_convert("UTC"),
            "out_trade_no": "",
            "transaction_id": "",
            "original_provider_ref": "",
            "payment_code": "",
            "department_code": "",
        }
    )


def revenue_rows(day: Day) -> pd.DataFrame:
    """What the revenue system recorded: every fee order's payment and each of its refunds."""
    o = day.orders[day.orders["purpose"] == "fee"]
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
    )


def extra_revenue(day: Day, k: int, rng: np.random.Generator) -> pd.DataFrame:
    """Records of payment codes we never issued."""
    region = day.departments["region_code"].to_numpy()[np.zeros(k, dtype=int)]
    start = pd.Timestamp(datetime.combine(BUSINESS_DATE, datetime.min.time(), BUSINESS_TZ))
    return pd.DataFrame(
        {
            "payment_code": payment_codes(region, np.arange(k) + 9 * 10**12),
            "department_code": day.departments["code"].iloc[0],
            "amount": rng.integers(100, 200_000, k),
            "kind": "payment",
            "occurred_at": (
                start + pd.to_timedelta(rng.integers(0, 86_400 * 10**6, k), unit="us")
            ).tz_convert("UTC"),
        }
    )


def revenue_file(rows: pd.DataFrame) -> bytes:
    """The daily record file: UTF-8 CSV with the header DAILY_COLUMNS."""
    from integrations.revenue.http_json import DAILY_COLUMNS

    table = pa.table(
        {
            "record_id": public_ids("rv", len(rows), np.random.default_rng(len(rows))),
            "payment_code": rows["payment_code"].to_numpy(dtype=object),
            "department_code": rows["department_code"].to_numpy(dtype=object),
            "amount_fen": rows["amount"].to_numpy(dtype=np.int64),
            "kind": rows["kind"].to_numpy(dtype=object),
            "received_time": beijing_iso(rows["occurred_at"]),
        }
    )
    assert tuple(table.column_names) == DAILY_COLUMNS
    buffer = io.BytesIO()
    pcsv.write_csv(table, buffer, pcsv.WriteOptions(quoting_style="none"))
    return buffer.getvalue()


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
    start = pd.Timestamp(datetime.combine(BUSINESS_DATE, datetime.min.time(), BUSINESS_TZ))
    return pd.DataFrame(
        {
            "waybill_no": [f"SF{8_000_000_000 + i:013d}" for i in range(k)],
            "order_no": [f"unknown{i}" for i in range(k)],
            "amount": np.full(k, 1_800, dtype=np.int64),
            "occurred_at": pd.Series([start.tz_convert("UTC")] * k),
        }
    )


def freight_file(rows: pd.DataFrame) -> bytes:
    """SF's freight bill (sf.BILL_COLUMNS): every line billed on the business date."""
    from integrations.couriers.sf import bill as sf

    table = pa.table(
        {
            "waybill_no": rows["waybill_no"].to_numpy(dtype=object),
            "order_no": rows["order_no"].to_numpy(dtype=object),
            "date": pa.array([BUSINESS_DATE.isoformat()] * len(rows)),
            "weight_kg": pa.array(["1.0"] * len(rows)),
            "amount_yuan": yuan_text(rows["amount"]).to_numpy(dtype=object),
        }
    )
    assert tuple(table.column_names) == sf.BILL_COLUMNS
    buffer = io.BytesIO()
    pcsv.write_csv(table, buffer, pcsv.WriteOptions(quoting_style="none"))
    return buffer.getvalue()


# -- measured ---------------------------------------------------------------------------


class Steps:
    """Seconds spent in each step of run_execute, by wrapping the functions it calls."""

    def __init__(self) -> None:
        self.seconds: Counter = Counter()

    def timed(self, function: Callable, step: str) -> Callable:
        def timed(*args, **kwargs):
            before = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[step] += time.perf_counter() - before

        return timed

    def wrap(self, module, name: str, step: str) -> None:
        setattr(module, name, self.timed(getattr(module, name), step))

    def take(self) -> dict[str, float]:
        taken, self.seconds = dict(self.seconds), Counter()
        return taken


def instrument() -> Steps:
    """Time run_execute's steps; keep its Celery hand-offs from running in this process.

    With no broker, tasks run eagerly: run_request's on-commit task would execute the run
    inside run_request, and run_execute's would auto-resolve (asking processors over HTTP)
    before returning. Neither is part of "from the files to stored results".
    """
    from reconciliation import canonical, legs, matching, statements
    from reconciliation.services import runs

    runs._enqueue = lambda run_id: None
    runs._after = lambda run_id: None
    steps = Steps()
    steps.wrap(statements, "statement_for", "file")
    steps.wrap(statements, "statement_content", "file")
    parser = statements.parser
    statements.parser = lambda *args: steps.timed(parser(*args), "parse")  # in its thread
    steps.wrap(legs, "our_side", "ours")
    steps.wrap(canonical, "lines_replace", "lines")  # in its thread
    for name in (
        "match_transactions",
        "clearing",
        "match_revenue",
        "match_freight",
        "match_settlements",
    ):
        steps.wrap(matching, name, "match")
    steps.wrap(runs, "_store", "store")
    return steps


@dataclass
class Measured:
    party: str
    seconds: float
    steps: dict[str, float]
    totals: dict
    run_id: int
    peak_rss: int  # the process's high-water mark once the run was done


def measure_phase(args: argparse.Namespace) -> None:
    setup_django()
    from django.conf import settings

    settings.RECONCILIATION = {
        **settings.RECONCILIATION,
        "fee_rates_bps": fee_rates(),
        "processor_accounts": PROCESSOR_ACCOUNTS,
    }
    steps = instrument()
    injected = json.loads((ROOT / "var" / f"bench-reconciliation-{args.size}.json").read_text())
    rss_before = peak_rss()
    cpu_before = cpu_seconds()

    measured = [execute(party, BUSINESS_DATE, steps, args.profile) for party in CHANNELS]
    measured += [
        execute(f"revenue:{REVENUE_SYSTEM}", BUSINESS_DATE, steps, args.profile),
        execute(f"courier:{COURIER}", BUSINESS_DATE, steps, args.profile),
    ]
    bank_parties, short = store_bank_statements()  # not timed: from the processors' clearing
    measured += [execute(party, SETTLEMENT_DATE, steps, args.profile) for party in bank_parties]
    runs_seconds = sum(m.seconds for m in measured)
    cpu_runs = cpu_seconds() - cpu_before

    largest = max(measured, key=lambda m: m.totals["ours"]["count"] + m.totals["theirs"]["count"])
    report_seconds, report_bytes, report_rows = write_report(largest.run_id)
    rss_runs = peak_rss()
    floor_party = CHANNELS[0]  # the largest share of the day's payments
    floor = duckdb_floor(floor_party)
    rss_floor = peak_rss()

    print_figures(measured, injected, short)
    total = runs_seconds + report_seconds
    run_floor = next(m for m in measured if m.party == floor_party)
    print(
        f"total, files to stored results: {runs_seconds:.1f} s "
        f"({len(measured)} runs one after another in one process)"
    )
    print(
        f"report: write_xlsx of {largest.party}'s run ({report_rows:,} discrepancy rows) "
        f"to a temporary file: {report_seconds:.2f} s, {report_bytes / 1024:,.0f} KiB"
    )
    print(f"total with the report: {total:.1f} s")
    print(
        f"CPU of the measuring process over the runs (user + system, all its threads): "
        f"{cpu_runs:.1f} s"
    )
    print(
        f"peak RSS of the measuring process (ru_maxrss, the whole process: Django, the runs, "
        f"the report): {rss_runs / GIB:.2f} GiB ({rss_before / GIB:.2f} GiB before the first run);"
        f" {rss_floor / GIB:.2f} GiB after the DuckDB floor"
    )
    print(
        f"floor: DuckDB FULL OUTER JOIN of {floor_party}'s leg-1 data "
        f"({floor['ours']:,} ours, {floor['theirs']:,} theirs, {floor['threads']} threads): "
        f"{floor['seconds'] * 1000:.0f} ms (fastest of 3); classes {floor['classes']}"
    )
    ratio = run_floor.seconds / floor["seconds"]
    print(
        f"ratio: {floor_party}'s run {run_floor.seconds:.2f} s / floor "
        f"{floor['seconds']:.3f} s = {ratio:.0f}x (target <= {TARGET_FLOOR_RATIO}x: "
        f"{'met' if ratio <= TARGET_FLOOR_RATIO else 'NOT met'})"
    )
    if args.size in TARGETS:
        seconds, peak = TARGETS[args.size]
        met = ["met" if ok else "NOT met" for ok in (total < seconds, rss_runs < peak)]
        print(
            f"targets for {args.size:,} payments: {total:.1f} s < {seconds} s {met[0]}; "
            f"peak {rss_runs / GIB:.2f} GiB < {peak / GIB:g} GiB {met[1]}"
        )
    Path(args.result).write_text(
        json.dumps(
            {
                "size": args.size,
                "runs": runs_seconds,
                "total": total,
                "peak_rss": rss_runs,
                "floor": floor["seconds"],
                "leg1": run_floor.seconds,
                "cpu": cpu_runs,
            }
        )
    )


def execute(party: str, business_date: date, steps: Steps, profile: str) -> Measured:
    from reconciliation.models import RunStatus
    from reconciliation.services import runs

    run = runs.run_request(business_date=business_date, party_code=party, actor="bench")
    profiler = cProfile.Profile() if party in profile.split(",") else None
    steps.take()
    before = time.perf_counter()
    if profiler:
        profiler.enable()
    done = runs.run_execute(run_id=run.pk)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - before
    if done.status != RunStatus.SUCCEEDED:
        raise SystemExit(f"the {party} run failed: {done.error}")
    if profiler:
        print(f"-- cProfile of the {party} run (cumulative, top 25)")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return Measured(party, seconds, steps.take(), done.totals, done.pk, peak_rss())


def store_bank_statements() -> tuple[list[str], str]:
    """A camt.053 statement per settlement account for the settlement date, one credit per
    clearing from the channel's account; one credit is SHORT_CREDIT fen short."""
    from django.conf import settings

    from reconciliation.models import Clearing, StatementFile
    from reconciliation.parties import parse_party
    from reconciliation.statements import statement_store
    from sandboxes.banks.camt053 import render_camt053

    from_account = {channel: account for account, channel in PROCESSOR_ACCOUNTS.items()}
    clearings = pd.DataFrame.from_records(
        Clearing.objects.filter(business_date=BUSINESS_DATE)
        .order_by("department__settlement_account_number", "processor")
        .values_list("processor", "department__settlement_account_number", "net_amount"),
        columns=["processor", "account", "amount"],
    )
    short = ""
    parties = []
    for number, (account, entries) in enumerate(clearings.groupby("account", sort=True)):
        entries = entries.reset_index(drop=True)
        if number == 0:
            entries.loc[0, "amount"] -= SHORT_CREDIT
            short = f"{entries.loc[0, 'processor']} to {account}"
        entries["value_date"] = pd.Timestamp(SETTLEMENT_DATE)
        entries["bank_ref"] = [f"BK{SETTLEMENT_DATE:%Y%m%d}{number}{i:04d}" for i in entries.index]
        entries["counterparty_account"] = entries["processor"].map(from_account)
        entries["counterparty_name"] = entries["processor"]
        entries["description"] = f"清算 {BUSINESS_DATE}"
        bank = next(code for code, c in settings.BANKS.items() if account in c["accounts"])
        party = f"bank:{bank}:{account}"
        statement_store(
            party=parse_party(party),
            business_date=SETTLEMENT_DATE,
            content=render_camt053(entries, account, SETTLEMENT_DATE),
            source=StatementFile.Source.UPLOADED,
            filename=f"camt053-{account}-{SETTLEMENT_DATE}.xml",
            actor="bench",
        )
        parties.append(party)
    return parties, short


def write_report(run_id: int) -> tuple[float, int, int]:
    from reconciliation.models import Discrepancy, ReconciliationRun
    from reconciliation.reports import write_xlsx

    run = ReconciliationRun.objects.get(pk=run_id)
    with tempfile.TemporaryFile() as out:
        before = time.perf_counter()
        write_xlsx(run, out, departments=None)
        seconds = time.perf_counter() - before
        size = out.tell()
    return seconds, size, Discrepancy.objects.filter(run=run).count()


def duckdb_floor(channel: str) -> dict:
    """The least leg 1 can cost: both sides as Arrow tables, one FULL OUTER JOIN on (kind,
    ref), each row classed with CASE, counted. Loading the two sides is not timed."""
    import duckdb

    from core.outside import get_channel
    from reconciliation import ours
    from reconciliation.models import StatementFile

    our_side = ours.transactions(channel, BUSINESS_DATE)
    content = bytes(StatementFile.objects.get(party=channel, business_date=BUSINESS_DATE).content)
    their_side = get_channel(channel).parse_statement(content)

    def table(frame: pd.DataFrame) -> pa.Table:
        return pa.table(
            {
                "kind": pa.array(frame["kind"].astype(str).to_numpy(dtype=object), pa.string()),
                "ref": pa.array(frame["ref"].astype(str).to_numpy(dtype=object), pa.string()),
                "amount": pa.array(frame["amount"].to_numpy(dtype=np.int64)),
            }
        )

    connection = duckdb.connect()
    connection.register("ours", table(our_side))
    connection.register("theirs", table(their_side))
    query = """
        SELECT CASE
                 WHEN t.ref IS NULL THEN 'missing_in_channel'
                 WHEN o.ref IS NULL THEN 'missing_in_ledger'
                 WHEN o.amount <> t.amount THEN 'amount_mismatch'
                 ELSE 'matched'
               END AS class,
               count(*) AS n
        FROM ours o FULL OUTER JOIN theirs t ON o.ref = t.ref AND o.kind = t.kind
        GROUP BY class ORDER BY class
    """
    timings = []
    for _ in range(3):
        before = time.perf_counter()
        classes = connection.execute(query).fetchall()
        timings.append(time.perf_counter() - before)
    threads = connection.execute("SELECT current_setting('threads')").fetchone()[0]
    return {
        "seconds": min(timings),
        "ours": len(our_side),
        "theirs": len(their_side),
        "classes": dict(classes),
        "threads": threads,
    }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss() -> int:
    """This process's resident set high-water mark, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def print_figures(measured: list[Measured], injected: dict, short: str) -> None:
    print(
        f"{'party':<36} {'ours':>9} {'theirs':>9} {'matched':>9} {'seconds':>8}   "
        + "  ".join(f"{step:>5}" for step in ALL_STEPS)
        + "  other  peak GiB"
    )
    for m in measured:
        t = m.totals
        other = m.seconds - sum(v for k, v in m.steps.items() if k not in THREADED_STEPS)
        print(
            f"{m.party:<36} {t['ours']['count']:>9,} {t['theirs']['count']:>9,} "
            f"{t['matched']['count']:>9,} {m.seconds:>8.2f}   "
            + "  ".join(f"{m.steps.get(step, 0):>5.2f}" for step in ALL_STEPS)
            + f"  {other:>5.2f}  {m.peak_rss / GIB:>8.2f}"
        )
    print("discrepancies found (injected):")
    for m in measured:
        found = {
            kind: value["count"]
            for kind, value in m.totals["discrepancies"].items()
            if value["count"]
        }
        given = injected.get(m.party) or (
            {"short_credit": short} if short and m.party.endswith(short.split(" to ")[1]) else {}
        )
        warning = ""
        if m.party in injected and sum(found.values()) > 2 * sum(given.values()) + 5:
            warning = "  << far more than were injected: the results are wrong"
        print(f"  {m.party:<34} {found} ({given}){warning}")


if __name__ == "__main__":
    main()
