"""Fiscal receipts for the payer: the portal reads its orders' receipts, anyone holding a
receipt looks it up by its payment code and check code; each also as a PDF."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.orders import LookupThrottle, visible_order
from billing.api.schema import RETRY_AFTER, errors
from billing.models import Receipt, ReceiptKind, ReceiptStatus
from billing.payment_codes import payment_code_format
from billing.receipt_pdf import receipt_pdf
from billing.receipts import receipt_file
from core.api_fields import BIGINT_MAX, DeclaredSerializer, FenField
from core.auth import OperationAccess
from core.errors import NotFound
from integrations.receipts.base import IssuedReceipt

PDF = "application/pdf"


class ReceiptLookupThrottle(LookupThrottle):
    """The payment-code lookup's rate, in a bucket of its own: a receipt's check code is
    another secret than an order's verification code, and one page may ask for both."""

    scope = "receipt_lookup"


NO_RECEIPT = "No receipt with this payment code and check code."


# What is answered


def signed_fen(help_text: str) -> FenField:
    return FenField(min_value=-BIGINT_MAX, help_text=help_text)


class ReceiptItemSerializer(DeclaredSerializer):
    code = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.CharField(
        allow_null=True, help_text="A decimal; null on a red-letter item reddened in part."
    )
    unit = serializers.CharField()
    standard = signed_fen("The charging standard per unit, in fen.")
    amount = signed_fen("In fen; negative on a red-letter receipt.")


class ReceiptFaceSerializer(DeclaredSerializer):
    """What the receipt shows, read from its signed file."""

    title = serializers.CharField()
    payer_type = serializers.ChoiceField(choices=["person", "organisation"])
    payer_name = serializers.CharField()
    payer_code = serializers.CharField(help_text="An organisation's credit code; '' for a person.")
    invoicing_party_code = serializers.CharField()
    invoicing_party_name = serializers.CharField()
    items = ReceiptItemSerializer(many=True)
    total = signed_fen("In fen; negative on a red-letter receipt.")
    pay_code = serializers.CharField()
    pay_mode = serializers.CharField()
    paid_on = serializers.DateField(allow_null=True)
    remark = serializers.CharField(allow_blank=True)
    related_code = serializers.CharField(allow_blank=True, help_text="Red-letter: the original's.")
    related_number = serializers.CharField(allow_blank=True)
    red_reason = serializers.CharField(allow_blank=True)


class ReceiptSerializer(DeclaredSerializer):
    kind = serializers.ChoiceField(choices=ReceiptKind.choices)
    status = serializers.ChoiceField(choices=ReceiptStatus.choices)
    amount = signed_fen("In fen; negative on a red-letter receipt.")
    code = serializers.CharField(allow_null=True, help_text="票据代码, once issued.")
    number = serializers.CharField(allow_null=True, help_text="票据号码, once issued.")
    check_code = serializers.CharField(allow_null=True, help_text="校验码, once issued.")
    issued_at = serializers.DateTimeField(allow_null=True)
    face = ReceiptFaceSerializer(allow_null=True)
    download = serializers.CharField(allow_null=True, help_text="The PDF's path, once issued.")


class OrderReceiptSerializer(ReceiptSerializer):
    order = serializers.CharField()
    red_receipts = ReceiptSerializer(many=True)


def _face(issued: IssuedReceipt) -> dict:
    face = issued.face
    return {
        "title": face.title,
        "payer_type": "organisation" if face.payer_code else "person",
        "payer_name": face.payer_name,
        "payer_code": face.payer_code,
        "invoicing_party_code": face.invoicing_party_code,
        "invoicing_party_name": face.invoicing_party_name,
        "items": [
            {
                "code": item.code,
                "name": item.name,
                "quantity": None if item.quantity is None else str(item.quantity),
                "unit": item.unit,
                "standard": item.standard_fen,
                "amount": item.amount_fen,
            }
            for item in face.items
        ],
        "total": issued.total_fen,
        "pay_code": face.pay_code,
        "pay_mode": face.pay_mode,
        "paid_on": face.paid_on,
        "remark": face.remark,
        "related_code": face.related_code,
        "related_number": face.related_number,
        "red_reason": face.red_reason,
    }


def _answer(receipt: Receipt, download: str) -> dict:
    done = receipt.status == ReceiptStatus.ISSUED
    return {
        "kind": receipt.kind,
        "status": receipt.status,
        "amount": receipt.amount,
        "code": receipt.code or None,
        "number": receipt.number or None,
        "check_code": receipt.check_code or None,
        "issued_at": receipt.issued_at,
        "face": _face(receipt_file(receipt)) if done else None,
        "download": download if done else None,
    }


# Finding them


def _order_receipts(request, public_id: str) -> QuerySet[Receipt]:
    return Receipt.objects.filter(order=visible_order(request, public_id))


def _normal_receipt(receipts: QuerySet[Receipt]) -> Receipt:
    receipt = receipts.filter(kind=ReceiptKind.NORMAL).first()
    if receipt is None:
        raise NotFound("The order has no receipt: it is not paid.", code="receipt_not_found")
    return receipt


