"""The traffic model: the same seed gives the same day, and its days have the shapes and
rates the simulation promises (docs/simulation.md, "The traffic model")."""

import json
import re
from collections import Counter
from datetime import date, timedelta
from statistics import mean

import pytest

from billing.id_numbers import is_valid_resident_id
from core.business_days import configured
from demo.reference import DEMO_CATALOGUE
from simulation.traffic import (
    SHANGHAI,
    EventKind,
    TrafficReference,
    business_days_from,
    day_traffic,
    exam_registration,
    is_month_end,
    timeline,
)

K = EventKind
TUESDAY = date(2026, 3, 17)
MONTH_END_TUESDAY = date(2026, 3, 31)
ORDINARY = 20  # a day index past any exam registration


@pytest.fixture(scope="module")
def reference():
    catalogue = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
    return TrafficReference.from_catalogue(catalogue, configured())


@pytest.fixture(scope="module")
def many(reference):
    """Sixty business days at twenty orders per department: a few thousand stories."""
    days = business_days_from(date(2026, 3, 2), 60, configured())
    return [day_traffic(11, day, i, reference, scale=20) for i, day in enumerate(days)]


def orders(events, department=None):
    return [
        e
        for e in events
        if e.kind == K.ORDER_CREATED and department in (None, e.payload.department)
    ]


def test_the_catalogue_gives_each_department_its_charges(reference):
    by_code = {d.code: d for d in reference.departments}
    assert set(by_code) == {
        "330100-SCJG", "330100-GACRJ", "330100-ZRZY", "330100-RSJ", "330106-SCJG",
    }  # fmt: skip
    zrzy = {c.service_item: [i.code for i in c.fee_items] for c in by_code["330100-ZRZY"].charges}
    # The free enquiry (no_fee) and the freight item are no charge of a case.
    assert zrzy == {
        "330100-ZRZY-BDC-ZZDJ": ["BDC-ZZDJ", "BDC-ZSGBF"],
        "330100-ZRZY-BDC-FZZDJ": ["BDC-FZZDJ", "BDC-ZSGBF"],
        "330100-ZRZY-BDC-ZSHF": ["BDC-ZSGBF"],
    }
    assert all(d.ships_results for d in reference.departments)  # each has a freight item
    (inspection,) = by_code["330100-SCJG"].charges[0].fee_items
    assert (inspection.amount, inspection.max_amount) == (20000, 300000)


def test_the_same_seed_gives_the_same_day_and_another_seed_another(reference):
    first = day_traffic(3, TUESDAY, 2, reference)
    assert first == day_traffic(3, TUESDAY, 2, reference)
    assert first != day_traffic(4, TUESDAY, 2, reference)
    assert first != day_traffic(3, TUESDAY, 3, reference)


def test_events_are_in_time_order_each_story_starting_with_its_order(reference):
    events = day_traffic(5, TUESDAY, 4, reference, scale=10)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert all(e.at.tzinfo == SHANGHAI for e in events)
    made = orders(events)
    assert [e.order for e in made] == [f"S5-D4-{n}" for n in range(1, len(made) + 1)]
    assert all(e.at.date() == TUESDAY for e in made)
    first = {}
    for event in events:
        first.setdefault(event.order, event.kind)
    assert set(first.values()) == {K.ORDER_CREATED}


def test_amounts_are_whole_fen_and_add_up(many):
    checked = Counter()
    for events in many:
        totals = {e.order: e.payload.amount for e in orders(events)}
        for event in events:
            payload = event.payload
            if event.kind == K.ORDER_CREATED:
                assert all(type(a) is int and a > 0 for _, a in payload.fee_items)
                for code, amount in payload.fee_items:
                    if code == "TZSB-JYJC":  # charged within 200–3000 yuan, in whole yuan
                        assert 20000 <= amount <= 300000 and amount % 100 == 0
            elif event.kind in (K.PAYMENT, K.DOUBLE_PAYMENT, K.REFUND_FULL):
                assert payload.amount == totals[event.order]
            elif event.kind == K.REFUND_PARTIAL:
                assert type(payload.amount) is int and 0 < payload.amount < totals[event.order]
            checked[event.kind] += 1
    assert checked[K.REFUND_PARTIAL] and checked[K.DOUBLE_PAYMENT]


