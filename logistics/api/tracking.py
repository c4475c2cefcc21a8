"""For the public: a waybill and the applicant's tracking code show where the parcel is."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.orders import LookupThrottle
from billing.api.schema import RETRY_AFTER, errors
from core.auth import OperationAccess
from core.errors import NotFound
from logistics import selectors
from logistics.api import serializers as s


class TrackingLookupThrottle(LookupThrottle):
    """The payment-code lookup's rate, in a bucket of its own: the tracking code is another
    secret than a slip's verification code, and one page may ask for both."""

    scope = "tracking_lookup"


class TrackingLookup(APIView):
    permission_classes = [OperationAccess]
    authentication_classes = []
    throttle_classes = [TrackingLookupThrottle]

    @extend_schema(
        operation_id="tracking_lookup",
        parameters=[
            OpenApiParameter(
                "verification_code",
                str,
                required=True,
                description="The applicant's tracking code, given when the shipment was created.",
            ),
            RETRY_AFTER,
        ],
        responses={200: s.PublicTrackingSerializer, **errors(400, 404, 429)},
    )
    def get(self, request, waybill_no: str):
        incoming = s.TrackingLookupSerializer(
            data={"waybill_no": waybill_no, **request.query_params.dict()}
        )
        incoming.is_valid(raise_exception=True)
        shipment = selectors.tracked_shipment(
            waybill_no=incoming.validated_data["waybill_no"],
            tracking_code=incoming.validated_data["verification_code"],
        )
        if shipment is None:
            raise NotFound("No shipment with this waybill and verification code.")
        return Response(s.PublicTrackingSerializer(selectors.public_tracking(shipment)).data)


urlpatterns = [
    path("tracking/<str:waybill_no>", TrackingLookup.as_view(), name="tracking-lookup"),
]
