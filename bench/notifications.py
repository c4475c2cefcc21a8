"""How many signed payment notifications per second the service verifies and applies, per channel.

The providers are played by their sandboxes in a server of their own (`manage.py
sandboxes`). For each channel, setup, not measured: orders and payment attempts are created
over HTTP, so each attempt has an open trade at the channel's sandbox, and each trade is
paid at the sandbox's cashier without its notification; then the sandbox renders each
trade's "paid" notification, signed with the provider's own scheme, without sending it
(its _control/.../notify?send=false). wrk sends them to /notify/<channel>, each once, from
--clients connections, side by side with as many rounds of each baseline of bench/urls.py
(one ORM insert: a bare DRF endpoint, the targets' baseline, and a plain Django view) on the
same server: the sandboxes' signing is not on the clock, as a
real provider signs on its own machines. At the end every order must be paid.
"""

from __future__ import annotations

import base64
from functools import partial
from urllib.parse import urlsplit

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
    args = harness.arguments(__doc__, orders=600, warmup=60, inserts=3000)
    port, sandbox_port = harness.free_port(), harness.free_port()
    harness.setup_django(port, sandbox_port)
    key = harness.portal_key()
    harness.open_every_channel()

    figures, unpaid, baselines, django_baselines = {}, {}, [], []
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
            wire = harness.prepare_each(
                partial(rendered_notification, url, sandboxes, channel),
                attempt_ids,
                clients=args.clients,
            )
            harness.replay(url, wire[: args.warmup], clients=args.clients)
            wires = {channel: wire[args.warmup :], **harness.baselines(url, args.inserts)}
            measured = harness.interleaved(
                url, wires, rounds=args.rounds, clients=args.clients, servers=servers
            )
            figures[channel] = measured[channel]
            baselines.append(measured["drf"])
            django_baselines.append(measured["django"])
            unpaid[channel] = unpaid_orders(attempt_ids)
    baseline = harness.Figures.combined(baselines)
    django_baseline = harness.Figures.combined(django_baselines)

    print(
        f"\n{args.clients} connections (wrk), service: {harness.served_by(args)}, sandboxes: "
        f"`manage.py sandboxes`; {args.orders} notifications per channel and "
        f"{args.inserts} of each bare insert beside each, in {args.rounds} rounds"
    )
    base = figures["public_platform"].per_second
    for channel, measured in figures.items():
        print(measured.line(f"/notify/{channel}", unit="notifications"))
    print(baseline.line(f"POST {harness.BARE_DRF}", unit="inserts"))
    print(django_baseline.line(f"POST {harness.BARE_DJANGO}", unit="inserts"))
    for channel, measured in figures.items():
        print(
            f"  {channel:<16} {measured.per_second / base:4.2f} x public_platform   "
            f"{measured.per_second / baseline.per_second:4.2f} x bare DRF insert   "
            f"{measured.per_second / django_baseline.per_second:4.2f} x plain Django view   "
            f"{measured.cpu_line('notification')}   {SCHEMES[channel]}"
        )
    print(f"  {'bare DRF insert':<18} {baseline.cpu_line('insert')}")
    print(f"  {'plain Django view':<18} {django_baseline.cpu_line('insert')}")
    print("orders not paid at the end:", ", ".join(f"{c} {n}" for c, n in unpaid.items()))
    results.record(
        "notifications",
        harness.per_channel_figures(
            figures, baseline, clients=args.clients, django_baseline=django_baseline
        ),
    )
    baselines_failed = baseline.failures or django_baseline.failures
    failed = baselines_failed or any(measured.failures for measured in figures.values())
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


def rendered_notification(
    url: str, sandboxes: str, channel: str, session: requests.Session, attempt_id: str
) -> bytes:
    """The trade's notification, signed by the sandbox but not sent, as bytes for wrk."""
    rendered = session.post(f"{control_url(sandboxes, channel, attempt_id)}?send=false")
    rendered.raise_for_status()
    notification = rendered.json()
    target = urlsplit(notification["url"])
    return harness.raw_request(
        url,
        "POST",
        f"{target.path}?{target.query}" if target.query else target.path,
        body=base64.b64decode(notification["body_base64"]),
        headers=notification["headers"],
    )


def control_url(sandboxes: str, channel: str, attempt_id: str) -> str:
    """The sandbox's endpoint that sends (or renders) the trade's notification now (UnionPay
    names the trade by its orderId)."""
    from integrations.payments.unionpay.wire import order_id

    trade = order_id(attempt_id) if channel == "unionpay" else attempt_id
    return f"{sandboxes}/{channel}/_control/trades/{trade}/notify"


def unpaid_orders(attempt_ids: list[str]) -> int:
    from billing.models import OrderStatus, PaymentAttempt

    attempts = PaymentAttempt.objects.filter(public_id__in=attempt_ids)
    return attempts.exclude(order__status=OrderStatus.PAID).count()


if __name__ == "__main__":
    main()
