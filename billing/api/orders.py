"""Payment orders: create, read, list, cancel, and start paying."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from billing import selectors
from billing.api import serializers as s
from billing.api.schema import IDEMPOTENCY_KEY, RETRY_AFTER, errors
from billing.models import PaymentOrder
from billing.services import attempts, closing, orders
from core.api import (
    idempotency_key,
    page_of,
    page_parameters,
    paginated,
    replayable,
    run_once,
)
from core.auth import OperationAccess
from core.errors import NotFound


def visible_order(request, public_id: str) -> PaymentOrder:
    orders = selectors.visible_orders(request.user).filter(public_id=public_id)
    order = orders.prefetch_related("lines__fee_item").first()
    if order is None:
        raise NotFound("No such payment order.")
    return order


class PaymentOrderListCreate(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="payment_orders_create",
        parameters=[IDEMPOTENCY_KEY],
        request=s.PaymentOrderCreateSerializer,
        responses={201: s.PaymentOrderCreatedSerializer, **errors(400, 401, 403, 413, 422)},
    )
    def post(self, request):
        key = idempotency_key(request)
        incoming = s.PaymentOrderCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data

        def create() -> tuple[int, dict]:
            created = orders.payment_order_create(
                client=request.user.client,
                case_number=data["case_number"],
                service_item_code=data["service_item_code"],
                stage=data["stage"],
                department_code=data["department"],
                region_code=data["region_code"],
                payer=orders.PayerInput(**data["payer"]),
                lines=[orders.LineInput(**line) for line in data["lines"]],
                expires_at=data.get("expires_at"),
            )
            created.order.verification_code = created.verification_code
            return 201, s.PaymentOrderCreatedSerializer(created.order).data

        return replayable(
            run_once(request, key=key, scope="payment_order.create", operation=create)
        )

    @extend_schema(
        operation_id="payment_orders_list",
        parameters=[s.PaymentOrderFilterSerializer, *page_parameters()],
        responses={200: page_of(s.PaymentOrderSerializer), **errors(400, 401, 403)},
    )
    def get(self, request):
        filters = s.PaymentOrderFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = selectors.filter_orders(
            selectors.visible_orders(request.user).prefetch_related("lines__fee_item"),
            **filters.validated_data,
        )
        return paginated(request, self, queryset, s.PaymentOrderSerializer)


class PaymentOrderDetail(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="payment_orders_retrieve",
        responses={200: s.PaymentOrderSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, public_id: str):
        return Response(s.PaymentOrderSerializer(visible_order(request, public_id)).data)


class PaymentOrderCancel(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="payment_orders_cancel",
        request=s.CancelSerializer,
        responses={200: s.PaymentOrderSerializer, **errors(400, 401, 403, 404, 409, 413, 503)},
    )
    def post(self, request, public_id: str):
        incoming = s.CancelSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = visible_order(request, public_id)
        closing.payment_order_cancel(
            public_id=order.public_id,
            actor=request.user.actor,
            reason=incoming.validated_data["reason"],
        )
        return Response(s.PaymentOrderSerializer(visible_order(request, public_id)).data)


class PaymentAttemptCreate(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="payment_orders_payments_create",
        request=s.PaymentStartSerializer,
        responses={
            201: s.PaymentAttemptSerializer,
            **errors(400, 401, 403, 404, 409, 413, 422, 503),
        },
    )
    def post(self, request, public_id: str):
        incoming = s.PaymentStartSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        attempt = attempts.payment_attempt_start(
            order_public_id=public_id,
            channel_code=incoming.validated_data["channel"],
            return_url=incoming.validated_data["return_url"],
            payer_ip=incoming.validated_data["payer_ip"],
            actor=request.user.actor,
            visible=selectors.visible_orders(request.user),
        )
        return Response(s.PaymentAttemptSerializer(attempt).data, status=201)


class LookupThrottle(AnonRateThrottle):
    rate = "30/minute"


class PaymentCodeLookup(APIView):
    """For the public: a payment code and its verification code show the slip."""

    permission_classes = [OperationAccess]
    authentication_classes = []
    throttle_classes = [LookupThrottle]

    @extend_schema(
        operation_id="payment_codes_lookup",
        parameters=[OpenApiParameter("verification_code", str, required=True), RETRY_AFTER],
        responses={200: s.PublicOrderSerializer, **errors(400, 404, 429)},
    )
    def get(self, request, payment_code: str):
        incoming = s.PaymentCodeLookupSerializer(
            data={"payment_code": payment_code, **request.query_params.dict()}
        )
        incoming.is_valid(raise_exception=True)
        order = (
            PaymentOrder.objects.select_related("department")
            .prefetch_related("lines__fee_item")
            .filter(
                payment_code=payment_code,
                verification_code_hash=orders.verification_code_hash(
                    incoming.validated_data["verification_code"]
                ),
            )
            .first()
        )
        if order is None:
            raise NotFound("No order with this payment code and verification code.")
        return Response(s.PublicOrderSerializer(order).data)


urlpatterns = [
    path("payment-orders", PaymentOrderListCreate.as_view(), name="payment-orders"),
    path("payment-orders/<str:public_id>", PaymentOrderDetail.as_view(), name="payment-order"),
    path(
        "payment-orders/<str:public_id>/cancel",
        PaymentOrderCancel.as_view(),
        name="payment-order-cancel",
    ),
    path(
        "payment-orders/<str:public_id>/payments",
        PaymentAttemptCreate.as_view(),
        name="payment-order-payments",
    ),
    path(
        "payment-codes/<str:payment_code>", PaymentCodeLookup.as_view(), name="payment-code-lookup"
    ),
]
