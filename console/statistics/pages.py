"""The five statistics pages: which breakdowns each shows, and what its figures mean."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from console.statistics.queries import (
    CLEARINGS,
    FEE_LINES,
    PAYMENTS,
    PERIOD,
    REFUNDS,
    SHIPMENTS,
    WAIVERS,
)
from console.statistics.report import (
    CHANNEL,
    COURIER,
    FEN,
    Breakdown,
    Page,
    share,
    summed,
)

PERIOD_HEADER = _("Period")
DEPARTMENT_HEADER = _("Department")
CHANNEL_HEADER = _("Payment channel")

PAYMENT_MEASURES = (
    summed("count", pgettext_lazy("statistics", "Payments")),
    summed("money", _("Amount (yuan)"), FEN),
)
REFUND_MEASURES = (
    summed("count", pgettext_lazy("statistics", "Refunds")),
    summed("money", _("Amount (yuan)"), FEN),
)
WAIVER_MEASURES = (
    summed("count", _("Waived lines")),
    summed("waived", _("Waived amount (yuan)"), FEN),
    summed("unpriced", _("Of which without a recorded standard")),
)
FEE_MEASURES = (
    summed("payments", _("Payments cleared (yuan)"), FEN),
    summed("fees", _("Processor's fees (yuan)"), FEN),
    share("fees", "payments", _("Fee rate")),
)
ARRIVAL_MEASURES = (
    summed("count", _("Clearings")),
    summed("on_time", _("Arrived on time")),
    summed("late", _("Arrived late")),
    summed("mismatch", _("Arrived with another amount")),
    summed("overdue", _("Not arrived after the settlement date")),
    summed("not_due", _("Not yet due")),
    share("on_time", "due", _("On-time share of those due")),
)
DELIVERY_MEASURES = (
    summed("count", pgettext_lazy("statistics", "Booked")),
    summed("delivered", _("Signed for")),
    summed("on_time", _("Signed for on time")),
    share("on_time", "judged", _("On-time rate")),
    summed("undeliverable", pgettext_lazy("statistics", "Undeliverable")),
    share("undeliverable", "count", _("Undeliverable rate")),
)

REVENUE_PAGE = Page(
    name="revenue",
    title=_("Revenue"),
    takes=CHANNEL,
    breakdowns=(
        Breakdown(
            "revenue-by-period",
            _("Revenue by period"),
            PAYMENTS,
            PERIOD,
            PERIOD_HEADER,
            PAYMENT_MEASURES,
            chart=1,
        ),
        Breakdown(
            "revenue-by-fee-item",
            _("Revenue by fee item"),
            FEE_LINES,
            "fee_item",
            _("Fee item"),
            (
                summed("count", pgettext_lazy("statistics", "Orders")),
                summed("money", _("Amount (yuan)"), FEN),
            ),
            chart=1,
        ),
        Breakdown(
            "revenue-by-department",
            _("Revenue by department"),
            PAYMENTS,
            "department",
            DEPARTMENT_HEADER,
            PAYMENT_MEASURES,
            chart=1,
        ),
        Breakdown(
            "revenue-by-region",
            _("Revenue by region"),
            PAYMENTS,
            "region",
            _("Region code of the department"),
            PAYMENT_MEASURES,
            chart=1,
        ),
        Breakdown(
            "revenue-by-channel",
            _("Revenue by payment channel"),
            PAYMENTS,
            "channel",
            CHANNEL_HEADER,
            PAYMENT_MEASURES,
            chart=1,
        ),
    ),
    notes=(
        _(
            "Public revenue collected: the orders paid on the dates, each on the business "
            "date of its payment (Beijing time, cut at 24:00), whatever was refunded since "
            "(see Refunds). Freight collected for couriers is not public revenue and is "
            "left out."
        ),
        _(
            "By fee item, an order counts once under each of its fee items, with what "
            "that item's lines charged."
        ),
    ),
)

WAIVER_PAGE = Page(
    name="waivers",
    title=_("Waivers"),
    takes=CHANNEL,
    breakdowns=(
        Breakdown(
            "waivers-by-reason",
            _("Waivers by reason"),
            WAIVERS,
            "reason",
            _("Waiver reason"),
            WAIVER_MEASURES,
            chart=1,
        ),
        Breakdown(
            "waivers-by-kind",
            _("Waivers by kind of rule"),
            WAIVERS,
            "waiver_kind",
            _("Kind of waiver"),
            WAIVER_MEASURES,
            chart=1,
        ),
        Breakdown(
            "waivers-by-department",
            _("Waivers by department"),
            WAIVERS,
            "department",
            DEPARTMENT_HEADER,
            WAIVER_MEASURES,
            chart=1,
        ),
        Breakdown(
            "waivers-by-period",
            _("Waivers by period"),
            WAIVERS,
            PERIOD,
            PERIOD_HEADER,
            WAIVER_MEASURES,
            chart=1,
        ),
    ),
    notes=(
        _(
            "The fee lines charged under a waiver rule, of the orders paid on the dates "
            "(on the business date of their payment) and of those waived to nothing (on the "
            "business date they were made)."
        ),
        _(
            "Waived amount: the standard the line was charged against (for a fee item "
            "charged within a range, the amount assessed in it) times the quantity, less "
            "what the line charged. Lines made before the standard was recorded with them "
            "are counted, and add nothing to the amount."
        ),
    ),
)


REFUND_PAGE = Page(
    name="refunds",
    title=_("Refunds"),
    takes=CHANNEL,
    breakdowns=(
        Breakdown(
            "refunds-by-period",
            _("Refunds by period"),
            REFUNDS,
            PERIOD,
            PERIOD_HEADER,
            REFUND_MEASURES,
            chart=1,
        ),
        Breakdown(
            "refunds-by-department",
            _("Refunds by department"),
            REFUNDS,
            "department",
            DEPARTMENT_HEADER,
            REFUND_MEASURES,
            chart=1,
        ),
        Breakdown(
            "refunds-by-channel",
            _("Refunds by payment channel"),
            REFUNDS,
            "channel",
            CHANNEL_HEADER,
            REFUND_MEASURES,
            chart=1,
        ),
        Breakdown(
            "refunds-by-kind",
            _("Refunds by kind"),
            REFUNDS,
            "kind",
            _("Kind of refund"),
            REFUND_MEASURES,
            chart=1,
        ),
    ),
    notes=(
        _(
            "Refunds that reached the payer, each on the business date it was refunded: "
            "those the portal asked for, and money given back that could not settle its "
            "order."
        ),
    ),
)

SETTLEMENT_PAGE = Page(
    name="settlement",
    title=_("Settlement"),
    takes=CHANNEL,
    breakdowns=(
        Breakdown(
            "fees-by-processor",
            _("Processors' fees by payment channel"),
            CLEARINGS,
            "processor",
            CHANNEL_HEADER,
            FEE_MEASURES,
            chart=1,
        ),
        Breakdown(
            "fees-by-period",
            _("Processors' fees by period"),
            CLEARINGS,
            PERIOD,
            PERIOD_HEADER,
            FEE_MEASURES,
            chart=1,
        ),
        Breakdown(
            "arrival-by-processor",
            _("Settlement by payment channel"),
            CLEARINGS,
            "processor",
            CHANNEL_HEADER,
            ARRIVAL_MEASURES,
            chart=6,
        ),
        Breakdown(
            "arrival-by-period",
            _("Settlement by period"),
            CLEARINGS,
            PERIOD,
            PERIOD_HEADER,
            ARRIVAL_MEASURES,
            chart=6,
        ),
    ),
    notes=(
        _(
            "The clearing of each business date in the dates: what each processor owes each "
            "department's settlement account, less its fees, transferred on the settlement "
            "date."
        ),
        _(
            "On time: the whole transfer is on the settlement account's bank statement of "
            "the settlement date or an earlier one; late: only on a later one. The on-time "
            "share is of the clearings whose settlement date has passed."
        ),
    ),
)


DELIVERY_PAGE = Page(
    name="delivery",
    title=pgettext_lazy("statistics", "Delivery"),
    takes=COURIER,
    breakdowns=(
        Breakdown(
            "delivery-by-courier",
            _("Delivery by courier"),
            SHIPMENTS,
            "courier",
            _("Courier"),
            DELIVERY_MEASURES,
            chart=3,
        ),
        Breakdown(
            "delivery-by-period",
            _("Delivery by period"),
            SHIPMENTS,
            PERIOD,
            PERIOD_HEADER,
            DELIVERY_MEASURES,
            chart=3,
        ),
        Breakdown(
            "delivery-by-department",
            _("Delivery by department"),
            SHIPMENTS,
            "department",
            DEPARTMENT_HEADER,
            DELIVERY_MEASURES,
            chart=3,
        ),
    ),
    notes=(
        _(
            "Shipments booked with a courier on the dates, each on the business date of its "
            "booking; cancelled ones are left out."
        ),
        _(
            "On time: signed for by the time limit the shipment was booked with (its "
            "deliver-by time). The on-time rate is of the shipments signed for or past "
            "their time limit."
        ),
        _(
            "Undeliverable: the shipment's undeliverable rule was applied after the last "
            "failed delivery, or it was sent back without being signed for. The rate is of "
            "every shipment booked."
        ),
    ),
)

PAGES = {
    page.name: page
    for page in (REVENUE_PAGE, WAIVER_PAGE, REFUND_PAGE, SETTLEMENT_PAGE, DELIVERY_PAGE)
}
