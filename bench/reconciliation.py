"""A business date of N payments reconciled across the four legs, from stored files to results.

Per size (--sizes, default 1,000,000 payments), in a fresh PostgreSQL database of its own.
Setup, not timed, in a child process (bench/reconciliation_day.py): migrations, three
departments (one per camt.053 settlement account of settings.BANKS), the four processors, a
revenue system; our side written with COPY straight into the order, attempt, refund and
shipment tables (paid
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
import cProfile
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
from datetime import date
from pathlib import Path

import dj_database_url
import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import reconciliation_day as day_of
from psycopg import sql
from reconciliation_day import (
    BUSINESS_DATE,
    CHANNELS,
    COURIER,
    PROCESSOR_ACCOUNTS,
    REVENUE_SYSTEM,
    SETTLEMENT_DATE,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gov_payments_bench"
SHORT_CREDIT = 100  # fen missing from one clearing's credit at the bank
# Per size: the most seconds (runs and report) and peak RSS bytes the targets allow.
TARGETS = {1_000_000: (20, 1024**3), 10_000_000: (300, 4 * 1024**3)}
TARGET_FLOOR_RATIO = 10  # the largest channel's leg-1 run over the DuckDB floor
GIB = 1024**3
ALL_STEPS = ("file", "parse", "ours", "match", "lines", "store")
# Steps in a thread of their own, alongside the main thread's: lines with ours and match.
THREADED_STEPS = ("lines",)


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


def setup_phase(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    fresh_database(os.environ["DATABASE_URL"])
    setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    migrated = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    day = day_of.generate(args.size, day_of.reference_data(), rng)
    generated = time.perf_counter()
    day_of.copy_our_side(day)
    written = time.perf_counter()
    injected = day_of.store_files(day, rng)
    stored = time.perf_counter()
    Path(ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / f"bench-reconciliation-{args.size}.json").write_text(json.dumps(injected))
    print(
        f"setup (not timed): migrated in {migrated - started:.1f} s; "
        f"{len(day.orders):,} orders with one paid attempt each, {len(day.refunds):,} refunds, "
        f"{len(day.shipments):,} shipments generated in {generated - migrated:.1f} s, "
        f"copied in {written - generated:.1f} s; "
        f"files rendered and stored in {stored - written:.1f} s; "
        f"peak RSS {peak_rss() / GIB:.2f} GiB"
    )
    print(f"files stored: {stored_files()}")


def stored_files() -> str:
    """Each stored file's size, and what it takes in the database, compressed."""
    from django.db.models.functions import Length

    from reconciliation.models import StatementFile

    files = StatementFile.objects.annotate(stored=Length("content")).values_list(
        "party", "size", "stored"
    )
    return ", ".join(
        f"{party} {size / 1e6:,.1f} MB ({stored / 1e6:,.1f})" for party, size, stored in files
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
        "fee_rates_bps": day_of.fee_rates(),
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
    from reconciliation.statements import statement_content

    our_side = ours.transactions(channel, BUSINESS_DATE)
    statement = StatementFile.objects.defer("content").get(
        party=channel, business_date=BUSINESS_DATE
    )
    their_side = get_channel(channel).parse_statement(statement_content(statement))

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
