"""How many signed payment notifications per second the service verifies and applies, per channel.

The providers are played by their sandboxes in a server of their own (`manage.py
sandboxes`), so their signing is not done by the server under test. For each channel,
setup, not measured: orders and payment attempts are created over HTTP, so each attempt
has an open trade at the channel's sandbox, and each trade is paid at the sandbox's
cashier without its notification. Then
the sandbox is asked (its _control/.../notify endpoint) to send each trade's "paid"
notification, signed with the provider's own scheme, to /notify/<channel>; it answers
once the service has. Those round trips, from concurrent clients, are timed. At the end
every order must be paid. Then, the baseline: POST /bench/insert-one (one ORM insert) on
the same server for --seconds, from the same clients.
"""

from __future__ import annotations

from functools import partial

import harness
import requests
import results
from order_creation import new_order

SCHEMES = {
    "public_platform": "RSA2 over the JSON body",
    "alipay": "RSA2 over the sorted form",
    "wechatpay": "RSA over headers, AES-256-GCM resource",
    "unionpay": "SHA-256 + RSA, certificate in the form",
}


def main() -> None:
    args = harness.arguments(__doc__, orders=100, warmup=10, seconds=5)
    port, sandbox_port = harness.free_port(), harness.free_port()
    harness.setup_django(port, sandbox_port)
    key = harness.portal_key()
    harness.open_every_channel()

    figures, unpaid = {}, {}
    with (
        harness.queued_tasks(),
        harness.running_service_and_sandboxes(
            port, sandbox_port, args.workers, args.threads
        ) as servers,
    ):
        url, sandboxes = servers["service"].url, servers["sandboxes"].url
        for channel in harness.CHANNELS:
            attempt_ids = harness.prepare(
                partial(paid_trade, url=url, key=key, channel=channel),
                count=args.warmup + args.orders,
                clients=args.clients,
            )
            controls = [control_url(sandboxes, channel, id_) for id_ in attempt_ids]
            warmup, timed = controls[: args.warmup], controls[args.warmup :]
            harness.measure(harness.once_each(warmup, ask_to_notify), clients=args.clients)
            figures[channel] = harness.measure(
                harness.once_each(timed, ask_to_notify), clients=args.clients, servers=servers
            )
            unpaid[channel] = unpaid_orders(attempt_ids)
        baseline = harness.measure_baseline(
            url, clients=args.clients, seconds=args.seconds, servers=servers
        )

    print(
        f"\n{args.clients} clients, service: {harness.served_by(args)}, sandboxes: "
        f"`manage.py sandboxes`; {args.orders} notifications per channel, baseline "
        f"{args.seconds} s"
    )
    base = figures["public_platform"].per_second
    for channel, measured in figures.items():
        print(measured.line(f"/notify/{channel}", unit="notifications"))
    print(baseline.line("POST /bench/insert-one", unit="inserts"))
    for channel, measured in figures.items():
        print(
            f"  {channel:<16} {measured.per_second / base:4.2f} x public_platform   "
            f"{measured.per_second / baseline.per_second:4.2f} x bare insert   "
            f"{measured.cpu_line('notification')}   {SCHEMES[channel]}"
        )
    print(f"  {'bare insert':<16} {baseline.cpu_line('insert')}")
    print("orders not paid at the end:", ", ".join(f"{c} {n}" for c, n in unpaid.items()))
    results.record(
        "notifications", harness.per_channel_figures(figures, baseline, clients=args.clients)
    )
    failed = baseline.failures or any(measured.failures for measured in figures.values())
    if failed or any(unpaid.values()):
        raise SystemExit(
            "some notifications were not applied; see var/bench-server.log and bench-sandbox.log"
        )


def paid_trade(session: requests.Session, *, url: str, key: str, channel: str) -> str:
    """Create an order and its attempt on the channel, pay the trade at the sandbox without a
    notification; return the attempt's id (the trade's out_trade_no)."""
    attempt = session.post(
        f"{url}/api/v1/payment-orders/{new_order(session, url, key)}/payments",
        json={"channel": channel},
        headers={"Authorization": f"Bearer {key}"},
    )
    attempt.raise_for_status()
    paid = {"result": "success", "notify": False}
    session.post(attempt.json()["pay_url"], json=paid).raise_for_status()
    return attempt.json()["id"]


def control_url(sandboxes: str, channel: str, attempt_id: str) -> str:
    """The sandbox's endpoint that sends the trade's notification now (UnionPay names the
    trade by its orderId)."""
    from integrations.payments.unionpay.wire import order_id

    trade = order_id(attempt_id) if channel == "unionpay" else attempt_id
    return f"{sandboxes}/{channel}/_control/trades/{trade}/notify"


def ask_to_notify(session: requests.Session, control: str) -> int:
    """The status the service answered the sandbox's notification with (0: no answer)."""
    answer = session.post(control)
    if not answer.ok:
        return answer.status_code
    return answer.json()["status_code"] or 0


def unpaid_orders(attempt_ids: list[str]) -> int:
    from billing.models import OrderStatus, PaymentAttempt

    attempts = PaymentAttempt.objects.filter(public_id__in=attempt_ids)
    return attempts.exclude(order__status=OrderStatus.PAID).count()


if __name__ == "__main__":
    main()
