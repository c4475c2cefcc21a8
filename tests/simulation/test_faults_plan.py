"""The fault plan: drawn from the seed alone, every kind within a month, no two faults on
one target at once, and each expecting what the service's reconciliation makes of it
(docs/simulation.md, "The faults")."""

import json
from collections import Counter, defaultdict
from datetime import date, timedelta
from itertools import pairwise

import pytest

from core.business_days import configured
from demo.reference import DEMO_CATALOGUE
from reconciliation.models import DiscrepancyType, PartyKind
from simulation.faults import FaultKind, Outcome, day_faults, dealt
from simulation.traffic import (
    SHANGHAI,
    EventKind,
    TrafficReference,
    business_days_from,
    day_traffic,
)

F = FaultKind
ON_A_PAYMENT = {
    F.NOTIFICATION_LOST, F.NOTIFICATION_DUPLICATED, F.NOTIFICATION_REORDERED,
    F.NOTIFICATION_LATE, F.BILL_LINE_MISSING, F.CUTOFF_CLOCK,
}  # fmt: skip
ON_A_SCAN = {F.COURIER_PUSH_LOST, F.COURIER_PUSH_DUPLICATED, F.COURIER_PUSH_REORDERED}
# What each kind must become, as reconciliation/matching and its services make it:
# (outcome, discrepancy type, party kind, settled by the reconciliation itself).
BECOMES = {
    F.BILL_LINE_MISSING: (Outcome.DISCREPANCY, "missing_in_channel", "processor", False),
    F.CUTOFF_CLOCK: (Outcome.DISCREPANCY, "timing_cutoff", "processor", True),
    F.BANK_CREDIT_LATE: (Outcome.DISCREPANCY, "settlement_mismatch", "bank", True),
    F.BANK_CREDIT_SHORT: (Outcome.DISCREPANCY, "settlement_mismatch", "bank", False),
    F.REVENUE_DOWN_DAY: (Outcome.DISCREPANCY, "revenue_mismatch", "revenue", True),
    F.RECEIPTS_DOWN_DAY: (Outcome.DISCREPANCY, "timing_cutoff", "receipt", True),
}
SEEDS = tuple(range(1, 11))


@pytest.fixture(scope="module")
def month():
    """Each seed's month of business days: (day, index, events, faults)."""
    catalogue = json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))
    reference = TrafficReference.from_catalogue(catalogue, configured())
    days = business_days_from(date(2026, 3, 2), 22, configured())
    plans = {}
    for seed in SEEDS:
        plans[seed] = []
        for index, day in enumerate(days):
            events = day_traffic(seed, day, index, reference)
            plans[seed].append((day, index, events, day_faults(seed, day, index, events)))
    return plans


def every(month):
    return [(seed, *plan) for seed, plans in month.items() for plan in plans]


def test_the_same_seed_and_day_give_the_same_plan_another_seed_another(month):
    for seed, day, index, events, faults in every(month)[:5]:
        assert faults == day_faults(seed, day, index, events)
    one, other = ([f for *_, faults in month[seed] for f in faults] for seed in SEEDS[:2])
    assert one != other
    assert dealt(1, 7) == dealt(1, 7) != dealt(2, 7)


def test_two_to_four_faults_a_day(month):
    counts = [len(faults) for *_, faults in every(month)]
    assert max(counts) <= 4
    assert 2 <= sum(counts) / len(counts) <= 4


def test_every_kind_comes_within_a_month(month):
    for plans in month.values():
        kinds = Counter(fault.kind for *_, faults in plans for fault in faults)
        assert set(kinds) == set(FaultKind)


def test_expectations_are_what_the_reconciliation_makes(month):
    for *_, faults in every(month):
        for fault in faults:
            expected = fault.expectation
            if fault.kind in BECOMES:
                outcome, discrepancy, party_kind, auto = BECOMES[fault.kind]
                assert expected.outcome == outcome
                assert (expected.discrepancy, expected.party_kind) == (discrepancy, party_kind)
                assert expected.auto_resolves is auto
                assert expected.discrepancy in DiscrepancyType.values
                assert expected.party_kind in PartyKind.values
            elif fault.kind == F.STATEMENT_MALFORMED:
                assert expected.outcome == Outcome.RUN_FAILS
                assert expected.party == fault.target
                assert expected.party_kind in PartyKind.values
            else:
                assert (expected.outcome, expected.discrepancy) == (Outcome.HEALS, "")
            party = {
                "processor": fault.parameters.get("channel") or fault.parameters.get("processor"),
                "bank": fault.parameters.get("department"),
                "receipt": "receipts",
                "revenue": "",
            }
            if expected.outcome == Outcome.DISCREPANCY:
                assert expected.party == party[expected.party_kind]


