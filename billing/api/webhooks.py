"""The portal's webhook endpoints: register, list, disable, and read the delivery log."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import webhooks
from billing.api.schema import errors
from billing.models import DeliveryStatus, WebhookEndpoint
from core.api import page_of, page_parameters, paginated
from core.auth import OperationAccess
from core.errors import NotFound


class WebhookEndpointInputSerializer(serializers.Serializer):
    url = serializers.URLField(
        max_length=500,
        help_text="An http or https URL, without user information, whose host resolves to "
        "public internet addresses only.",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=[*webhooks.WEBHOOK_EVENT_TYPES, webhooks.ALL_EVENTS]),
        min_length=1,
        help_text="Event types to receive; '*' subscribes to every type, present and future.",
    )


class WebhookEndpointSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    events = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "active", "created_at"]


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="Shown once: the whsec_ signing secret for verifying deliveries."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(serializers.Serializer):
    event_id = serializers.CharField(source="event.public_id", help_text="The webhook-id header.")
    event_type = serializers.CharField(source="event.type")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField(source="attempt_count")
    last_status_code = serializers.IntegerField(allow_null=True)
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def _own_endpoint(request, public_id: str) -> WebhookEndpoint:
    own = WebhookEndpoint.objects.filter(client=request.user.client)
    endpoint = own.filter(public_id=public_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


class WebhookEndpointListCreate(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **errors(400, 401, 403, 409, 413)},
    )
    def post(self, request):
        incoming = WebhookEndpointInputSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        endpoint, secret = webhooks.webhook_endpoint_create(
            client=request.user.client, **incoming.validated_data
        )
        endpoint.secret = secret
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=201)

    @extend_schema(
        operation_id="webhook_endpoints_list",
        responses={200: WebhookEndpointSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request):
        endpoints = WebhookEndpoint.objects.filter(client=request.user.client).order_by("id")
        return Response(WebhookEndpointSerializer(endpoints, many=True).data)


class WebhookEndpointDetail(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="webhook_endpoints_disable",
        description="Stops deliveries to the endpoint; its pending deliveries are given up.",
        responses={204: None, **errors(401, 403, 404)},
    )
    def delete(self, request, public_id: str):
        webhooks.webhook_endpoint_disable(client=request.user.client, endpoint_public_id=public_id)
        return Response(status=204)


class WebhookEndpointDeliveries(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="webhook_endpoints_deliveries_list",
        description="The delivery log of one endpoint, newest first.",
        parameters=page_parameters(),
        responses={200: page_of(WebhookDeliverySerializer), **errors(400, 401, 403, 404)},
    )
    def get(self, request, public_id: str):
        deliveries = _own_endpoint(request, public_id).deliveries.select_related("event")
        return paginated(request, self, deliveries, WebhookDeliverySerializer)


urlpatterns = [
    path("webhook-endpoints", WebhookEndpointListCreate.as_view(), name="webhook-endpoints"),
    path(
        "webhook-endpoints/<str:public_id>",
        WebhookEndpointDetail.as_view(),
        name="webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<str:public_id>/deliveries",
        WebhookEndpointDeliveries.as_view(),
        name="webhook-endpoint-deliveries",
    ),
]
