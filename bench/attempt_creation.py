"""How long the service takes to route a payment and open its trade at the channel.

The providers are played by their sandboxes in a server of their own, as in
bench/notifications.py. For "auto" and then each channel: orders are created over HTTP
(setup, not measured), then POST /api/v1/payment-orders/{id}/payments with that channel
is sent once per order by wrk over --clients connections, side by side with as many rounds
of POST /bench/insert-one (one ORM insert, the baseline) on the same server. Each call
routes (department, licence, limits, circuit breaker), records the attempt, signs and sends
the provider's create-trade request, checks its answer and stores the pay_url (for UnionPay
it only signs the form the payer's browser takes to the gateway); the sandbox's work is on
the clock too, on the same two cores.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import partial

import harness
import results
from order_creation import new_order

REQUESTS = ("auto", *harness.CHANNELS)


def main() -> None:
    args = harness.arguments(__doc__, attempts=600, warmup=60, inserts=3000)
    port, sandbox_port = harness.free_port(), harness.free_port()
    harness.setup_django(port, sandbox_port)
    key = harness.portal_key()
    harness.open_every_channel()

    figures, chosen, baselines = {}, {}, []
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
            wire = [attempt_request(url, key, channel, order_id) for order_id in order_ids]
            harness.replay(url, wire[: args.warmup], clients=args.clients)
            measured = harness.interleaved(
                url,
                {channel: wire[args.warmup :], "inserts": harness.bare_inserts(url, args.inserts)},
                rounds=args.rounds,
                clients=args.clients,
                servers=servers,
            )
            figures[channel] = measured[channel]
            baselines.append(measured["inserts"])
            chosen[channel] = chosen_channels(order_ids[args.warmup :])
    baseline = harness.Figures.combined(baselines)

    print(
        f"\n{args.clients} connections (wrk), service: {harness.served_by(args)}, sandboxes: "
        f"`manage.py sandboxes`; {args.attempts} attempts per channel and {args.inserts} "
        f"bare inserts beside each, in {args.rounds} rounds"
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


def attempt_request(url: str, key: str, channel: str, order_id: str) -> bytes:
    """The portal's call that opens a payment of the order on the channel, as bytes for wrk."""
    return harness.raw_request(
        url,
        "POST",
        f"/api/v1/payment-orders/{order_id}/payments",
        body=json.dumps({"channel": channel}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def chosen_channels(order_ids: list[str]) -> Counter:
    """The channels the orders' attempts were opened on, with how many on each."""
    from billing.models import PaymentAttempt

    attempts = PaymentAttempt.objects.filter(order__public_id__in=order_ids)
    return Counter(attempts.values_list("channel", flat=True))


if __name__ == "__main__":
    main()
