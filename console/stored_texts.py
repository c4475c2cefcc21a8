"""The sentences services store as a reason or a resolution, in the reader's language.

A refund's reason, a discrepancy's resolution and an audit row's reason keep the English the
service wrote: the rows are records, and a refund's reason also went to the channel, the
receipt platform and the revenue system. A page says a sentence a service writes in its
reader's words, with the sentence's values (an id, a date, a channel's code) as written; any
other text (a portal's reason, a person's note, a channel's error) is shown as it was written
and marked not to be translated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from string import Formatter

from django.utils.functional import Promise
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from billing.services import reasons
from console.audit_labels import status_label
from console.templatetags.console import yuan
from integrations.errors import ProviderError, ProviderUnavailable
from reconciliation.services import auto, runs


def _order_status(code: str) -> str:
    return status_label(code, "PaymentOrder")


def _fen(text: str) -> str:
    return yuan(int(text)) if text.isdigit() else text


@dataclass(frozen=True)
class Sentence:
    """A sentence as its service writes it (``"declined: {code}"``) and as the console says
    it (``_("declined by the channel: %(code)s")``); ``shown`` puts a value in words, the
    others stay as they are."""

    written: str
    words: Promise
    shown: dict[str, Callable[[str], str]] = field(default_factory=dict)

    def pattern(self) -> re.Pattern[str]:
        """The written template with each ``{value}`` as a group of that name."""
        parts = Formatter().parse(self.written)
        return re.compile(
            "".join(
                re.escape(text) + (f"(?P<{name}>.+?)" if name else "")
                for text, name, _spec, _conversion in parts
            )
        )

    def say(self, values: dict[str, str]) -> SafeString:
        said = {
            name: conditional_escape(self.shown[name](value))
            if name in self.shown
            else _kept(value)
            for name, value in values.items()
        }
        # Both the words and each value are escaped.
        return SafeString(conditional_escape(str(self.words)) % said)


SENTENCES = [
    # billing.services: refunds' reasons and failures, attempts' and orders' audit reasons
    Sentence(reasons.UNSETTLED_REFUND, _("money that could not settle the order")),
    Sentence(reasons.NO_SUCH_REFUND, _("the channel has no such refund")),
    Sentence(reasons.DECLINED, _("declined by the channel: %(code)s")),
    Sentence(
        reasons.WRONG_AMOUNT,
        _("paid %(paid)s yuan, expected %(expected)s yuan"),
        {"paid": _fen, "expected": _fen},
    ),
    Sentence(reasons.ORDER_NOT_PAYABLE, _("order already %(status)s"), {"status": _order_status}),
    Sentence(reasons.NO_OPEN_ATTEMPT, _("no open payment attempt")),
    Sentence(reasons.EXPIRED, _("the time to pay ran out")),
    Sentence(ProviderUnavailable.__name__, _("the channel could not be reached")),
    Sentence(ProviderError.__name__, _("the channel's answer could not be used")),
    # reconciliation.services: discrepancies settled without a person
    Sentence(
        auto.LATE_NOTIFICATION,
        _("the channel confirmed the payment: applied as a late notification"),
    ),
    Sentence(auto.SECOND_PAYMENT_REFUNDED, _("the second payment is refunded (%(refund)s)")),
    Sentence(auto.RECEIPT_ISSUED, _("the receipt was issued on %(day)s (%(receipt)s)")),
    Sentence(auto.ACROSS_THE_CUTOFF, _("matched across the cut-off: %(other_day)s ↔ %(day)s")),
    Sentence(auto.COUNTED_LATE, _("counted late by the revenue system: %(other_day)s → %(day)s")),
    Sentence(runs.GONE, _("not found when the date was reconciled again")),
    # as reconciliation.services.settlement and closing.services.remittances write them
    Sentence(
        "credited in full on the statement of {day}",
        _("credited in full on the statement of %(day)s"),
    ),
    Sentence(
        "drained: the transfer was credited, or its clearing is no more",
        _("drained: the transfer was credited, or its clearing is no more"),
    ),
    Sentence(
        "the remittance was on the statement of {day}, late",
        _("the remittance was on the statement of %(day)s, late"),
    ),
    # as logistics.services.shipments and logistics.api.shipments write them
    Sentence("freight paid", _("freight paid")),
    Sentence("freight order {status}", _("freight order %(status)s"), {"status": _order_status}),
    Sentence("shipment cancelled", _("shipment cancelled")),
    Sentence("shipment cancelled before pickup", _("shipment cancelled before pickup")),
    Sentence("cancelled by the portal", _("cancelled by the portal")),
]
_PATTERNS = [(sentence.pattern(), sentence) for sentence in SENTENCES]


def stored_text(text: str) -> SafeString:
    """``text`` in the reader's words when a service wrote it, else as it was written."""
    if not text:
        return SafeString("")
    for pattern, sentence in _PATTERNS:
        found = pattern.fullmatch(text)
        if found:
            return sentence.say(found.groupdict())
    return _kept(text)


def _kept(text: str) -> SafeString:
    return format_html('<span translate="no">{}</span>', text)
