"""How long the service takes to route a payment and open its trade at the channel.

The providers are played by their sandboxes in a server of their own, as in
bench/notifications.py. For "auto" and then each channel: orders are created over HTTP
(setup, not measured), then POST /api/v1/payment-orders/{id}/payments with that channel
is sent once per order from concurrent clients and timed. Each call routes (department,
licence, limits, circuit breaker), records the attempt, signs and sends the provider's
create-trade request, checks its answer and stores the pay_url (for UnionPay it only signs
the form the payer's browser takes to the gateway). Then, the baseline: POST
/bench/insert-one (one ORM insert) on the same server for --seconds, from the same clients;
each channel's rate is also printed as a multiple of it.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

import harness
import requests
import results
from order_creation import new_order

REQUESTS = ("auto", *harness.CHANNELS)


def main() -> None:
    args = harness.arguments(__doc__, attempts=120, warmup=12, seconds=5)
    port, sandbox_port = harness.free_port(), harness.free_port()
    harness.setup_django(port, sandbox_port)
    key = harness.portal_key()
    harness.open_every_channel()

    figures, chosen = {}, {}
    with (
        harness.queued_tasks(),
        harness.running_service_and_sandboxes(
            port, sandbox_port, args.workers, args.threads
        ) as servers,
    ):
        url = servers["service"].url
        for channel in REQUESTS:
            order_ids = harness.prepare(
                partial(new_order, url=url, key=key),
                count=args.warmup + args.attempts,
                clients=args.clients,
            )
            start = partial(start_attempt, url, key, channel)
            warmup, timed = order_ids[: args.warmup], order_ids[args.warmup :]
            harness.measure(harness.once_each(warmup, start), clients=args.clients)
            figures[channel] = harness.measure(
                harness.once_each(timed, start), clients=args.clients, servers=servers
            )
            chosen[channel] = chosen_channels(timed)
        baseline = harness.measure_baseline(
            url, clients=args.clients, seconds=args.seconds, servers=servers
        )

    print(
        f"\n{args.clients} clients, service: {harness.served_by(args)}, sandboxes: "
        f"`manage.py sandboxes`; {args.attempts} attempts per channel, baseline "
        f"{args.seconds} s"
    )
    for channel, measured in figures.items():
        print(measured.line(f'"channel": "{channel}"', unit="attempts"))
    print(baseline.line("POST /bench/insert-one", unit="inserts"))
    for channel, measured in figures.items():
        on = ", ".join(f"{code} {count}" for code, count in chosen[channel].items())
        print(
            f"  {channel:<16} {measured.per_second / baseline.per_second:4.2f} x bare insert   "
            f"{measured.cpu_line('attempt')}   opened on: {on}"
        )
    print(f"  {'bare insert':<16} {baseline.cpu_line('insert')}")
    results.record(
        "attempt_creation", harness.per_channel_figures(figures, baseline, clients=args.clients)
    )
    if baseline.failures or any(measured.failures for measured in figures.values()):
        raise SystemExit("some attempts failed; see var/bench-server.log and bench-sandbox.log")


def start_attempt(
    url: str, key: str, channel: str, session: requests.Session, order_id: str
) -> int:
    return session.post(
        f"{url}/api/v1/payment-orders/{order_id}/payments",
        json={"channel": channel},
        headers={"Authorization": f"Bearer {key}"},
    ).status_code


def chosen_channels(order_ids: list[str]) -> Counter:
    """The channels the orders' attempts were opened on, with how many on each."""
    from billing.models import PaymentAttempt

    attempts = PaymentAttempt.objects.filter(order__public_id__in=order_ids)
    return Counter(attempts.values_list("channel", flat=True))


if __name__ == "__main__":
    main()
