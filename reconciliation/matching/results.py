"""What every leg returns: a `LegResult`, and the discrepancy types and frame columns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from reconciliation.matching.frames import _int_sum

TRANSACTION_TYPES = (
    "missing_in_channel",
    "missing_in_ledger",
    "amount_mismatch",
    "refund_mismatch",
    "status_mismatch",
    "duplicate",
    "fee_mismatch",
    "timing_cutoff",
)
SETTLEMENT_TYPES = ("settlement_mismatch",)
REVENUE_TYPES = ("revenue_mismatch", "duplicate")
FREIGHT_TYPES = ("freight_mismatch", "duplicate")
RECEIPT_TYPES = (
    "missing_in_channel",
    "missing_in_ledger",
    "status_mismatch",
    "amount_mismatch",
    "duplicate",
    "timing_cutoff",
)

# The columns every leg's discrepancy frame starts with, then the leg's own.
DISCREPANCY_COLUMNS: Mapping[str, str] = {
    "type": "string",
    "key": "string",  # type and refs: stable across runs of the same data
    "kind": "string",
    "our_ref": "string",
    "their_ref": "string",
    "our_amount": "Int64",
    "their_amount": "Int64",
    "department": "string",
    "occurred_at": "datetime64[ns, UTC]",
    "detail": "string",  # which rule, when a type has several
    "our_count": "int64",  # rows of our side this discrepancy holds
    "their_count": "int64",  # rows of their side
}
TRANSACTION_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "processor": "string",
    "their_line_no": "Int64",
    "their_fee": "Int64",
    "expected_fee": "Int64",
}
SETTLEMENT_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "processor": "string",
    "account": "string",
    "settlement_date": "datetime64[ns]",
}
REVENUE_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "their_line_no": "Int64",
}
FREIGHT_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "courier": "string",
    "freight_payer": "string",
    "freight_paid": "Int64",
    "their_line_no": "Int64",
}
RECEIPT_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "their_line_no": "Int64",
}


class ConservationError(AssertionError):
    """Matched plus discrepancies do not add up to a side's count or amount."""


@dataclass(frozen=True)
class LegResult:
    matched: pd.DataFrame
    discrepancies: pd.DataFrame
    totals: dict[str, int] = field(default_factory=dict)
    # Leg 1 only: every pair the processor's money moved on, matched or not, as the
    # clearing reads it (CLEARING_COLUMNS).
    cleared: pd.DataFrame | None = None

    def check_conservation(self) -> None:
        """Raise ConservationError unless every input row is in exactly one output row.

        The side totals were taken from the inputs; the rest is recounted from the frames.
        """
        found = []
        for side in ("ours", "theirs"):
            prefix = "our" if side == "ours" else "their"
            count = _int_sum(self.matched[f"{prefix}_count"]) + _int_sum(
                self.discrepancies[f"{prefix}_count"]
            )
            amount = _int_sum(self.matched[f"{prefix}_amount"]) + _int_sum(
                self.discrepancies[f"{prefix}_amount"]
            )
            if count != self.totals[f"{side}_count"]:
                found.append(f"{side}: {count} rows placed, {self.totals[f'{side}_count']} given")
            if amount != self.totals[f"{side}_amount"]:
                found.append(f"{side}: {amount} fen placed, {self.totals[f'{side}_amount']} given")
        if len(self.matched) != self.totals["matched_count"]:
            found.append("matched rows differ from matched_count")
        counts = self.discrepancies["type"].value_counts()
        for name, value in self.totals.items():
            kind = name.removesuffix("_count")
            if kind in _ALL_TYPES and int(counts.get(kind, 0)) != value:
                found.append(f"{name} is {value}, the frame has {int(counts.get(kind, 0))}")
        unknown = set(counts.index) - {n.removesuffix("_count") for n in self.totals}
        if unknown:
            found.append(f"types without totals: {sorted(unknown)}")
        if found:
            raise ConservationError("; ".join(found))


_ALL_TYPES = frozenset(
    TRANSACTION_TYPES + SETTLEMENT_TYPES + REVENUE_TYPES + FREIGHT_TYPES + RECEIPT_TYPES
)
