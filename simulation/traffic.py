"""What the portal's applicants do on a simulated business day, as data.

``day_traffic`` draws the day's orders from a seed and gives, for each, its whole story as
events in time order: the order, its payment (or its expiry), a refund or a second
payment, the shipment of its result and the courier's scans (or its cancellation). The
story of an order made late in the day goes on past midnight (an expiry, a refund, scans
on the following days), so a day's list may end after the day; ``timeline`` merges the
days' lists into one.

Pure: no database, no HTTP; the same seed, day and reference give the same events. Every
random draw comes from a ``random.Random`` seeded with a string naming what it is for, so
an order's story depends only on the seed, the day's index and its number.

Applicants are made up and clearly so: names "模拟申请人…", phones 1380000xxxx, resident
ID numbers born in 1901 (well-formed, with their check digit, for the API to take them).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import accumulate
from random import Random
from zoneinfo import ZoneInfo

from core.business_days import BusinessCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_SCALE = 6  # orders per department on an ordinary Tuesday
CHANNEL_MIX = {"public_platform": 40, "alipay": 25, "wechatpay": 25, "unionpay": 10}
COURIER_MIX = {"sf": 60, "ems": 40}
ORDER_TIME_LIMIT = timedelta(hours=24)  # the portal's limit on an order: unpaid, it expires

ABANDONED_RATE = 0.08  # of orders
DOUBLE_PAYMENT_RATE = 0.01  # of paid orders
REFUND_FULL_RATE = 0.02  # of paid orders
REFUND_PARTIAL_RATE = 0.01  # of paid orders
SHIPMENT_RATE = 0.30  # of paid orders of a department that ships results
APPLICANT_PAYS_FREIGHT = 0.20  # of shipments
RETRIED_DELIVERY = 0.10  # of shipments: failed once, delivered the next day
UNDELIVERABLE = 0.05  # of shipments: failed twice, returned to the agency
CANCELLED_BEFORE_PICKUP = 0.02  # of shipments: cancelled by the portal
HELD = 0.03  # of shipments: held by the courier (on_hold), delivered the next day
AT_PICKUP_POINT = 0.03  # of shipments: left at a pickup point, collected there
LOST_OR_DAMAGED = 0.02  # of EMS shipments (SF has no scan code for it in our table)
# What becomes of a shipment, by its share; the rest are delivered at the first try.
FATES = {
    "returned": UNDELIVERABLE,
    "retried": RETRIED_DELIVERY,
    "cancelled": CANCELLED_BEFORE_PICKUP,
    "held": HELD,
    "collected": AT_PICKUP_POINT,
    "lost": LOST_OR_DAMAGED,
}

# Orders per hour of the day, relative: morning and afternoon peaks, a lunch dip, a few at
# night and some just before midnight.
HOURLY = (
    *(0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.2, 0.5),  # 00–07
    *(2, 8, 10, 8, 3, 3),  # 08–13
    *(8, 10, 8, 4, 2, 1.5),  # 14–19
    *(1.5, 1, 0.8, 0.6),  # 20–23
)
WEEKDAY_FACTOR = (1.2, 1.0, 1.0, 1.0, 0.9, 0.6, 0.6)  # Monday … Sunday (a 调休 working day)
MONTH_END_DAYS = 3  # the month's last business days, when the rush comes
MONTH_END_FACTOR = 1.8
EXAM_DAYS = 3  # the exam registration: days of one department's spike
EXAM_FACTOR = 3.0

REFUND_REASONS = ("申请人撤回申请", "申请材料不齐，未予受理", "重复申请，退还费用")
PARTIAL_REFUND_REASON = "部分事项未办理，退还相应费用"
FAILED_DELIVERY_REASONS = ("not_home", "unreachable", "refused", "bad_address")
HELD_REASONS = ("not_home", "unreachable", "bad_address")
SHIPMENT_CANCEL_REASONS = ("申请人改为窗口自取", "申请人要求暂缓寄送")


class EventKind(StrEnum):
    ORDER_CREATED = "order_created"
    PAYMENT = "payment"
    # The order was never paid: at its time limit it expires.
    ABANDONED = "abandoned"
    # A second payment through another channel: the payer had opened that cashier too,
    # before the first payment went through (a paid order opens none), and pays there at
    # the event's time. The runner opens both cashiers before the first payment.
    DOUBLE_PAYMENT = "double_payment"
    REFUND_FULL = "refund_full"
    REFUND_PARTIAL = "refund_partial"
    SHIPMENT_CREATED = "shipment_created"  # the result sent to the payer
    SHIPMENT_SCAN = "shipment_scan"
    SHIPMENT_CANCELLED = "shipment_cancelled"  # by the portal, before pickup


@dataclass(frozen=True)
class FeeItem:
    """A fee item charged at `amount` fen, or at an amount assessed within
    [`amount`, `max_amount`] (a whole number of yuan) when it has a range."""

    code: str
    amount: int
    max_amount: int | None = None


@dataclass(frozen=True)
class Charge:
    """What one case pays: its service item ("" when the catalogue names none) and fee items."""

    service_item: str
    fee_items: tuple[FeeItem, ...]


@dataclass(frozen=True)
class Department:
    code: str
    charges: tuple[Charge, ...]
    ships_results: bool


@dataclass(frozen=True)
class TrafficReference:
    departments: tuple[Department, ...]
    calendar: BusinessCalendar  # to know the month's last business days

    @classmethod
    def from_catalogue(cls, catalogue: Mapping, calendar: BusinessCalendar) -> TrafficReference:
        """From a catalogue in `manage.py load_catalogue`'s format (docs/fees.md): each service
        item that charges fees is a charge, and so is each public fee item no service item
        names; a department ships results when it has a freight fee item (寄递费)."""
        fee_items = {item["code"]: item for item in catalogue["fee_items"]}
        named = set()
        departments = []
        for department in catalogue["departments"]:
            code = department["code"]
            charges = []
            for service in catalogue.get("service_items", ()):
                if service["department"] == code and not service.get("no_fee"):
                    codes = [fee["fee_item"] for fee in service["fees"]]
                    named.update(codes)
                    charges.append(
                        Charge(service["code"], tuple(_fee_item(fee_items[c]) for c in codes))
                    )
            own = [item for item in catalogue["fee_items"] if item["department"] == code]
            charges += [
                Charge("", (_fee_item(item),))
                for item in own
                if item.get("kind", "public") != "freight" and item["code"] not in named
            ]
            ships = any(item.get("kind") == "freight" for item in own)
            if charges:
                departments.append(Department(code, tuple(charges), ships))
        return cls(tuple(departments), calendar)


def _fee_item(item: Mapping) -> FeeItem:
    if "standard_amount" in item:
        return FeeItem(item["code"], item["standard_amount"])
    return FeeItem(item["code"], item["min_amount"], item["max_amount"])


@dataclass(frozen=True)
class Person:
    name: str
    phone: str
    id_number: str  # a resident ID number (GB 11643)


@dataclass(frozen=True)
class NewOrder:
    department: str
    service_item: str  # "" when the catalogue names none
    fee_items: tuple[tuple[str, int], ...]  # (fee item code, amount in fen)
    payer: Person
    expires_at: datetime

    @property
    def amount(self) -> int:
        return sum(amount for _, amount in self.fee_items)


@dataclass(frozen=True)
class Payment:
    channel: str
    amount: int  # fen: the order's amount


@dataclass(frozen=True)
class Abandonment:
    opened_channel: str  # the cashier the payer opened and left; "" when none was opened


@dataclass(frozen=True)
class Refund:
    amount: int  # fen
    reason: str


@dataclass(frozen=True)
class NewShipment:
    """The result sent to the order's payer, at a made-up address in 西湖区."""

    courier: str
    freight_payer: str  # "agency" (its monthly account) or "applicant"
    freight_channel: str  # the channel the applicant pays the freight through, else ""
    address: str
    region_code: str


