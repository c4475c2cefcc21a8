"""Which reconciliation item each injected fault must leave, and whether the items left are
exactly those: pure, so the matching is tested without a run.

A fault that leaves an item for a person names it as closely as the fault knows it: the
payment left out of a bill by its out_trade_no, a short bank credit by its clearing and
the fen it lacks. A revenue system down for a day leaves one item per record, on that day
(ours only) and on the next (theirs only), which the fault cannot count in advance.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Item:
    """An item the reconciliation made, as the matching reads it."""

    id: int  # the discrepancy's: two items alike in every other field are still two
    type: str
    party_kind: str
    party: str  # a bank's: the department; the revenue system's: ""
    business_date: date
    our_ref: str
    our_amount: int | None
    their_amount: int | None
    open: bool


@dataclass(frozen=True)
class ExpectedItem:
    """An item a fault must leave on the reconciliation of `shown_on`.

    `auto`: the reconciliation settles it itself once the fault has passed. `our_ref`: the
    item's reference when the plan knows it; `trade_of`: the order (its reference in the
    traffic) whose payment the item names, known once paid. `short_fen`: what a short
    credit lacks. `per_record`: the revenue system's outage, any number of items on its
    day and the next.
    """

    shown_on: date
    type: str
    party_kind: str
    party: str
    auto: bool = False
    our_ref: str = ""
    trade_of: str = ""
    short_fen: int | None = None
    per_record: bool = False

    def fits(self, item: Item, trades: Mapping[str, str]) -> bool:
        if (item.type, item.party_kind, item.party) != (self.type, self.party_kind, self.party):
            return False
        if self.per_record:
            ours_only = item.their_amount is None and item.business_date == self.shown_on
            theirs_only = item.our_amount is None and item.business_date == self.shown_on + (
                timedelta(days=1)
            )
            return ours_only or theirs_only
        if self.our_ref:
            # A clearing's reference holds its date: a credit still missing is found again
            # by each later run of the account until it arrives.
            if item.our_ref != self.our_ref or item.business_date < self.shown_on:
                return False
        elif item.business_date != self.shown_on:
            return False
        if self.trade_of and item.our_ref != trades.get(self.trade_of):
            return False
        if self.short_fen is not None:
            return (item.our_amount or 0) - (item.their_amount or 0) == self.short_fen
        return True


@dataclass(frozen=True)
class Explanation:
    unexplained: list[Item]  # open items no fault accounts for, or one too many for a fault
    not_made: list[ExpectedItem]  # faults reconciled by now whose item is nowhere

    @property
    def exact(self) -> bool:
        return not self.unexplained and not self.not_made


def explain(
    expected: list[ExpectedItem],
    items: list[Item],
    trades: Mapping[str, str],
    *,
    through: date,
    final: bool,
) -> Explanation:
    """Hold the items to the faults. Each open item must be one a fault leaves for a person
    (reconciled by `through`), or, before the end, one the reconciliation will settle (an
    automatic fault's, or a line on either side of a cut-off, matched by the next day's
    run). Each fault leaves exactly one such item (a revenue outage: at least one), and
    each item is one fault's. `trades`: the out_trade_no each bent order was paid with."""
    for_person = [e for e in expected if not e.auto and e.shown_on <= through]
    passing = [] if final else [e for e in expected if e.auto]
    claims: Counter[int] = Counter()
    unexplained = []
    for item in items:
        if not item.open:
            continue
        if not final and item.type == "timing_cutoff":
            continue
        takers = (i for i, e in enumerate(for_person) if e.fits(item, trades))
        owner = next((i for i in takers if _may_take(for_person[i], claims[i])), None)
        if owner is not None:
            claims[owner] += 1
        elif not any(e.fits(item, trades) for e in passing):
            unexplained.append(item)
    not_made = [
        e
        for i, e in enumerate(for_person)
        if not claims[i] and not any(e.fits(item, trades) for item in items)
    ]
    return Explanation(unexplained, not_made)


def _may_take(expected: ExpectedItem, taken: int) -> bool:
    return expected.per_record or taken == 0