def test_the_rates(many):
    kinds = Counter(e.kind for events in many for e in events)
    created, paid = kinds[K.ORDER_CREATED], kinds[K.PAYMENT]
    refunds = kinds[K.REFUND_FULL] + kinds[K.REFUND_PARTIAL]
    assert created > 5000
    assert kinds[K.ABANDONED] + paid == created
    assert 0.065 < kinds[K.ABANDONED] / created < 0.095
    assert 0.022 < refunds / paid < 0.038
    assert 0.2 < kinds[K.REFUND_PARTIAL] / refunds < 0.47
    assert 0.005 < kinds[K.DOUBLE_PAYMENT] / paid < 0.016
    assert 0.27 < kinds[K.SHIPMENT_CREATED] / paid < 0.32


def test_the_channel_mix(many):
    channels = Counter(e.payload.channel for events in many for e in events if e.kind == K.PAYMENT)
    total = sum(channels.values())
    for channel, share in {
        "public_platform": 0.40, "alipay": 0.25, "wechatpay": 0.25, "unionpay": 0.10,
    }.items():  # fmt: skip
        assert abs(channels[channel] / total - share) < 0.03
    seconds = [e for events in many for e in events if e.kind == K.DOUBLE_PAYMENT]
    first = {e.order: e.payload.channel for events in many for e in events if e.kind == K.PAYMENT}
    assert all(e.payload.channel != first[e.order] for e in seconds)


def test_orders_peak_in_office_hours(many):
    hours = Counter(e.at.hour for events in many for e in orders(events))
    peaks = [hours[h] for h in (9, 10, 11, 14, 15, 16)]
    assert min(peaks) > max(hours[h] for h in (12, 13)) > max(hours[h] for h in range(7))
    assert 0 < hours[23] < min(peaks) / 5


def test_the_month_end_rush(reference):
    calendar = configured()
    assert [d.day for d in business_days_from(date(2026, 3, 24), 6, calendar) if
            is_month_end(d, calendar)] == [27, 30, 31]  # fmt: skip
    # Labour Day's holiday (1–5 May) ends April early; 9 May is a working Saturday.
    assert [d for d in business_days_from(date(2026, 4, 27), 5, calendar) if
            is_month_end(d, calendar)] == [date(2026, 4, 28), date(2026, 4, 29),
                                           date(2026, 4, 30)]  # fmt: skip
    rush = mean(
        len(orders(day_traffic(s, MONTH_END_TUESDAY, ORDINARY, reference))) for s in range(30)
    )
    usual = mean(len(orders(day_traffic(s, TUESDAY, ORDINARY, reference))) for s in range(30))
    assert 1.5 < rush / usual < 2.1


def test_the_exam_registration_spike(reference):
    spiked, usual = [], []
    for seed in range(30):
        department, days = exam_registration(seed, reference)
        assert len(days) == 3 and 1 <= days.start <= 5
        spiked.append(len(orders(day_traffic(seed, TUESDAY, days[1], reference), department)))
        usual.append(len(orders(day_traffic(seed, TUESDAY, ORDINARY, reference), department)))
    assert 2.4 < mean(spiked) / mean(usual) < 3.6


def test_scale_sets_the_size_of_a_day(reference):
    handful = len(orders(day_traffic(1, TUESDAY, ORDINARY, reference, scale=1)))
    realistic = len(orders(day_traffic(1, TUESDAY, ORDINARY, reference, scale=60)))
    assert handful < 15
    assert 200 < realistic < 400


# Each fate's scans, in order (traffic.FATES); a cancelled shipment has none.
JOURNEYS = {
    "delivered": ("out_for_delivery", "delivered"),
    "retried": ("out_for_delivery", "delivery_failed", "out_for_delivery", "delivered"),
    "returned": (
        *("out_for_delivery", "delivery_failed", "out_for_delivery", "delivery_failed"),
        *("returning", "returned"),
    ),
    "held": ("out_for_delivery", "on_hold", "out_for_delivery", "delivered"),
    "collected": ("out_for_delivery", "ready_for_pickup", "delivered"),
    "lost": ("lost_damaged",),
}
FATE_OF = {("picked_up", "in_transit", *scans): fate for fate, scans in JOURNEYS.items()}


