"""Orders, refunds, fiscal receipts and shipments: search them, and read one's whole history."""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext as _

from billing.models import (
    OrderStatus,
    PaymentOrder,
    ReceiptKind,
    ReceiptStatus,
    RefundStatus,
)
from billing.receipt_pdf import receipt_pdf as receipt_face
from billing.receipts import receipt_file
from billing.selectors import visible_orders
from console import lookup, names, terms
from console.access import RETRY_RECEIPT, can, department_scope, staff_required
from console.params import choice_param, date_param, int_param, text_param
from core import pii
from integrations.couriers.registry import COURIER_CODES
from integrations.payments.registry import CHANNEL_CODES
from logistics.api.serializers import TimeLimitSerializer
from logistics.models import ShipmentStatus
from logistics.selectors import visible_shipments

PAGE_SIZE = 50
PAYER_ID_MAX = 32


def _one(visible: QuerySet, public_id: str):
    """The visible object with this id; another department's is as unknown as a made-up one."""
    found = None if "\x00" in public_id else visible.filter(public_id=public_id).first()
    if found is None:
        raise Http404
    return found


def _page(request: HttpRequest, rows: QuerySet) -> Page:
    number = int_param(request, "page", 1, low=1)
    return Paginator(rows, PAGE_SIZE).get_page(number)


def _as_choices(codes, name=str) -> list[tuple[str, str]]:
    """Codes as select choices, each labelled by ``name`` (a department is its own code)."""
    return [(code, name(code)) for code in codes]


def _department_codes(request: HttpRequest) -> list[str]:
    return list(
        lookup.visible_departments(department_scope(request)).values_list("code", flat=True)
    )


def _masked_payer(order: PaymentOrder) -> dict[str, str]:
    """The payer as staff may see them: the surname's first character, the ID's ends."""
    return {"name": pii.mask_name(order.payer_name), "id_number": order.payer_id_number_masked}


def _with_time_limits(shipments) -> list[tuple]:
    """Each shipment with its live flags, computed as the shipments API computes them."""
    return [(shipment, TimeLimitSerializer(shipment).data) for shipment in shipments]


@staff_required
def orders(request: HttpRequest) -> HttpResponse:
    departments = _department_codes(request)
    raw_payer_id = text_param(request, "payer_id", max_length=PAYER_ID_MAX)
    payer_id = lookup.valid_payer_id(raw_payer_id) if raw_payer_id else ""
    filters = lookup.OrderFilters(
        q=text_param(request, "q"),
        payer_id=payer_id or "",
        status=choice_param(request, "status", OrderStatus.values),
        department=choice_param(request, "department", departments),
        channel=choice_param(request, "channel", CHANNEL_CODES),
        created_from=date_param(request, "created_from"),
        created_to=date_param(request, "created_to"),
    )
    found = lookup.find_orders(visible_orders(request.principal), filters)
    payer_id_error = ""
    if payer_id is None:  # an invalid number finds nothing rather than everything
        found = found.none()
        payer_id_error = _(
            "Not a valid resident ID number or unified social credit code (check digit)."
        )
    page = _page(request, found)
    return render(
        request,
        "console/records/orders.html",
        {
            "section": "orders",
            "page": page,
            "rows": [(each, _masked_payer(each)) for each in page],
            "filters": filters,
            "payer_id": raw_payer_id,
            "payer_id_error": payer_id_error,
            "statuses": OrderStatus.choices,
            "departments": _as_choices(departments),
            "channels": _as_choices(CHANNEL_CODES, names.channel_name),
        },
    )


@staff_required
def order(request: HttpRequest, public_id: str) -> HttpResponse:
    found = _one(
        visible_orders(request.principal)
        .select_related("created_by")
        .prefetch_related("lines__fee_item"),
        public_id,
    )
    return render(
        request,
        "console/records/order.html",
        {
            "section": "orders",
            "order": found,
            "payer": _masked_payer(found),
            "history": lookup.order_history(found, visible_shipments(request.principal)),
            "may_retry_receipt": can(request, RETRY_RECEIPT),
        },
    )