@dataclass(frozen=True)
class Scan:
    status: str  # as the normalised courier push names it (docs/logistics.md)
    reason: str = ""  # of a delivery_failed or on_hold scan


@dataclass(frozen=True)
class Cancellation:
    reason: str


Payload = NewOrder | Payment | Abandonment | Refund | NewShipment | Scan | Cancellation


@dataclass(frozen=True)
class Event:
    at: datetime  # aware, Asia/Shanghai
    kind: EventKind
    order: str  # the order's reference: S<seed>-D<day index>-<n>
    payload: Payload


def day_traffic(
    seed: int,
    day: date,
    day_index: int,
    reference: TrafficReference,
    *,
    scale: float = DEFAULT_SCALE,
) -> list[Event]:
    """The stories of the orders made on `day`, the `day_index`-th day simulated, sorted
    by time (an order's own events in their order)."""
    created = []
    for department in reference.departments:
        rng = draws(seed, day_index, "volume", department.code)
        mean = scale * day_factor(seed, day, day_index, department.code, reference)
        for _ in range(_poisson(rng, mean)):
            at = _time_of_day(rng, day)
            created.append((at, department, rng.choice(department.charges)))
    created.sort(key=lambda made: (made[0], made[1].code))
    steps = []
    for n, (at, department, charge) in enumerate(created, start=1):
        ref = f"S{seed}-D{day_index}-{n}"
        story = _story(draws(seed, ref), n, ref, at, department, charge)
        steps += [(event.at, n, step, event) for step, event in enumerate(story)]
    steps.sort(key=lambda step: step[:3])
    return [event for *_, event in steps]


