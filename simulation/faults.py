"""What goes wrong on a simulated day, as a plan: which fault, when, to what, and what it
must become once the service has dealt with it.

``day_faults`` deals the day's faults from a deck of every kind, shuffled by the seed, so
that each kind comes round every week or so; it aims each at a target the day's traffic
offers (a payment, a scan, a processor, a clearing, a party's file) and leaves out one that
would clash with a fault already planned on the same target at the same time. Pure: the
same seed, day and events give the same plan.

A fault's expectation is what the simulator checks afterwards: it heals (nothing is left
once the system has recovered), the party's run of the date fails until the file is given
again, or it becomes a discrepancy of the reconciliation (reconciliation/models.py), at
the party named, settled by the reconciliation itself or left to a person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from random import Random
from types import MappingProxyType

from simulation.traffic import (
    CHANNEL_MIX,
    COURIER_MIX,
    ORDER_TIME_LIMIT,
    SHANGHAI,
    Event,
    EventKind,
    draws,
)

FAULTS_PER_DAY = (2, 4)  # the fewest and most faults a day, as many days each
# RECONCILIATION["cutoff_grace"]: a line on one side only this close to 24:00 is a timing item.
CUTOFF_GRACE = timedelta(minutes=5)
# Where a processor's own day turns before 24:00, as RECONCILIATION["day_turns_at"] says:
# a line missing near it is a timing item, not one missing.
DAY_TURNS_AT = {"unionpay": time(23, 0)}
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
# Faults on a payment aim at orders paid once and not refunded: what they become is theirs alone.
_PAID_TWICE_OR_REFUNDED = (
    EventKind.DOUBLE_PAYMENT,
    EventKind.REFUND_FULL,
    EventKind.REFUND_PARTIAL,
)


class FaultKind(StrEnum):
    NOTIFICATION_LOST = "notification_lost"
    NOTIFICATION_DUPLICATED = "notification_duplicated"
    NOTIFICATION_REORDERED = "notification_reordered"
    NOTIFICATION_LATE = "notification_late"
    COURIER_PUSH_LOST = "courier_push_lost"
    COURIER_PUSH_DUPLICATED = "courier_push_duplicated"
    COURIER_PUSH_REORDERED = "courier_push_reordered"
    PROVIDER_DOWN = "provider_down"
    PROVIDER_SLOW = "provider_slow"
    REVENUE_DOWN_DAY = "revenue_down_day"
    RECEIPTS_DOWN_DAY = "receipts_down_day"
    WORKER_KILLED = "worker_killed"
    WEB_RESTARTED = "web_restarted"
    BANK_CREDIT_LATE = "bank_credit_late"
    BANK_CREDIT_SHORT = "bank_credit_short"
    BILL_LINE_MISSING = "bill_line_missing"
    STATEMENT_MALFORMED = "statement_malformed"
    CUTOFF_CLOCK = "cutoff_clock"


class Outcome(StrEnum):
    HEALS = "heals"
    DISCREPANCY = "discrepancy"
    # The party's run of the date fails naming the damaged line; with the file given again
    # (uploaded), it runs and nothing is left.
    RUN_FAILS = "run_fails"


@dataclass(frozen=True)
class Expectation:
    """What the fault must become. `discrepancy` is a DiscrepancyType value and `party_kind`
    a PartyKind value (reconciliation/models.py); `party` names the party as
    reconciliation/parties.py does (a processor's code, ``courier:<code>``, ``receipts``),
    or for a bank the department whose settlement account's statement shows it, and is
    empty for the revenue system (every department's)."""

    outcome: Outcome
    discrepancy: str = ""
    party_kind: str = ""
    party: str = ""
    auto_resolves: bool = False  # settled by the reconciliation, not left to a person


HEALS = Expectation(Outcome.HEALS)


@dataclass(frozen=True)
class Fault:
    at: datetime  # when it strikes (a day-long fault: the day's 00:00), Asia/Shanghai
    kind: FaultKind
    # An order's reference (its payment, its shipment's scan, its bill line), a processor,
    # a clearing "<processor>:<department>", a party's code, or a process: "revenue",
    # "receipts", "worker", "web".
    target: str
    parameters: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    expectation: Expectation = HEALS


@dataclass(frozen=True)
class _Claim:
    """A fault's hold on a target for a while: no other fault may hold it exclusively then,
    nor hold it at all while it is held exclusively."""

    key: str
    start: datetime
    end: datetime
    exclusive: bool = True

    def clashes(self, other: _Claim) -> bool:
        return (
            self.key == other.key
            and (self.exclusive or other.exclusive)
            and self.start < other.end
            and other.start < self.end
        )


@dataclass(frozen=True)
class _Paid:
    at: datetime
    order: str
    created_at: datetime
    channel: str
    department: str
    shipped: bool


@dataclass(frozen=True)
class _Scan:
    at: datetime
    order: str
    courier: str
    status: str
    next_at: datetime  # the shipment's next scan


@dataclass(frozen=True)
class _Day:
    """What the day's traffic offers to aim at."""

    start: datetime
    plain: tuple[_Paid, ...]  # payments of the day of orders paid once and not refunded
    clearings: Mapping[tuple[str, str], int]  # (processor, department): the day's payments
    scans: tuple[_Scan, ...]  # the day's scans followed by another of their shipment

    @property
    def end(self) -> datetime:
        return self.start + DAY

    def whole(self, key: str, *, exclusive: bool = True) -> _Claim:
        return _Claim(key, self.start, self.end, exclusive)

    @classmethod
    def of(cls, day: date, events: Sequence[Event]) -> _Day:
        created, departments, couriers, scans = {}, {}, {}, defaultdict(list)
        for event in events:
            if event.kind == EventKind.ORDER_CREATED:
                created[event.order] = event.at
                departments[event.order] = event.payload.department
            elif event.kind == EventKind.SHIPMENT_CREATED:
                couriers[event.order] = event.payload.courier
            elif event.kind == EventKind.SHIPMENT_SCAN:
                scans[event.order].append(event)
        twice = {event.order for event in events if event.kind in _PAID_TWICE_OR_REFUNDED}
        payments = [
            event
            for event in events
            if event.kind in (EventKind.PAYMENT, EventKind.DOUBLE_PAYMENT)
            and event.at.date() == day
        ]
        clearings = defaultdict(int)
        for event in payments:
            clearings[event.payload.channel, departments[event.order]] += event.payload.amount
        plain = tuple(
            _Paid(
                event.at,
                event.order,
                created[event.order],
                event.payload.channel,
                departments[event.order],
                shipped=event.order in couriers,
            )
            for event in payments
            if event.kind == EventKind.PAYMENT and event.order not in twice
        )
        followed = tuple(
            _Scan(scan.at, ref, couriers[ref], scan.payload.status, after.at)
            for ref, shipment in scans.items()
            for scan, after in pairwise(shipment)
            if scan.at.date() == day
        )
        start = datetime.combine(day, time(0), SHANGHAI)
        return cls(start, plain, MappingProxyType(dict(clearings)), followed)


Candidate = tuple[Fault, tuple[_Claim, ...]]


def day_faults(seed: int, day: date, day_index: int, events: Sequence[Event]) -> list[Fault]:
    """The day's faults, by time: those dealt for the day that find a target free of any
    fault planned before them. `events` is the day's traffic, or the whole timeline's:
    only what happens on the day is aimed at."""
    facts = _Day.of(day, events)
    rng = draws(seed, "faults", day_index)
    planned: list[Candidate] = []
    for kind in dealt(seed, day_index):
        for fault, claims in _CANDIDATES[kind](kind, rng, facts):
            held = [claim for _, holds in planned for claim in holds]
            if not any(mine.clashes(theirs) for mine in claims for theirs in held):
                planned.append((fault, claims))
                break
    return sorted((fault for fault, _ in planned), key=lambda f: (f.at, f.kind, f.target))


def dealt(seed: int, day_index: int) -> list[FaultKind]:
    """The kinds dealt for the day: the next cards of the seed's deck, a few a day."""
    counts = [draws(seed, "fault-count", i).randint(*FAULTS_PER_DAY) for i in range(day_index + 1)]
    first = sum(counts[:-1])
    size = len(FaultKind)
    return [_deck(seed, p // size)[p % size] for p in range(first, first + counts[-1])]


def _deck(seed: int, cycle: int) -> list[FaultKind]:
    deck = list(FaultKind)
    draws(seed, "deck", cycle).shuffle(deck)
    return deck


# -- the candidates of each kind, in the order they are tried ---------------------------


def _notification(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """A payment's notification from its channel lost, sent twice or more, held back behind
    later ones, or hours late. Heals: an attempt not notified within a minute is asked of
    the channel (sweep_overdue_attempts), and a notification is applied once."""
    for paid in rng.sample(day.plain, len(day.plain)):
        parameters = {"channel": paid.channel}
        delay = 10 * MINUTE
        if kind == FaultKind.NOTIFICATION_DUPLICATED:
            parameters["copies"] = rng.randint(2, 3)
        elif kind == FaultKind.NOTIFICATION_REORDERED:
            parameters["delay_seconds"] = rng.randint(30, 300)
        elif kind == FaultKind.NOTIFICATION_LATE:
            hours = rng.randint(1, 6)
            parameters["delay_hours"] = hours
            delay += timedelta(hours=hours)
        yield (
            Fault(paid.at, kind, paid.order, MappingProxyType(parameters)),
            (
                day.whole(f"order:{paid.order}"),
                _Claim(f"processor:{paid.channel}", paid.at, paid.at + delay, exclusive=False),
            ),
        )


def _courier_push(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """A courier's push of a scan lost, sent twice, or sent after the shipment's next scan.
    Heals: routes are polled, scans are stored once, and the status follows scan time."""
    for scan in rng.sample(day.scans, len(day.scans)):
        parameters = {"courier": scan.courier, "status": scan.status, "scan_at": scan.at}
        if kind == FaultKind.COURIER_PUSH_DUPLICATED:
            parameters["copies"] = 2
        elif kind == FaultKind.COURIER_PUSH_REORDERED:
            after = scan.next_at - scan.at + timedelta(seconds=rng.randint(60, 600))
            parameters["delay_seconds"] = int(after.total_seconds())
        fault = Fault(scan.at, kind, scan.order, MappingProxyType(parameters))
        yield fault, (day.whole(f"shipment:{scan.order}"),)


def _provider(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """A processor down for 1–3 hours (its circuit breaker opens and the router passes it
    by) or slow for a while. Heals: payers pay through another channel or later."""
    for channel in rng.sample(list(CHANNEL_MIX), len(CHANNEL_MIX)):
        at = day.start + timedelta(hours=9, minutes=rng.randrange(7 * 60))
        if kind == FaultKind.PROVIDER_DOWN:
            minutes = rng.randint(60, 180)
            parameters = {"minutes": minutes}
        else:
            minutes = rng.randint(30, 120)
            parameters = {"minutes": minutes, "latency_seconds": rng.randint(3, 10)}
        end = at + timedelta(minutes=minutes)
        yield (
            Fault(at, kind, channel, MappingProxyType(parameters)),
            (_Claim(f"processor:{channel}", at, end),),
        )


def _system_down(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """The revenue system or the receipt platform down from the day's start until the next
    morning: pushes and receipt requests are retried and go through the next day.

    The revenue system's daily file counts a record on the day it received it: the day's
    payments are missing from its file and there the next day, a revenue_mismatch on both
    dates, which the next day's run settles as counted late. A receipt still asked for is a
    timing_cutoff of the receipt platform, resolved by the run of the date it is issued on."""
    if not day.plain:
        return
    until = day.end + timedelta(hours=7, minutes=30)
    if kind == FaultKind.REVENUE_DOWN_DAY:
        target = "revenue"
        expectation = Expectation(
            Outcome.DISCREPANCY, "revenue_mismatch", "revenue", auto_resolves=True
        )
    else:
        target = "receipts"
        expectation = Expectation(
            Outcome.DISCREPANCY, "timing_cutoff", "receipt", "receipts", auto_resolves=True
        )
    yield (
        Fault(day.start, kind, target, MappingProxyType({"until": until}), expectation),
        (_Claim(target, day.start, until), day.whole(f"statement:{target}", exclusive=False)),
    )


def _process(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """A Celery worker killed with work in hand (SIGKILL), or the web server restarted.
    Heals: tasks are acknowledged late and redelivered, work is idempotent, and the portal
    retries what a restart cut off."""
    target = "worker" if kind == FaultKind.WORKER_KILLED else "web"
    at = day.start + timedelta(hours=9, seconds=rng.randrange(8 * 3600))
    yield Fault(at, kind, target), (_Claim(target, at, at + timedelta(minutes=15)),)


def _bank_credit(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """The transfer of one clearing of the day (a processor's payments for a department,
    due on the settlement date) a business day late, or short of some fen.

    Late: a settlement_mismatch on the statement of the settlement date, auto-resolved when
    the credit shows in full on the next one. Short: a settlement_mismatch for a person."""
    clearings = sorted(key for key, amount in day.clearings.items() if amount >= 1000)
    for processor, department in rng.sample(clearings, len(clearings)):
        parameters = {
            "processor": processor,
            "department": department,
            "business_date": day.start.date(),
        }
        if kind == FaultKind.BANK_CREDIT_LATE:
            parameters["days_late"] = 1
        else:
            parameters["short_fen"] = rng.randint(1, 99)
        late = kind == FaultKind.BANK_CREDIT_LATE
        expectation = Expectation(
            Outcome.DISCREPANCY, "settlement_mismatch", "bank", department, auto_resolves=late
        )
        yield (
            Fault(
                day.start,
                kind,
                f"{processor}:{department}",
                MappingProxyType(parameters),
                expectation,
            ),
            (
                day.whole(f"clearing:{processor}:{department}"),
                day.whole(f"statement:{processor}", exclusive=False),
            ),
        )


def _bill_line(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """One payment left out of its processor's bill: a missing_in_channel for a person (the
    processor's transfer follows its bill, so the bank leg sees nothing amiss). Not one
    near 24:00, which would be a timing_cutoff."""
    inside = [
        paid
        for paid in day.plain
        if day.start + CUTOFF_GRACE < paid.at < day.end - 2 * CUTOFF_GRACE
        and not _near_day_turn(paid)
    ]
    for paid in rng.sample(inside, len(inside)):
        yield _order_fault(
            kind,
            day,
            paid,
            paid.at,
            {},
            Expectation(Outcome.DISCREPANCY, "missing_in_channel", "processor", paid.channel),
        )


def _near_day_turn(paid: _Paid) -> bool:
    turn = DAY_TURNS_AT.get(paid.channel)
    if turn is None:
        return False
    turns = datetime.combine(paid.at.date(), turn, paid.at.tzinfo)
    return abs(paid.at - turns) <= 2 * CUTOFF_GRACE


def _cutoff(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """An order paid at 23:59:59 by our clock that the processor books just after 24:00:
    each date has a timing_cutoff, matched across the cut-off by the reconciliation. The
    order paid last in the day, without a shipment and still within its time limit then,
    is paid there instead."""
    at = day.end - timedelta(seconds=1)
    movable = [
        paid for paid in day.plain if not paid.shipped and at < paid.created_at + ORDER_TIME_LIMIT
    ]
    for paid in sorted(movable, key=lambda paid: paid.at, reverse=True):
        their_at = day.end + timedelta(seconds=rng.randint(1, 30))
        yield _order_fault(
            kind,
            day,
            paid,
            at,
            {"paid_at": at, "their_at": their_at},
            Expectation(
                Outcome.DISCREPANCY, "timing_cutoff", "processor", paid.channel, auto_resolves=True
            ),
        )


def _order_fault(
    kind: FaultKind,
    day: _Day,
    paid: _Paid,
    at: datetime,
    parameters: dict,
    expectation: Expectation,
) -> Candidate:
    """A fault on one payment whose discrepancy the processor's run and clearing must show."""
    return (
        Fault(
            at,
            kind,
            paid.order,
            MappingProxyType(
                {"channel": paid.channel, "department": paid.department, **parameters}
            ),
            expectation,
        ),
        (
            day.whole(f"order:{paid.order}"),
            _Claim(f"processor:{paid.channel}", at - MINUTE, at + 10 * MINUTE, exclusive=False),
            day.whole(f"statement:{paid.channel}", exclusive=False),
            day.whole(f"clearing:{paid.channel}:{paid.department}", exclusive=False),
        ),
    )


# The parties whose file may come damaged, with their PartyKind.
_FILES = (
    *((channel, "processor") for channel in CHANNEL_MIX),
    *((f"courier:{courier}", "courier") for courier in COURIER_MIX),
    ("receipts", "receipt"),
)


def _statement(kind: FaultKind, rng: Random, day: _Day) -> Iterator[Candidate]:
    """A party's file of the day damaged once (cut short, or an amount that is no number):
    the run fails naming the line, and runs once the file is given again."""
    for party, party_kind in rng.sample(_FILES, len(_FILES)):
        parameters = {"damage": rng.choice(("truncated", "bad_amount"))}
        expectation = Expectation(Outcome.RUN_FAILS, party_kind=party_kind, party=party)
        yield (
            Fault(day.start, kind, party, MappingProxyType(parameters), expectation),
            (day.whole(f"statement:{party}"),),
        )


_CANDIDATES = {
    FaultKind.NOTIFICATION_LOST: _notification,
    FaultKind.NOTIFICATION_DUPLICATED: _notification,
    FaultKind.NOTIFICATION_REORDERED: _notification,
    FaultKind.NOTIFICATION_LATE: _notification,
    FaultKind.COURIER_PUSH_LOST: _courier_push,
    FaultKind.COURIER_PUSH_DUPLICATED: _courier_push,
    FaultKind.COURIER_PUSH_REORDERED: _courier_push,
    FaultKind.PROVIDER_DOWN: _provider,
    FaultKind.PROVIDER_SLOW: _provider,
    FaultKind.REVENUE_DOWN_DAY: _system_down,
    FaultKind.RECEIPTS_DOWN_DAY: _system_down,
    FaultKind.WORKER_KILLED: _process,
    FaultKind.WEB_RESTARTED: _process,
    FaultKind.BANK_CREDIT_LATE: _bank_credit,
    FaultKind.BANK_CREDIT_SHORT: _bank_credit,
    FaultKind.BILL_LINE_MISSING: _bill_line,
    FaultKind.STATEMENT_MALFORMED: _statement,
    FaultKind.CUTOFF_CLOCK: _cutoff,
}
