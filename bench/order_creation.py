"""How many payment orders per second the service creates, against a bare one-row insert.

Both endpoints are measured in the same run, on the same server (gunicorn, PostgreSQL),
side by side in each of --rounds rounds, by wrk over --clients connections: POST
/api/v1/payment-orders with a fresh Idempotency-Key each time, and the two baselines of
bench/urls.py, each nothing but one ORM insert: a bare DRF endpoint (the targets' baseline)
and a plain Django view (the least a Django write endpoint can cost). Their ratios are what
the order path costs above each.
"""

from __future__ import annotations

import json
import uuid

import harness
import requests
import results


def order_body() -> dict:
    return {
        "case_number": f"BENCH-{uuid.uuid4().hex[:12]}",
        "service_item_code": "330100-GACRJ-CRJ-PTHZ",
        "department": "330100-GACRJ",
        "region_code": "330100",
        "payer": {"type": "natural", "name": "王小明", "id_number": "11010519491231002X"},
        "lines": [{"fee_item": "CRJ-PTHZ", "quantity": 1, "amount": 12000}],
    }


def post_order(session: requests.Session, url: str, key: str) -> requests.Response:
    """The portal's call: one order, under a fresh Idempotency-Key."""
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": str(uuid.uuid4())}
    return session.post(f"{url}/api/v1/payment-orders", json=order_body(), headers=headers)


def new_order(session: requests.Session, url: str, key: str) -> str:
    """Create an order for a benchmark's setup; return its id."""
    order = post_order(session, url, key)
    order.raise_for_status()
    return order.json()["id"]


def statements_per_order(key: str) -> int:
    """The SQL statements of one order through the API in this process (Django's test
    client: the same view, middleware and database), after one to warm the caches."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {key}")

    def post() -> None:
        response = client.post(
            "/api/v1/payment-orders",
            order_body(),
            content_type="application/json",
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.content

    post()
    with CaptureQueriesContext(connection) as statements:
        post()
    sql = [query["sql"] for query in statements.captured_queries]
    return sum(1 for text in sql if text not in ("BEGIN", "COMMIT"))


def order_requests(url: str, key: str, count: int) -> list[bytes]:
    """``count`` of the portal's calls, as bytes for wrk, each under its own Idempotency-Key."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    return [
        harness.raw_request(
            url,
            "POST",
            "/api/v1/payment-orders",
            body=json.dumps(order_body()).encode(),
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
        for _ in range(count)
    ]


def main() -> None:
    args = harness.arguments(__doc__, orders=6000, inserts=12000)
    port = harness.free_port()
    harness.setup_django(port)
    key = harness.portal_key()
    statements = statements_per_order(key)

    with harness.queued_tasks(), harness.running_server(port, args.workers, args.threads) as server:
        url = server.url
        harness.interleaved(url, paths(url, key, 200, 500), rounds=1, clients=args.clients)
        measured = harness.interleaved(
            url,
            paths(url, key, args.orders, args.inserts),
            rounds=args.rounds,
            clients=args.clients,
            servers={"server": server},
        )
    orders, drf, django = measured["orders"], measured["drf"], measured["django"]

    print(
        f"\n{args.clients} connections (wrk), {harness.served_by(args)}, "
        f"{args.rounds} rounds of each path"
    )
    print(orders.line("POST /api/v1/payment-orders"))
    print(drf.line(f"POST {harness.BARE_DRF}"))
    print(django.line(f"POST {harness.BARE_DJANGO}"))
    print(f"ratio orders / bare DRF insert:    {orders.per_second / drf.per_second:.2f}")
    print(f"ratio orders / plain Django view:  {orders.per_second / django.per_second:.2f}")
    print(f"SQL statements per order:          {statements}")
    print(f"  orders:             {orders.cpu_line('order')}")
    print(f"  bare DRF insert:    {drf.cpu_line('insert')}")
    print(f"  plain Django view:  {django.cpu_line('insert')}")
    results.record(
        "order_creation",
        {
            "clients": args.clients,
            "rate": orders.per_second,
            "p99_ms": orders.percentile_ms(99),
            "baseline_rate": drf.per_second,
            "django_baseline_rate": django.per_second,
            "statements": statements,
        },
    )
    if orders.failures or drf.failures or django.failures:
        raise SystemExit("some requests failed; see var/bench-server.log")


def paths(url: str, key: str, orders: int, inserts: int) -> dict[str, list[bytes]]:
    """The three paths measured side by side: orders and each baseline."""
    return {"orders": order_requests(url, key, orders), **harness.baselines(url, inserts)}


if __name__ == "__main__":
    main()
