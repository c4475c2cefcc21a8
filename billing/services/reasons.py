"""The reasons billing's services write into refunds and audit rows, as templates.

The rows keep these English sentences (a refund's reason also goes to the channel, the
receipt platform and the revenue system); the console says each in its reader's language
(console.stored_texts).
"""

from __future__ import annotations

UNSETTLED_REFUND = "money that could not settle the order"
NO_SUCH_REFUND = "the channel has no such refund"
DECLINED = "declined: {code}"
WRONG_AMOUNT = "paid {paid} fen, expected {expected}"
ORDER_NOT_PAYABLE = "order already {status}"
NO_OPEN_ATTEMPT = "no open attempt"
EXPIRED = "expires_at passed"
