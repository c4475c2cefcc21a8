"""The planned faults (simulation.faults) put into the running world at their moments.

Faults of the outside world go through the sandboxes' fault control
(docs/sandbox-faults.md) and their own controls; a fault on one payment or one scan bends
what ``World`` does when it gets there; a process fault kills or restarts the process. Each
fault's expectation is recorded in ``Truth`` for the invariants to hold the run to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import requests
from django.conf import settings
from django.utils import timezone

from core.business_days import add_business_days
from demo.reference import DEMO_REVENUE_SYSTEM
from reconciliation.ours import BUSINESS_TZ
from simulation.cluster import Cluster, answers
from simulation.fault_items import ExpectedItem
from simulation.faults import Fault, FaultKind, Outcome
from simulation.invariants import Truth
from simulation.night import CreditFaults
from simulation.world import World

HTTP_TIMEOUT = 30
RESTART_SECONDS = 90
WAITING_RETRIED_WITHIN = timedelta(hours=1)  # beat's retry of runs waiting for a file
K = FaultKind
# Faults bent into one payment's notification, and those into one courier scan's push.
NOTIFICATION_FAULTS = frozenset(
    {K.NOTIFICATION_LOST, K.NOTIFICATION_DUPLICATED, K.NOTIFICATION_REORDERED,
     K.NOTIFICATION_LATE, K.BILL_LINE_MISSING, K.CUTOFF_CLOCK}
)  # fmt: skip
PUSH_FAULTS = frozenset({K.COURIER_PUSH_LOST, K.COURIER_PUSH_DUPLICATED, K.COURIER_PUSH_REORDERED})
WORKERS = ("worker-payments", "worker-background")


def business_date(fault: Fault) -> date:
    """The date the fault strikes on (Beijing time), a bank credit's its clearing's."""
    if "business_date" in fault.parameters:
        return fault.parameters["business_date"]
    return fault.at.astimezone(BUSINESS_TZ).date()


def shown_on(fault: Fault) -> date:
    """The date whose reconciliation shows what the fault did: a clearing's transfer is
    on its bank statement of the settlement date."""
    day = business_date(fault)
    if fault.kind in (K.BANK_CREDIT_LATE, K.BANK_CREDIT_SHORT):
        lag = settings.RECONCILIATION["settlement_lag_days"][fault.parameters["processor"]]
        return add_business_days(day, lag)
    return day


def expected_item(fault: Fault) -> ExpectedItem:
    """The item the fault must leave, named as closely as the fault knows it."""
    expectation = fault.expectation
    day = shown_on(fault)
    named = {}
    if fault.kind == K.BILL_LINE_MISSING:
        named["trade_of"] = fault.target
    elif fault.kind in (K.BANK_CREDIT_LATE, K.BANK_CREDIT_SHORT):
        named["our_ref"] = f"{fault.target}:{day.isoformat()}"  # processor:department:date
        named["short_fen"] = fault.parameters.get("short_fen")
    elif fault.kind == K.REVENUE_DOWN_DAY:
        named["per_record"] = True
    return ExpectedItem(
        day,
        expectation.discrepancy,
        expectation.party_kind,
        expectation.party,
        auto=expectation.auto_resolves,
        **named,
    )


@dataclass
class Injector:
    world: World
    cluster: Cluster
    truth: Truth
    credit_faults: CreditFaults = field(default_factory=CreditFaults)
    planned: list[Fault] = field(default_factory=list)

    def plan(self, faults: list[Fault]) -> None:
        for fault in faults:
            if fault.expectation.outcome == Outcome.DISCREPANCY:
                self.truth.expected_items.append(expected_item(fault))
            if fault.kind in NOTIFICATION_FAULTS:
                self.world.payment_faults[fault.target] = fault
            elif fault.kind in PUSH_FAULTS:
                self.world.scan_faults[(fault.target, fault.parameters["status"])] = fault
            elif fault.kind in (K.BANK_CREDIT_LATE, K.BANK_CREDIT_SHORT):
                self._bend_credit(fault)
            else:
                self.world.timeline.add(
                    fault.at, f"fault {fault.kind} {fault.target}", lambda f=fault: self.strike(f)
                )
            self.planned.append(fault)

    def struck_on(self, day: date) -> list[str]:
        """The faults of the day, in words."""
        return [
            f"{fault.kind} {fault.target}" for fault in self.planned if business_date(fault) == day
        ]

    def _bend_credit(self, fault: Fault) -> None:
        p = fault.parameters
        key = (p["processor"], p["department"], p["business_date"])
        if fault.kind == K.BANK_CREDIT_LATE:
            self.credit_faults.late.add(key)
        else:
            self.credit_faults.short[key] = p["short_fen"]

    def strike(self, fault: Fault) -> None:
        p = fault.parameters
        if fault.kind in (K.PROVIDER_DOWN, K.PROVIDER_SLOW):
            bent = (
                {"down": True}
                if fault.kind == K.PROVIDER_DOWN
                else {"slow_seconds": p["latency_seconds"]}
            )
            self._faults(fault.target, bent)
            self.truth.down.add(fault.target)
            self._later(
                fault.at + timedelta(minutes=p["minutes"]),
                f"{fault.target} back",
                lambda: self._back(fault.target),
            )
        elif fault.kind == K.REVENUE_DOWN_DAY:
            self._revenue_mode("down")
            self.truth.down.add("revenue")
            self._later(p["until"], "revenue system back", lambda: self._revenue_mode("up"))
        elif fault.kind == K.RECEIPTS_DOWN_DAY:
            self._receipts_mode("down")
            self.truth.down.add("receipts")
            self._later(p["until"], "receipt platform back", lambda: self._receipts_mode("up"))
        elif fault.kind == K.WORKER_KILLED:
            for name in WORKERS:
                self.cluster.restart(name, kill=True)
        elif fault.kind == K.WEB_RESTARTED:
            self.cluster.restart("web")
            self.cluster.wait_for(
                lambda: answers(f"{self.world.portal.base_url}/readyz"),
                what="the web server to come back",
                seconds=RESTART_SECONDS,
            )
        elif fault.kind == K.STATEMENT_MALFORMED:
            self._faults(fault.target.removeprefix("courier:"), {"malformed_next_file": True})
            self.world.damaged_files.add(fault.target)

    def _later(self, at: datetime, label: str, run) -> None:
        self.world.timeline.add(at, label, run)

    def _back(self, party: str) -> None:
        """The party answers again; runs that waited for its file are asked for again by
        the next hourly retry, and until then still wait for it."""
        self._faults(party, {"down": False, "slow_seconds": 0})
        self._later(
            timezone.now() + WAITING_RETRIED_WITHIN,
            f"{party}'s file asked for again",
            lambda: self.truth.down.discard(party),
        )

    def _faults(self, party: str, bent: dict) -> None:
        self._post(f"{self.world.sandbox}/sandbox/_control/faults/{party}", bent)

    def _receipts_mode(self, mode: str) -> None:
        self._post(f"{self.world.sandbox}/sandbox/receipts/_control/mode", {"mode": mode})
        if mode == "up":
            self.truth.down.discard("receipts")

    def _revenue_mode(self, mode: str) -> None:
        if mode == "up":
            self.truth.down.discard("revenue")
        self._post(
            f"{self.world.sandbox}/sandbox/revenue/{DEMO_REVENUE_SYSTEM['code']}/_control/mode",
            {"mode": mode},
        )

    @staticmethod
    def _post(url: str, body: dict) -> None:
        requests.post(url, json=body, timeout=HTTP_TIMEOUT).raise_for_status()
