"""One simulation: N business days of seeded traffic and faults through a real deployment.

The days' traffic (simulation.traffic) and faults (simulation.faults) are drawn from the
seed before anything runs; then one timeline holds every event, every fault and every
night's work (simulation.night) at its simulated moment, and is played on the shared
clock. After each day's night work the day's figures and the invariants are printed; a
last check follows once the last day is settled and closed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Count

from billing.models import OrderStatus, PaymentOrder
from billing.webhooks import WEBHOOK_EVENT_TYPES
from core.business_days import add_business_days, configured
from demo import sandboxes
from demo.access import demo_seed
from demo.reference import DEMO_CATALOGUE
from reconciliation.models import Discrepancy
from simulation import faults, invariants, night
from simulation.beat import Beat
from simulation.clock import CLOCK_ENV, clock_set
from simulation.deployment import Deployment, deployment
from simulation.injection import Injector
from simulation.invariants import Check, Truth
from simulation.outside import held_outside
from simulation.portal import Portal, Receiver
from simulation.timeline import Timeline
from simulation.traffic import TrafficReference, business_days_from, timeline
from simulation.world import World

ACTOR = "system:simulation"
# Business days simulated after the last day of traffic, for its transfers (one a day late,
# perhaps), reports and remittances to be reconciled.
TAIL_BUSINESS_DAYS = 2
FIRST_MOMENT = night.time(7, 0)


@dataclass(frozen=True)
class Options:
    days: int
    seed: int
    start: date
    scale: float
    run_dir: Path
    keep_database: bool = False


def replay_command(options: Options) -> str:
    return (
        f"manage.py simulate --days {options.days} --seed {options.seed} "
        f"--start {options.start.isoformat()} --scale {options.scale:g}"
    )


def simulate(options: Options, say: Callable[[str], None]) -> bool:
    """Run the simulation; True when every invariant held after every day."""
    shutil.rmtree(options.run_dir, ignore_errors=True)
    options.run_dir.mkdir(parents=True)
    clock_file = options.run_dir / "clock.json"
    os.environ[CLOCK_ENV] = str(clock_file)
    calendar = configured()
    days = business_days_from(options.start, options.days, calendar)
    clock_set(night.at(days[0], FIRST_MOMENT))
    reference = TrafficReference.from_catalogue(
        json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8")), calendar
    )
    events = list(timeline(options.seed, days, reference, scale=options.scale))
    say(f"Simulating {len(days)} business days from {days[0]} to {days[-1]}, seed {options.seed}:"
        f" {len(events)} events. Replay: {replay_command(options)}")  # fmt: skip
    with deployment(
        options.run_dir, clock_file=clock_file, keep_database=options.keep_database
    ) as running:
        return _simulate(options, running, days, events, say)


def _simulate(options: Options, running: Deployment, days, events, say) -> bool:
    settings.SERVICE_BASE_URL = running.web
    settings.SANDBOX_BASE_URL = running.sandbox
    access = demo_seed()
    sandboxes.register_sf_push_url(running.sandbox)
    portal = Portal(running.web, access.portal_key)
    receiver = Receiver()
    receiver.start()
    try:
        receiver.secret = portal.subscribe(receiver.url, list(WEBHOOK_EVENT_TYPES))
        truth = Truth()
        line = Timeline()
        world = World(portal=portal, sandbox=running.sandbox, truth=truth, timeline=line)
        injector = Injector(world=world, cluster=running.cluster, truth=truth)
        for index, day in enumerate(days):
            injector.plan(faults.day_faults(options.seed, day, index, events))
        world.plan(events)
        results: list[bool] = []
        day = days[0]
        last = add_business_days(days[-1], TAIL_BUSINESS_DAYS)
        while day <= last:
            _night(line, running, world, injector, receiver, day, results, say)
            day += timedelta(days=1)
        line.play(before_jump=running.settle, tick=Beat.from_settings().tick)
        running.idle()
        night.runs_idle(running.cluster)
        final = _checks(running, world, receiver, through=last, final=True)
        kinds = Counter(fault.kind.value for fault in injector.planned)
        say(f"End of the simulation: {len(injector.planned)} faults injected "
            f"({', '.join(f'{kind} {n}' for kind, n in sorted(kinds.items()))})")  # fmt: skip
        for check in final:
            say(check.line())
        results.append(all(check.held for check in final))
        return all(results)
    finally:
        receiver.stop()


def _night(line, running, world, injector, receiver, day, results, say) -> None:
    """The night after ``day``: its runs, then the next morning's transfers, reports,
    figures and checks."""
    after = day + timedelta(days=1)
    happened: Counter = Counter()

    def midnight() -> None:
        happened.update(world.figures)
        world.figures.clear()

    line.add(night.at(after, night.time(0)), f"end of {day}", midnight)

    def runs() -> None:
        running.idle()  # beat's tasks sent at the jump have asked for the runs
        night.runs_finished(running.cluster, day)

    line.add(night.at(after, night.RUNS_START), f"runs of {day}", runs)

    def morning() -> None:
        runs()
        night.files_given_again(running.cluster, day, world.damaged_files, actor=ACTOR)
        bent = night.book_transfers(running.sandbox, day, injector.credit_faults)
        struck = injector.struck_on(day)
        night.close_the_day(running.cluster, day, actor=ACTOR)
        checks = _checks(running, world, receiver, through=day, final=False)
        say(_figures(day, happened, bent, struck))
        for check in checks:
            say(check.line())
        results.append(all(check.held for check in checks))

    line.add(night.at(after, night.MORNING), f"closing {day}", morning)


def _checks(
    running: Deployment, world: World, receiver: Receiver, *, through: date, final: bool
) -> list[Check]:
    truth = world.truth
    return [
        *invariants.money_conserved(truth),
        invariants.treasury_paid(),
        *invariants.ledger_balanced(truth),
        invariants.paid_at_most_once(),
        invariants.runs_succeeded(truth, through),
        *invariants.delivered(receiver, held_outside(running.sandbox), final=final),
        invariants.faults_explained(truth, through, final=final),
        invariants.no_personal_data_in_logs(truth, sorted(running.cluster.logs.glob("*.log"))),
    ]


def _figures(day: date, happened: Counter, bent: list[str], struck: list[str]) -> str:
    orders = Counter(
        dict(PaymentOrder.objects.values_list("status").annotate(n=Count("id")).order_by())
    )
    items = Counter(
        dict(
            Discrepancy.objects.filter(business_date=day)
            .values_list("type")
            .annotate(n=Count("id"))
            .order_by()
        )
    )
    traffic = ", ".join(f"{name} {n}" for name, n in sorted(happened.items()))
    return "\n".join(
        [
            f"{day}: {traffic or 'no traffic'}",
            f"  orders by status: paid {orders[OrderStatus.PAID]}, expired "
            f"{orders[OrderStatus.EXPIRED]}, refunded {orders[OrderStatus.REFUNDED]}, "
            f"partially refunded {orders[OrderStatus.PARTIALLY_REFUNDED]}, open "
            f"{orders[OrderStatus.UNPAID] + orders[OrderStatus.PAYING]}",
            f"  items of the day: {dict(sorted(items.items())) or 'none'}",
            f"  faults: {'; '.join(struck) or 'none'}",
            f"  transfers bent: {'; '.join(bent) or 'none'}",
        ]
    )
