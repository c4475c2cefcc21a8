"""The matching engine: our records against each party's statement, one leg at a time.

Pure functions over pandas frames; nothing here knows the database. Every leg returns a
`LegResult`: the matched pairs, the discrepancies, and totals of plain ints.

Conservation: every row of our side and every row of their side lands in exactly one row of
`matched` or of `discrepancies`. Each output row says how many input rows of each side it
holds (`our_count`, `their_count`) and their amounts (`our_amount`, `their_amount`), so
`check_conservation()` can prove the sums against the totals taken from the inputs. A
one-to-one pair counts one on each side; a one-sided discrepancy counts one on its side and
nothing on the other; a leg-2 group counts its one expected clearing and its n credits.

Duplicates count once, on the side that repeated: when a key appears more than once on
their side, the first line (earliest time, then lowest line number) takes part in matching
and every further line is its own `duplicate` row holding that line only. A payment we flag
`refund_due` (the order was paid twice) that the processor's bill shows is one `duplicate`
row holding both lines. The processor collected it all the same: leg 1's `cleared` (what the
clearing reads) holds every pair whose money moved, a discrepancy or not.

Matching is vectorised: keys are integer-coded with pd.factorize over both sides, rows are
ranked within their key, and pairs are the intersection of (key, rank) codes; rules are
array expressions. No Python loop runs per row.

The legs, each in its own module: `transactions` (leg 1), `settlements` (clearing and
leg 2), `one_to_one` (legs 3 and 4), `receipts` (leg 5), `remittances` (leg 6); `results`
holds `LegResult` and the discrepancy types and columns, `keys` and `frames` the machinery
the legs share.
"""

from reconciliation.matching.one_to_one import match_freight, match_revenue
from reconciliation.matching.receipts import first_numbers, match_receipts
from reconciliation.matching.remittances import match_remittances
from reconciliation.matching.results import ConservationError, LegResult
from reconciliation.matching.settlements import CLEARING_COLUMNS, clearing, match_settlements
from reconciliation.matching.transactions import match_transactions

__all__ = [
    "CLEARING_COLUMNS",
    "ConservationError",
    "LegResult",
    "clearing",
    "first_numbers",
    "match_freight",
    "match_receipts",
    "match_remittances",
    "match_revenue",
    "match_settlements",
    "match_transactions",
]
