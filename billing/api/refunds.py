"""Refunds of a paid order: request one, list them."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.orders import visible_order
from billing.api.schema import IDEMPOTENCY_KEY, errors
from billing.api.serializers import MAX_FEN
from billing.models import Refund
from billing.services import refunds
from core.api import idempotency_key, replayable, run_once
from core.auth import OperationAccess


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=MAX_FEN, help_text="In fen.")
    reason = serializers.CharField(max_length=200)


class RefundSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    order = serializers.CharField(source="order.public_id")

    class Meta:
        model = Refund
        fields = [
            "id",
            "order",
            "kind",
            "amount",
            "reason",
            "status",
            "failure_reason",
            "refunded_at",
            "created_at",
        ]


class OrderRefunds(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="payment_orders_refunds_create",
        parameters=[IDEMPOTENCY_KEY],
        request=RefundCreateSerializer,
        responses={201: RefundSerializer, **errors(400, 401, 403, 404, 413, 422)},
    )
    def post(self, request, public_id: str):
        key = idempotency_key(request)
        incoming = RefundCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        order = visible_order(request, public_id)

        def reserve() -> tuple[int, dict]:
            refund = refunds.refund_reserve(
                order_public_id=order.public_id,
                actor=request.user.actor,
                client=request.user.client,
                **incoming.validated_data,
            )
            return 201, {"id": refund.public_id}

        result = run_once(
            request, key=key, scope=f"refund.create:{order.public_id}", operation=reserve
        )
        # A refund still pending is asked for again: the channel dedupes by our refund id.
        refund = refunds.refund_submit(refund_public_id=result.body["id"], actor=request.user.actor)
        return replayable(result, RefundSerializer(refund).data)

    @extend_schema(
        operation_id="payment_orders_refunds_list",
        responses={200: RefundSerializer(many=True), **errors(401, 403, 404)},
    )
    def get(self, request, public_id: str):
        order = visible_order(request, public_id)
        return Response(RefundSerializer(order.refunds.select_related("order"), many=True).data)


urlpatterns = [
    path(
        "payment-orders/<str:public_id>/refunds",
        OrderRefunds.as_view(),
        name="payment-order-refunds",
    ),
]