def test_faults_aim_at_what_the_day_holds(month):
    for _, day, _, events, faults in every(month):
        by_order = defaultdict(list)
        for event in events:
            by_order[event.order].append(event)
        for fault in faults:
            assert fault.at.tzinfo == SHANGHAI
            assert day <= fault.at.date() <= day + timedelta(days=1)
            story = [event.kind for event in by_order.get(fault.target, ())]
            if fault.kind in ON_A_PAYMENT:
                # An order paid once and never refunded, so that what it becomes is its own.
                assert story.count(EventKind.PAYMENT) == 1
                assert not {EventKind.DOUBLE_PAYMENT, EventKind.REFUND_FULL,
                            EventKind.REFUND_PARTIAL} & set(story)  # fmt: skip
            elif fault.kind in ON_A_SCAN:
                scans = [
                    e for e in by_order[fault.target]
                    if e.kind == EventKind.SHIPMENT_SCAN and e.at == fault.at
                ]  # fmt: skip
                assert [e.payload.status for e in scans] == [fault.parameters["status"]]
            elif fault.kind in (F.BANK_CREDIT_LATE, F.BANK_CREDIT_SHORT):
                processor, department = fault.target.split(":")
                assert fault.parameters["business_date"] == day
                assert any(
                    e.kind == EventKind.PAYMENT and e.payload.channel == processor
                    and by_order[e.order][0].payload.department == department
                    for e in events
                )  # fmt: skip


def test_money_and_times_in_the_parameters(month):
    for _, day, _, _, faults in every(month):
        for fault in faults:
            p = fault.parameters
            if fault.kind == F.BANK_CREDIT_SHORT:
                assert type(p["short_fen"]) is int and 0 < p["short_fen"] < 100
            elif fault.kind == F.CUTOFF_CLOCK:
                midnight = p["paid_at"] + timedelta(seconds=1)
                assert (p["paid_at"].date(), p["paid_at"].time().isoformat()) == (day, "23:59:59")
                assert midnight < p["their_at"] <= midnight + timedelta(minutes=5)
            elif fault.kind == F.PROVIDER_DOWN:
                assert 60 <= p["minutes"] <= 180


def test_no_two_faults_on_one_target_at_once(month):
    for *_, faults in every(month):
        windows = defaultdict(list)
        damaged = {f.target for f in faults if f.kind == F.STATEMENT_MALFORMED}
        for fault in faults:
            if fault.kind in (F.PROVIDER_DOWN, F.PROVIDER_SLOW):
                end = fault.at + timedelta(minutes=fault.parameters["minutes"])
                windows[fault.target].append((fault.at, end))
        for processor_windows in windows.values():
            processor_windows.sort()
            assert all(a[1] <= b[0] for a, b in pairwise(processor_windows))
        on_payments = [f for f in faults if f.kind in ON_A_PAYMENT]
        assert len({f.target for f in on_payments}) == len(on_payments)
        clearings = [
            f.target for f in faults if f.kind in (F.BANK_CREDIT_LATE, F.BANK_CREDIT_SHORT)
        ]
        assert len(set(clearings)) == len(clearings)
        for fault in on_payments:
            channel = fault.parameters["channel"]
            assert not any(start <= fault.at < end for start, end in windows[channel])
            if fault.expectation.outcome == Outcome.DISCREPANCY:
                assert channel not in damaged  # its run must read the file to show it
                assert f"{channel}:{fault.parameters['department']}" not in clearings
        for target in clearings:
            assert target.split(":")[0] not in damaged
        if F.RECEIPTS_DOWN_DAY in {f.kind for f in faults}:
            assert "receipts" not in damaged