def timeline(
    seed: int, days: Sequence[date], reference: TrafficReference, *, scale: float = DEFAULT_SCALE
) -> Iterator[Event]:
    """Every event of the days' orders in time order, the i-th day having index i."""
    lists = (day_traffic(seed, day, i, reference, scale=scale) for i, day in enumerate(days))
    return heapq.merge(*lists, key=lambda event: event.at)


def draws(*purpose: object) -> Random:
    """The random draws for one purpose: the same purpose (seed first) gives the same draws.

    A simulation's, not a secret's: any generator that replays from its seed does."""
    return Random(":".join(map(str, purpose)))  # noqa: S311


def business_days_from(first: date, count: int, calendar: BusinessCalendar) -> list[date]:
    """`count` business days from `first` (itself when it is one)."""
    days = [calendar.add_business_days(first, 0)]
    while len(days) < count:
        days.append(calendar.next_business_day(days[-1]))
    return days[:count]


def day_factor(
    seed: int, day: date, day_index: int, department: str, reference: TrafficReference
) -> float:
    """How much busier than an ordinary Tuesday the department is on the day."""
    factor = WEEKDAY_FACTOR[day.weekday()]
    if is_month_end(day, reference.calendar):
        factor *= MONTH_END_FACTOR
    exam_department, exam_days = exam_registration(seed, reference)
    if department == exam_department and day_index in exam_days:
        factor *= EXAM_FACTOR
    return factor


def is_month_end(day: date, calendar: BusinessCalendar) -> bool:
    """Whether the day is one of the month's last MONTH_END_DAYS business days."""
    later = day
    for _ in range(MONTH_END_DAYS):
        later = calendar.next_business_day(later)
    return (later.year, later.month) != (day.year, day.month)


def exam_registration(seed: int, reference: TrafficReference) -> tuple[str, range]:
    """The department whose exam registration opens in the simulation, and the indexes of
    its days (within the first week, so that short runs see it)."""
    rng = draws(seed, "exam")
    department = rng.choice(reference.departments).code
    first = rng.randrange(1, 6)
    return department, range(first, first + EXAM_DAYS)


def _story(rng: Random, n: int, ref: str, at: datetime, department: Department, charge: Charge):
    """The order's events, in their order."""
    fees = tuple((item.code, _assessed(rng, item)) for item in charge.fee_items)
    payer = _person(rng, n)
    order = NewOrder(department.code, charge.service_item, fees, payer, at + ORDER_TIME_LIMIT)
    yield Event(at, EventKind.ORDER_CREATED, ref, order)
    if rng.random() < ABANDONED_RATE:
        opened = _pick(rng, CHANNEL_MIX) if rng.random() < 0.5 else ""
        yield Event(order.expires_at, EventKind.ABANDONED, ref, Abandonment(opened))
        return
    channel = _pick(rng, CHANNEL_MIX)
    paid_at = at + timedelta(seconds=rng.randint(40, 900))
    yield Event(paid_at, EventKind.PAYMENT, ref, Payment(channel, order.amount))
    then = rng.random()
    if then < DOUBLE_PAYMENT_RATE:
        second = _pick(rng, {c: w for c, w in CHANNEL_MIX.items() if c != channel})
        again = paid_at + timedelta(seconds=rng.randint(5, 180))
        yield Event(again, EventKind.DOUBLE_PAYMENT, ref, Payment(second, order.amount))
    elif then < DOUBLE_PAYMENT_RATE + REFUND_FULL_RATE:
        refund = Refund(order.amount, rng.choice(REFUND_REASONS))
        yield Event(_later(rng, paid_at), EventKind.REFUND_FULL, ref, refund)
        return  # the case is withdrawn: no result to send
    elif then < DOUBLE_PAYMENT_RATE + REFUND_FULL_RATE + REFUND_PARTIAL_RATE:
        refund = Refund(_part(rng, fees), PARTIAL_REFUND_REASON)
        yield Event(_later(rng, paid_at), EventKind.REFUND_PARTIAL, ref, refund)
    if department.ships_results and rng.random() < SHIPMENT_RATE:
        yield from _shipment(rng, ref, paid_at + timedelta(minutes=rng.randint(60, 300)), channel)


def _later(rng: Random, paid_at: datetime) -> datetime:
    """When a refund is asked: 20 minutes to 6 hours after the payment."""
    return paid_at + timedelta(minutes=rng.randint(20, 360))


