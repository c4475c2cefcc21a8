"""How many signed payment notifications per second the service verifies and applies.

Setup, not measured: orders and payment attempts are created over HTTP, so each attempt
has an open trade at the public payment platform's sandbox, and each trade is paid at
the sandbox's cashier without its own notification. Then one "paid" notification per
trade, signed with the platform's development key as the platform signs them, is
POSTed concurrently to /notify/public_platform and timed. At the end every order must
be paid.
"""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from queue import Empty, SimpleQueue

import harness
import requests
from order_creation import order_body

BEIJING = timezone(timedelta(hours=8))


def main() -> None:
    args = harness.arguments(__doc__, orders=500, warmup=40)
    port = harness.free_port()
    harness.setup_django(port)
    key = harness.portal_key()

    with harness.running_server(port, args.threads) as url:

        with ThreadPoolExecutor(args.clients) as pool:
            count = args.warmup + args.orders
            attempt_ids = list(pool.map(lambda _: paid_trade(url, key), range(count)))
        bodies = signed_notifications(attempt_ids)

        harness.measure(sender(url, bodies[: args.warmup]), clients=args.clients)
        figures = harness.measure(sender(url, bodies[args.warmup :]), clients=args.clients)

    unpaid = unpaid_orders(attempt_ids)
    print(f"\n{args.clients} clients, {args.threads} server threads, {args.orders} notifications")
    print(figures.line("POST /notify/public_platform", unit="notifications"))
    print(f"orders not paid at the end: {unpaid}")
    if figures.failures or unpaid:
        raise SystemExit("some notifications were not applied; see var/bench-server.log")


def paid_trade(url: str, key: str) -> str:
    """Create an order and its attempt, pay the trade at the sandbox without a notification;
    return the attempt's id (the trade's out_trade_no)."""
    portal = {"Authorization": f"Bearer {key}"}
    with requests.Session() as session:
        order = session.post(
            f"{url}/api/v1/payment-orders",
            json=order_body(),
            headers={**portal, "Idempotency-Key": str(uuid.uuid4())},
        )
        order.raise_for_status()
        attempt = session.post(
            f"{url}/api/v1/payment-orders/{order.json()['id']}/payments",
            json={"channel": "public_platform"},
            headers=portal,
        )
        attempt.raise_for_status()
        paid = {"result": "success", "notify": False}
        session.post(attempt.json()["pay_url"], json=paid).raise_for_status()
        return attempt.json()["id"]


def sender(url: str, bodies: list[bytes]) -> harness.Send:
    """POSTs each body once, from whichever client thread asks next."""
    pending: SimpleQueue[bytes] = SimpleQueue()
    for body in bodies:
        pending.put(body)
    headers = {"Content-Type": "application/json; charset=utf-8"}

    def notify(session: requests.Session) -> int | None:
        try:
            body = pending.get_nowait()
        except Empty:
            return None
        return session.post(f"{url}/notify/public_platform", data=body, headers=headers).status_code

    return notify


def signed_notifications(attempt_ids: list[str]) -> list[bytes]:
    """One SUCCESS notification per attempt, as the platform sends it (docs/public_platform.md)."""
    from django.conf import settings

    from billing.models import PaymentAttempt
    from integrations.payments import signing

    sandbox = settings.SANDBOX_PUBLIC_PLATFORM
    platform_key = signing.load_private_key(sandbox["platform_private_key_pem"])
    now = datetime.now(BEIJING).isoformat(timespec="seconds")
    attempts = PaymentAttempt.objects.filter(public_id__in=attempt_ids).select_related("order")
    by_id = {attempt.public_id: attempt for attempt in attempts}
    bodies = []
    for attempt_id in attempt_ids:
        attempt = by_id[attempt_id]
        message = {
            "notify_id": uuid.uuid4().hex,
            "notify_time": now,
            "notify_type": "trade.status_sync",
            "app_id": settings.PUBLIC_PLATFORM["app_id"],
            "out_trade_no": attempt.public_id,
            "trade_no": attempt.provider_trade_no,
            "payment_code": attempt.order.payment_code,
            "amount": attempt.amount,
            "trade_status": "SUCCESS",
            "paid_time": now,
            "fail_reason": "",
        }
        notification = signing.signed(message, platform_key)
        bodies.append(json.dumps(notification, ensure_ascii=False).encode("utf-8"))
    return bodies


def unpaid_orders(attempt_ids: list[str]) -> int:
    from billing.models import OrderStatus, PaymentAttempt

    attempts = PaymentAttempt.objects.filter(public_id__in=attempt_ids)
    return attempts.exclude(order__status=OrderStatus.PAID).count()


if __name__ == "__main__":
    main()