class CheckCodeSerializer(serializers.Serializer):
    payment_code = serializers.CharField(max_length=32)
    check_code = serializers.RegexField(r"^[0-9a-z]{6}$", help_text="The receipt's 校验码.")

    def validate_payment_code(self, value: str) -> str:
        if not payment_code_format().is_valid(value):
            raise serializers.ValidationError("Not a valid payment code (length or check digit).")
        return value


def _looked_up(request, payment_code: str) -> Receipt:
    incoming = CheckCodeSerializer(
        data={"payment_code": payment_code, **request.query_params.dict()}
    )
    incoming.is_valid(raise_exception=True)
    receipt = Receipt.objects.filter(
        order__payment_code=payment_code,
        check_code=incoming.validated_data["check_code"],
        status=ReceiptStatus.ISSUED,
    ).first()
    if receipt is None:
        raise NotFound(NO_RECEIPT, code="receipt_not_found")
    return receipt


def _pdf(receipt: Receipt) -> HttpResponse:
    if receipt.status != ReceiptStatus.ISSUED:
        raise NotFound("The receipt is not issued yet.", code="receipt_not_issued")
    response = HttpResponse(receipt_pdf(receipt_file(receipt)), content_type=PDF)
    name = f"receipt-{receipt.code}-{receipt.number}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response


# The views


class PdfRenderer(BaseRenderer):
    media_type = PDF
    format = "pdf"


class PdfDownload(APIView):
    """Answers a PDF; an error is answered as JSON whatever the client accepted."""

    renderer_classes = [PdfRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


PDF_ANSWER = {(200, PDF): OpenApiResponse(OpenApiTypes.BINARY, description="The receipt's face.")}
CHECK_CODE = OpenApiParameter("check_code", str, required=True, description="The receipt's 校验码.")


class OrderReceipt(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="payment_orders_receipt_retrieve",
        responses={200: OrderReceiptSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, public_id: str):
        receipts = _order_receipts(request, public_id)
        receipt = _normal_receipt(receipts)
        download = f"/api/v1/payment-orders/{public_id}/receipt.pdf"
        reds = receipts.filter(kind=ReceiptKind.RED).order_by("id")
        answer = {
            "order": public_id,
            **_answer(receipt, download),
            "red_receipts": [_answer(red, f"{download}?number={red.number}") for red in reds],
        }
        return Response(OrderReceiptSerializer(answer).data)


class OrderReceiptPdf(PdfDownload):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="payment_orders_receipt_pdf",
        parameters=[
            OpenApiParameter(
                "number", str, description="A red-letter receipt's number; the order's otherwise."
            )
        ],
        responses={**PDF_ANSWER, **errors(401, 403, 404, 406)},
    )
    def get(self, request, public_id: str):
        receipts = _order_receipts(request, public_id)
        number = request.query_params.get("number")
        if number is None:
            return _pdf(_normal_receipt(receipts))
        receipt = receipts.filter(number=number, status=ReceiptStatus.ISSUED).first()
        if receipt is None:
            raise NotFound("The order has no receipt with this number.", code="receipt_not_found")
        return _pdf(receipt)


class ReceiptLookup(APIView):
    """For the public: a payment code and a receipt's check code show the receipt's face."""

    permission_classes = [OperationAccess]
    authentication_classes = []
    throttle_classes = [ReceiptLookupThrottle]

    @extend_schema(
        operation_id="payment_codes_receipt_lookup",
        parameters=[CHECK_CODE, RETRY_AFTER],
        responses={200: ReceiptSerializer, **errors(400, 404, 429)},
    )
    def get(self, request, payment_code: str):
        receipt = _looked_up(request, payment_code)
        download = (
            f"/api/v1/payment-codes/{payment_code}/receipt.pdf?check_code={receipt.check_code}"
        )
        return Response(ReceiptSerializer(_answer(receipt, download)).data)


class ReceiptLookupPdf(PdfDownload):
    permission_classes = [OperationAccess]
    authentication_classes = []
    throttle_classes = [ReceiptLookupThrottle]

    @extend_schema(
        operation_id="payment_codes_receipt_pdf",
        parameters=[CHECK_CODE, RETRY_AFTER],
        responses={**PDF_ANSWER, **errors(400, 404, 406, 429)},
    )
    def get(self, request, payment_code: str):
        return _pdf(_looked_up(request, payment_code))


urlpatterns = [
    path(
        "payment-orders/<str:public_id>/receipt",
        OrderReceipt.as_view(),
        name="payment-order-receipt",
    ),
    path(
        "payment-orders/<str:public_id>/receipt.pdf",
        OrderReceiptPdf.as_view(),
        name="payment-order-receipt-pdf",
    ),
    path(
        "payment-codes/<str:payment_code>/receipt",
        ReceiptLookup.as_view(),
        name="payment-code-receipt",
    ),
    path(
        "payment-codes/<str:payment_code>/receipt.pdf",
        ReceiptLookupPdf.as_view(),
        name="payment-code-receipt-pdf",
    ),
]