def _shipment(rng: Random, ref: str, at: datetime, channel: str):
    """The shipment and its scans to its end (FATES): delivered at the first try or the
    second, after a day held or at a pickup point; after two failed tries returned to the
    agency; lost (EMS); or, before any scan, cancelled."""
    applicant = rng.random() < APPLICANT_PAYS_FREIGHT
    shipment = NewShipment(
        courier=_pick(rng, COURIER_MIX),
        freight_payer="applicant" if applicant else "agency",
        freight_channel=channel if applicant else "",
        address=f"模拟路{rng.randint(1, 999)}号{rng.randint(1, 30)}幢{rng.randint(101, 2802)}室",
        region_code="330106",
    )
    yield Event(at, EventKind.SHIPMENT_CREATED, ref, shipment)

    def scan(at: datetime, status: str, reason: str = "") -> Event:
        return Event(at, EventKind.SHIPMENT_SCAN, ref, Scan(status, reason))

    fate = _fate(rng, shipment.courier)
    if fate == "cancelled":
        cancellation = Cancellation(rng.choice(SHIPMENT_CANCEL_REASONS))
        at += timedelta(minutes=rng.randint(40, 90))
        yield Event(at, EventKind.SHIPMENT_CANCELLED, ref, cancellation)
        return
    at += _hours(rng, 1, 3)
    yield scan(at, "picked_up")
    at += _hours(rng, 3, 8)
    yield scan(at, "in_transit")
    if fate == "lost":
        yield scan(at + _hours(rng, 20, 48), "lost_damaged")
        return
    setbacks = {"returned": 2, "retried": 1, "held": 1}.get(fate, 0)
    setback, reasons = (
        ("on_hold", HELD_REASONS)
        if fate == "held"
        else ("delivery_failed", FAILED_DELIVERY_REASONS)
    )
    for attempt in range(min(setbacks + 1, 2)):
        at = _next_morning(rng, at)
        yield scan(at, "out_for_delivery")
        at += _hours(rng, 1, 5)
        if attempt < setbacks:
            yield scan(at, setback, rng.choice(reasons))
        elif fate == "collected":
            yield scan(at, "ready_for_pickup")
            yield scan(at + _hours(rng, 2, 30), "delivered")
        else:
            yield scan(at, "delivered")
    if fate == "returned":
        at += _hours(rng, 2, 6)
        yield scan(at, "returning")
        at += _hours(rng, 20, 48)
        yield scan(at, "returned")


def _fate(rng: Random, courier: str) -> str:
    """One draw against FATES' shares in turn; a lost SF shipment is delivered instead."""
    draw = rng.random()
    for fate, bound in zip(FATES, accumulate(FATES.values()), strict=True):
        if draw < bound:
            return "delivered" if fate == "lost" and courier != "ems" else fate
    return "delivered"


def _hours(rng: Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=round(rng.uniform(low, high) * 3600))


def _next_morning(rng: Random, at: datetime) -> datetime:
    """Between 08:00 and 10:00 the day after."""
    return datetime.combine(at.date() + timedelta(days=1), time(8), SHANGHAI) + timedelta(
        seconds=rng.randrange(2 * 3600)
    )


def _poisson(rng: Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # the normal approximation, close enough at that size
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, n, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        n += 1
        product *= rng.random()
    return n


def _time_of_day(rng: Random, day: date) -> datetime:
    hour = rng.choices(range(24), weights=HOURLY)[0]
    return datetime.combine(day, time(hour), SHANGHAI) + timedelta(seconds=rng.randrange(3600))


def _pick(rng: Random, mix: Mapping[str, float]) -> str:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


def _assessed(rng: Random, item: FeeItem) -> int:
    if item.max_amount is None:
        return item.amount
    return rng.randrange(item.amount, item.max_amount + 1, 100)


def _part(rng: Random, fees: Iterable[tuple[str, int]]) -> int:
    """A partial refund: the last fee item of several (a 签注 refused, say), else 30–70 %
    of the one, to the fen."""
    amounts = [amount for _, amount in fees]
    if len(amounts) > 1:
        return amounts[-1]
    return max(1, amounts[0] * rng.randint(3, 7) // 10)


def _person(rng: Random, n: int) -> Person:
    birth = date(1901, 1, 1) + timedelta(days=rng.randrange(365))
    body = f"330106{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return Person(
        name=f"模拟申请人{n:04d}",
        phone=f"1380000{rng.randrange(10_000):04d}",
        id_number=body + _check_digit(body),
    )


def _check_digit(body: str) -> str:
    """GB 11643's check character of the first 17 digits."""
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(body))
    return "10X98765432"[total % 11]
