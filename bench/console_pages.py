"""The finance console's pages on a business date of a million payments.

Runs against the database bench/reconciliation.py leaves behind for --size payments (run
that first, with the same DATABASE_URL), after its runs and discrepancies are stored.
Each page is requested in-process through Django's test client (view, queries, template;
no network), REPEAT times after one warm-up, as an unscoped finance user and as one limited
to a single department. Figures: p50 and p95 in milliseconds and the SQL statements per
page, beside the liveness endpoint measured in the same run as the floor.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--size", type=int, default=1_000_000, help="of the reconciled day")
    args = parser.parse_args()
    day_bench = _reconciliation_bench()
    base_url = os.environ.get("DATABASE_URL", day_bench.DEFAULT_DATABASE_URL)
    os.environ["DATABASE_URL"] = day_bench.size_database_url(base_url, args.size)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    measure(args.repeat)


def measure(repeat: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from billing.models import PaymentOrder, StaffScope
    from billing.staff import ensure_finance_group
    from logistics.models import Shipment
    from reconciliation.models import Discrepancy, ReconciliationRun

    run = ReconciliationRun.objects.filter(party_kind="processor").order_by("-id").first()
    if run is None:
        raise SystemExit("no reconciliation runs here: run bench/reconciliation.py first")
    day = run.business_date.isoformat()
    biggest = max(
        ReconciliationRun.objects.filter(business_date=run.business_date, party_kind="processor"),
        key=lambda r: r.totals.get("theirs", {}).get("count", 0),
    )
    # Both sides, and a department: the scoped user is limited to the item's.
    item = Discrepancy.objects.filter(run=biggest, type="amount_mismatch").first()
    order = PaymentOrder.objects.filter(department=item.department).order_by("id").first()
    waybill = Shipment.objects.order_by("id").values_list("waybill_no", flat=True).first()
    pages = {
        "liveness (floor)": "/healthz",
        "morning view": f"/console/?date={day}",
        "runs list": "/console/runs/",
        "run detail (largest processor)": f"/console/runs/{biggest.pk}/",
        "discrepancy queue, all": "/console/discrepancies/?status=all",
        "queue, one type and party": (
            f"/console/discrepancies/?status=all&type=amount_mismatch&party={biggest.party}"
        ),
        "discrepancy detail": f"/console/discrepancies/{item.pk}/",
        "orders, newest first": "/console/orders/",
        "orders: one channel": "/console/orders/?channel=alipay",
        "refunds, newest first": "/console/refunds/",
        "orders: case number": f"/console/orders/?q={order.case_number}",
        "orders: payer ID (blind index)": "/console/orders/?payer_id=11010519491231002X",
        "order detail": f"/console/orders/{order.public_id}/",
        "shipments: waybill": f"/console/shipments/?q={waybill}",
        "processors": "/console/processors/",
        "backlogs": "/console/backlogs/",
    }

    ensure_finance_group()
    users = get_user_model().objects
    everyone = users.filter(username="bench-finance").first() or users.create_superuser(
        "bench-finance", password=None
    )
    scoped = users.filter(username="bench-scoped").first() or users.create_user(
        "bench-scoped", password=None, is_staff=True
    )
    scoped.groups.add(ensure_finance_group())
    scope, _ = StaffScope.objects.get_or_create(user=scoped)
    scope.departments.set([item.department])

    print(f"{Discrepancy.objects.count():,} discrepancies, runs of {day}, {repeat} requests a page")
    print(f"{'page':34} {'all departments':>26} {'one department':>26}")
    print(f"{'':34} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>8} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>8}")
    for name, url in pages.items():
        figures = []
        for user in (everyone, scoped):
            client = Client(HTTP_ACCEPT_LANGUAGE="en", HTTP_HOST="127.0.0.1")
            client.force_login(user)
            answer = client.get(url)  # warm-up
            assert answer.status_code == 200, (url, answer.status_code)
            statements: list[str] = []
            with connection.execute_wrapper(counting(statements)):
                client.get(url)
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.get(url)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p95 = times[max(0, round(0.95 * len(times)) - 1)]
            figures += [statistics.median(times), p95, len(statements)]
        print(
            f"{name:34} "
            + " ".join(
                f"{value:>8.1f}" if i % 3 != 2 else f"{value:>8d}"
                for i, value in enumerate(figures)
            )
        )


def _reconciliation_bench():
    """bench/reconciliation.py, which names the database (its name is the app's, so by path)."""
    spec = importlib.util.spec_from_file_location(
        "reconciliation_bench", Path(__file__).with_name("reconciliation.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def counting(statements: list[str]):
    """A database execute wrapper that keeps each statement's SQL."""

    def wrapper(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    return wrapper


if __name__ == "__main__":
    main()