@staff_required
def refunds(request: HttpRequest) -> HttpResponse:
    filters = lookup.RefundFilters(
        q=text_param(request, "q"),
        status=choice_param(request, "status", RefundStatus.values),
        created_from=date_param(request, "created_from"),
        created_to=date_param(request, "created_to"),
    )
    found = lookup.find_refunds(department_scope(request), filters)
    return render(
        request,
        "console/records/refunds.html",
        {
            "section": "refunds",
            "page": _page(request, found),
            "filters": filters,
            "statuses": RefundStatus.choices,
        },
    )


@staff_required
def receipts(request: HttpRequest) -> HttpResponse:
    filters = lookup.ReceiptFilters(
        q=text_param(request, "q"),
        status=choice_param(request, "status", ReceiptStatus.values),
        kind=choice_param(request, "kind", ReceiptKind.values),
        business_date=date_param(request, "date"),
    )
    found = lookup.find_receipts(lookup.visible_receipts(department_scope(request)), filters)
    return render(
        request,
        "console/records/receipts.html",
        {
            "section": "receipts",
            "page": _page(request, found),
            "filters": filters,
            "statuses": ReceiptStatus.choices,
            "kinds": ReceiptKind.choices,
            "may_retry_receipt": can(request, RETRY_RECEIPT),
        },
    )


@staff_required
def receipt_pdf(request: HttpRequest, public_id: str) -> HttpResponse:
    """An issued receipt's face, drawn from its signed file as the payer gets it."""
    issued = lookup.visible_receipts(department_scope(request)).filter(status=ReceiptStatus.ISSUED)
    found = _one(issued, public_id)
    response = HttpResponse(receipt_face(receipt_file(found)), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{found.code}-{found.number}.pdf"'
    return response


@staff_required
def shipments(request: HttpRequest) -> HttpResponse:
    departments = _department_codes(request)
    filters = lookup.ShipmentFilters(
        q=text_param(request, "q"),
        status=choice_param(request, "status", ShipmentStatus.values),
        courier=choice_param(request, "courier", COURIER_CODES),
        flag=choice_param(request, "flag", lookup.TIME_LIMIT_FLAGS),
        department=choice_param(request, "department", departments),
    )
    page = _page(request, lookup.find_shipments(visible_shipments(request.principal), filters))
    return render(
        request,
        "console/records/shipments.html",
        {
            "section": "shipments",
            "page": page,
            "rows": _with_time_limits(page),
            "filters": filters,
            "statuses": terms.choices("shipment_status"),
            "couriers": _as_choices(COURIER_CODES, names.courier_name),
            "flags": list(lookup.TIME_LIMIT_FLAG_LABELS.items()),
            "departments": _as_choices(departments),
        },
    )


@staff_required
def shipment(request: HttpRequest, public_id: str) -> HttpResponse:
    found = _one(
        visible_shipments(request.principal).prefetch_related("items", "events"), public_id
    )
    return render(
        request,
        "console/records/shipment.html",
        {
            "section": "shipments",
            "shipment": found,
            "time_limit": TimeLimitSerializer(found).data,
            "items": found.items.order_by("issuing_agency", "id"),
            "audit": lookup.audit_trail(Shipment=[found.public_id]),
        },
    )


urlpatterns = [
    path("orders/", orders, name="orders"),
    path("orders/<str:public_id>/", order, name="order"),
    path("refunds/", refunds, name="refunds"),
    path("receipts/", receipts, name="receipts"),
    path("receipts/<str:public_id>.pdf", receipt_pdf, name="receipt_pdf"),
    path("shipments/", shipments, name="shipments"),
    path("shipments/<str:public_id>/", shipment, name="shipment"),
]
