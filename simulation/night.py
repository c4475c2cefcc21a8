"""What happens to a business day after it ends, as a deployment lives it.

At 00:30 Beat asks for the day's runs (reconciliation.tasks.start_yesterday) and the
reconciliation worker does them; a party whose file is not in yet is tried again each hour
(WeChat Pay's bill comes in the morning). By 12:20 the simulator, as the outside world,
books each processor's transfer of the day's clearings in the sandbox bank on its
settlement date (a fault may make one late or short), and as finance staff submits each
department's settlement report and has a second person approve it, which sends its
remittance to the bank. Then the day's figures and invariants are printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from closing.models import InstructionStatus, Remittance
from core.business_days import add_business_days
from demo.close import reports_submit_and_approve
from demo.settlement import Credit, book_bank_credits, clearing_credits
from reconciliation.models import ReconciliationRun, RunStatus
from reconciliation.ours import BUSINESS_TZ
from reconciliation.parties import all_parties
from reconciliation.services import runs
from simulation.cluster import Cluster

RUNS_START = time(0, 30, 20)  # just after Beat's 00:30 start_yesterday
MORNING = time(12, 20)  # the bills are due (noon), and the 12:15 retry has run
RUNS_SECONDS = 600
UNFINISHED = (RunStatus.QUEUED, RunStatus.RUNNING)


@dataclass
class CreditFaults:
    """How the processors' transfers go wrong, by (processor, business date)."""

    # (processor, department, business date) of the clearing
    late: set[tuple[str, str, date]] = field(default_factory=set)  # a business day late
    short: dict[tuple[str, str, date], int] = field(default_factory=dict)  # fen missing


def at(day: date, moment: time) -> datetime:
    return datetime.combine(day, moment, BUSINESS_TZ)


def runs_finished(cluster: Cluster, business_date: date) -> None:
    """Wait until every party's run of the date has finished (or waits for its file)."""
    parties = len(all_parties())

    def finished() -> bool:
        runs = ReconciliationRun.objects.filter(business_date=business_date)
        return runs.count() >= parties and not runs.filter(status__in=UNFINISHED).exists()

    cluster.wait_for(finished, what=f"the runs of {business_date}", seconds=RUNS_SECONDS)


def runs_idle(cluster: Cluster) -> None:
    """Wait until no run is queued or running (one asked for again by the hourly retry)."""
    unfinished = ReconciliationRun.objects.filter(status__in=UNFINISHED)
    cluster.wait_for(lambda: not unfinished.exists(), what="the runs", seconds=RUNS_SECONDS)


def files_given_again(cluster: Cluster, business_date: date, parties: set[str], *, actor: str):
    """The runs that failed on a damaged file, run again once the party has given it again
    (the sandbox serves it whole from its second download), as finance staff would. A
    party's damaged file is the next it serves, which may be of a later date than the
    fault's (a day it has no file for comes between), or read by the retry of an earlier
    date still waiting: the party waits until one of its runs failed."""
    failed = ReconciliationRun.objects.filter(
        business_date__lte=business_date, party__in=parties, status=RunStatus.FAILED
    )
    for run in failed:
        runs.run_request(business_date=run.business_date, party_code=run.party, actor=actor)
        parties.discard(run.party)
    runs_finished(cluster, business_date)
    runs_idle(cluster)


def book_transfers(sandbox: str, business_date: date, faults: CreditFaults) -> list[str]:
    """Each processor's transfer of the date's clearings, bent as the faults say; what was
    bent, in words."""
    booked: list[Credit] = []
    bent = []
    for credit in clearing_credits(business_date):
        key = (credit.processor, credit.department, business_date)
        entry = dict(credit.entry)
        if key in faults.short:
            entry["amount"] -= faults.short[key]
            bent.append(f"{credit.processor} short {faults.short[key]} fen for {credit.department}")
        if key in faults.late:
            value_date = add_business_days(date.fromisoformat(entry["value_date"]), 1)
            entry["value_date"] = value_date.isoformat()
            bent.append(f"{credit.processor} a day late for {credit.department}")
        booked.append(Credit(credit.processor, credit.department, credit.account, entry))
    book_bank_credits(sandbox, booked)
    return bent


def close_the_day(cluster: Cluster, business_date: date, *, actor: str) -> None:
    """Every department's report of the date submitted by one person, approved by another;
    wait for the bank to answer the remittances they order."""
    reports_submit_and_approve(business_date, actor=actor)
    ordered = Remittance.objects.filter(business_date=business_date)
    cluster.wait_for(
        lambda: not ordered.filter(instruction__status=InstructionStatus.SENDING).exists(),
        what=f"the bank to answer the remittances of {business_date}",
        seconds=RUNS_SECONDS,
    )
