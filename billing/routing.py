"""Choosing a payment's channel: the payer's choice, the department, licences, limits, health."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from billing.health import channels_in_rotation
from billing.models import PaymentOrder, Processor
from core import reference_data
from core.money import business_date_of

AUTO = "auto"
# The licence scope a payment for a government fee needs (网络支付, internet payment).
PAYMENT_SCOPE = "internet_payment"


@dataclass(frozen=True)
class RoutingDecision:
    requested: str
    candidates: list[str]  # eligible channels, best first
    rejected: dict[str, str] = field(default_factory=dict)  # channel -> why not

    def as_record(self, chosen: str) -> dict:
        return {
            "requested": self.requested,
            "chosen": chosen,
            "candidates": self.candidates,
            "rejected": self.rejected,
        }


def route(*, order: PaymentOrder, requested: str, now: datetime) -> RoutingDecision:
    """Every channel the order may be paid through now, in the order to try them."""
    accepted = order.department.accepted_channels
    considered = accepted if requested == AUTO else [requested]
    processors = _processors(considered)
    in_rotation = channels_in_rotation(considered, now=now)
    candidates, rejected = [], {}
    for code in sorted(considered, key=lambda c: (_priority(processors.get(c)), c)):
        reason = _ineligibility(
            code, processors.get(code), order=order, accepted=accepted, now=now
        ) or ("" if code in in_rotation else "out of rotation (circuit open)")
        if reason:
            rejected[code] = reason
        else:
            candidates.append(code)
    return RoutingDecision(requested=requested, candidates=candidates, rejected=rejected)


def _processors(codes: list[str]) -> dict[str, Processor]:
    """The processors of these codes (reference data: shared, read-only)."""
    key = ("processors", tuple(sorted(codes)))
    return reference_data.cached(
        key, lambda: {p.code: p for p in Processor.objects.filter(code__in=codes)}
    )


def _priority(processor: Processor | None) -> int:
    return processor.priority if processor else 1_000


def _ineligibility(
    code: str,
    processor: Processor | None,
    *,
    order: PaymentOrder,
    accepted: list[str],
    now: datetime,
) -> str:
    if code not in accepted:
        return f"department {order.department.code} does not accept it"
    if processor is None:
        return "not registered as a processor"
    problem = processor.licence_problem(on=business_date_of(now), scope=PAYMENT_SCOPE)
    if problem:
        return problem
    if not processor.min_amount <= order.amount <= processor.max_amount:
        return f"amount outside its limits {processor.min_amount}..{processor.max_amount} fen"
    return ""
