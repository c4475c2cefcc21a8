"""UnionPay's code tables: respCode values and txnType values, as our outcomes."""

from __future__ import annotations

TXN_CONSUME, TXN_REFUND = "01", "04"

SUCCESS_CODES = frozenset({"00", "A6"})
# "Outcome unknown: query again later" in answers and in queried origRespCode.
UNKNOWN_CODES = frozenset({"03", "04", "05"})
SYSTEM_BUSY_CODE = "06"
NOT_FOUND_CODE = "34"
DUPLICATE_CODE = "12"
NO_FILE_CODE = "98"  # no file of the settlement date: a day without transactions
