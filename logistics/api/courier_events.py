"""The normalised courier push: a courier's scans, posted with its courier key."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.schema import errors
from core.auth import OperationAccess
from logistics.api import serializers as s
from logistics.services import courier_events


class CourierScansPost(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="courier_events_push",
        request=s.CourierScansSerializer,
        responses={202: s.CourierScansReceivedSerializer, **errors(400, 401, 403, 413, 422)},
    )
    def post(self, request):
        body = request.body  # read before the parsed data: the raw post is kept, sealed
        incoming = s.CourierScansSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        received = courier_events.courier_scans_receive(
            client=request.user.client,
            scans=[courier_events.PostedScan(**scan) for scan in incoming.validated_data["events"]],
            body=body,
            source_ip=request.META.get("REMOTE_ADDR", ""),
        )
        return Response({"received": received}, status=202)


urlpatterns = [path("courier-events", CourierScansPost.as_view(), name="courier-events")]