@pytest.fixture(scope="module")
def shipments(many):
    """Each shipment's creation and the events of its story that follow it."""
    found = {}
    for events in many:
        for event in events:
            if event.kind == K.SHIPMENT_CREATED:
                found[event.order] = (event, [])
            elif event.kind in (K.SHIPMENT_SCAN, K.SHIPMENT_CANCELLED):
                found[event.order][1].append(event)
    return found.values()


def fate(story):
    if [e.kind for e in story] == [K.SHIPMENT_CANCELLED]:
        return "cancelled"
    return FATE_OF[tuple(e.payload.status for e in story if e.kind == K.SHIPMENT_SCAN)]


def test_shipments_are_scanned_to_their_end(shipments):
    fates = Counter()
    for created, story in shipments:
        assert created.payload.courier in ("sf", "ems")
        applicant = created.payload.freight_payer == "applicant"
        assert bool(created.payload.freight_channel) == applicant
        assert all(e.at > created.at for e in story)
        scans = [e.payload for e in story if e.kind == K.SHIPMENT_SCAN]
        assert all(bool(s.reason) == (s.status in ("delivery_failed", "on_hold")) for s in scans)
        fates[fate(story)] += 1
    total = fates.total()
    assert total > 1500
    # Every fate, at its rate; the rest delivered at the first try.
    assert fates["delivered"] / total > 0.7
    for name, share in {"retried": 0.10, "returned": 0.05, "cancelled": 0.02, "held": 0.03,
                        "collected": 0.03, "lost": 0.4 * 0.02}.items():  # fmt: skip
        assert share / 2 < fates[name] / total < share * 1.6, name


def test_held_and_collected_shipments_are_delivered_the_next_day_or_later(shipments):
    for _, story in shipments:
        statuses = [e.payload.status for e in story if e.kind == K.SHIPMENT_SCAN]
        if "on_hold" in statuses:
            held, delivered = (story[statuses.index(s)] for s in ("on_hold", "delivered"))
            assert delivered.at.date() == held.at.date() + timedelta(days=1)
        if "ready_for_pickup" in statuses:
            ready, collected = story[-2:]
            assert ready.at < collected.at <= ready.at + timedelta(hours=30)


def test_a_cancelled_shipment_is_cancelled_within_two_hours_and_never_scanned(shipments):
    cancelled = [(created, story) for created, story in shipments if fate(story) == "cancelled"]
    assert cancelled
    for created, (cancellation,) in cancelled:
        assert timedelta(minutes=40) <= cancellation.at - created.at <= timedelta(minutes=90)
        assert cancellation.payload.reason
    assert {created.payload.courier for created, _ in cancelled} == {"sf", "ems"}


def test_only_ems_shipments_are_lost(shipments):
    lost = Counter(created.payload.courier for created, story in shipments if fate(story) == "lost")
    ems = sum(created.payload.courier == "ems" for created, _ in shipments)
    assert set(lost) == {"ems"}
    assert 0.01 < lost["ems"] / ems < 0.035


def test_the_people_are_made_up_and_look_it(many):
    payers = [e.payload.payer for events in many for e in orders(events)]
    assert all(re.fullmatch(r"模拟申请人\d{4}", p.name) for p in payers)
    assert all(re.fullmatch(r"1380000\d{4}", p.phone) for p in payers)
    # Well-formed for the API, and born in 1901: nobody's.
    assert all(is_valid_resident_id(p.id_number) for p in payers)
    assert {p.id_number[6:10] for p in payers} == {"1901"}
    addresses = [
        e.payload.address for events in many for e in events if e.kind == K.SHIPMENT_CREATED
    ]
    assert all(address.startswith("模拟路") for address in addresses)


def test_the_timeline_merges_the_days_in_time_order(reference):
    days = business_days_from(date(2026, 3, 26), 3, configured())
    merged = list(timeline(9, days, reference))
    assert [e.at for e in merged] == sorted(e.at for e in merged)
    assert Counter(merged) == Counter(
        e for i, day in enumerate(days) for e in day_traffic(9, day, i, reference)
    )
