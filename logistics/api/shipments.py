"""Shipments: create, read, list, cancel, contacts, the undeliverable choice, proof, and
a parallel approval's parts as each agency's result gets ready."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.schema import IDEMPOTENCY_KEY, errors
from billing.api.serializers import CancelSerializer
from billing.services.orders import PayerInput
from core.api import (
    idempotency_key,
    page_of,
    page_parameters,
    paginated,
    replayable,
    run_once,
)
from core.audit import audit_record
from core.auth import OperationAccess
from core.errors import NotFound
from integrations.couriers.base import Address
from logistics import contacts, selectors
from logistics.api import serializers as s
from logistics.models import Shipment
from logistics.services import parts, shipments


def visible_shipment(request, public_id: str) -> Shipment:
    shipment = (
        selectors.visible_shipments(request.user)
        .prefetch_related("items", "events", "parts")
        .filter(public_id=public_id)
        .first()
    )
    if shipment is None:
        raise NotFound("No such shipment.")
    return shipment


def _new_shipment(data: dict) -> shipments.NewShipment:
    return shipments.NewShipment(
        kind=data["kind"],
        case_number=data["case_number"],
        department=data["department"],
        sender=Address(**data["sender"]),
        recipient=Address(**data["recipient"]),
        items=[shipments.ItemInput(**item) for item in data["items"]],
        courier=data["courier"],
        service_level=data["service_level"],
        deliver_by=data["deliver_by"],
        freight_payer=data["freight_payer"],
        undeliverable_rule=data["undeliverable_rule"],
        declared_value=data["declared_value"],
        consolidation=data["consolidation"],
        parallel_approval_id=data["parallel_approval_id"],
        payer=PayerInput(**data["payer"]) if data.get("payer") else None,
        waybill_no=data["waybill_no"],
    )


class ShipmentListCreate(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="shipments_create",
        parameters=[IDEMPOTENCY_KEY],
        request=s.ShipmentCreateSerializer,
        responses={201: s.ShipmentCreatedSerializer, **errors(400, 401, 403, 413, 422)},
    )
    def post(self, request):
        key = idempotency_key(request)
        incoming = s.ShipmentCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        new = _new_shipment(incoming.validated_data)

        def create() -> tuple[int, dict]:
            created = shipments.shipment_create(client=request.user.client, new=new)
            created.shipment.freight_verification_code = created.freight_verification_code
            created.shipment.tracking_code = created.tracking_code
            return 201, s.ShipmentCreatedSerializer(created.shipment).data

        return replayable(run_once(request, key=key, scope="shipment.create", operation=create))

    @extend_schema(
        operation_id="shipments_list",
        parameters=[s.ShipmentFilterSerializer, *page_parameters()],
        responses={200: page_of(s.ShipmentSerializer), **errors(400, 401, 403)},
    )
    def get(self, request):
        filters = s.ShipmentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = selectors.filter_shipments(
            selectors.visible_shipments(request.user).prefetch_related("items", "parts"),
            **filters.validated_data,
        )
        return paginated(request, self, queryset, s.ShipmentSerializer)


class ShipmentDetail(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="shipments_retrieve",
        responses={200: s.ShipmentDetailSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, public_id: str):
        return Response(s.ShipmentDetailSerializer(visible_shipment(request, public_id)).data)


class ShipmentCancel(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="shipments_cancel",
        request=CancelSerializer,
        responses={200: s.ShipmentSerializer, **errors(400, 401, 403, 404, 409, 503)},
    )
    def post(self, request, public_id: str):
        incoming = CancelSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        visible_shipment(request, public_id)
        shipment = shipments.shipment_cancel(
            public_id=public_id,
            actor=request.user.actor,
            reason=incoming.validated_data["reason"] or "cancelled by the portal",
        )
        return Response(s.ShipmentSerializer(shipment).data)


class ShipmentContacts(APIView):
    """The full names, phones and addresses: to the sending portal and permitted staff, audited."""

    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="shipments_contacts",
        responses={200: s.ContactsSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, public_id: str):
        shipment = visible_shipment(request, public_id)
        audit_record(actor=request.user.actor, action="shipment.contacts_viewed", obj=shipment)
        body = {
            "sender": vars(contacts.unseal(shipment.sender_encrypted, column=contacts.SENDER)),
            "recipient": vars(
                contacts.unseal(shipment.recipient_encrypted, column=contacts.RECIPIENT)
            ),
            "pod_signer": contacts.reveal_signer(shipment.pod_signer_encrypted),
        }
        return Response(body)


class UndeliverableChoice(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="shipments_undeliverable_choice",
        request=s.UndeliverableChoiceSerializer,
        responses={200: s.ShipmentSerializer, **errors(400, 401, 403, 404, 409, 413)},
    )
    def post(self, request, public_id: str):
        visible_shipment(request, public_id)
        incoming = s.UndeliverableChoiceSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        shipment = shipments.undeliverable_choose(
            public_id=public_id, choice=incoming.validated_data["choice"], actor=request.user.actor
        )
        return Response(s.ShipmentSerializer(shipment).data)


class ProofAttach(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="shipments_proof",
        request=s.ProofSerializer,
        responses={200: s.ShipmentSerializer, **errors(400, 401, 403, 404, 409, 413)},
    )
    def post(self, request, public_id: str):
        visible_shipment(request, public_id)
        incoming = s.ProofSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        shipment = shipments.proof_attach(
            public_id=public_id,
            image_ref=incoming.validated_data["image_ref"],
            actor=request.user.actor,
        )
        return Response(s.ShipmentSerializer(shipment).data)


class PartReady(APIView):
    """One agency's result of a parallel approval is ready; the last one books the parcel."""

    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="shipments_part_ready",
        request=s.PartReadySerializer,
        responses={200: s.ShipmentSerializer, **errors(400, 401, 403, 404, 409, 413)},
    )
    def post(self, request, public_id: str):
        visible_shipment(request, public_id)
        incoming = s.PartReadySerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        parts.shipment_part_ready(
            public_id=public_id,
            issuing_agency=incoming.validated_data["issuing_agency"],
            actor=request.user.actor,
        )
        return Response(s.ShipmentSerializer(visible_shipment(request, public_id)).data)


urlpatterns = [
    path("shipments", ShipmentListCreate.as_view(), name="shipments"),
    path("shipments/<str:public_id>", ShipmentDetail.as_view(), name="shipment-detail"),
    path("shipments/<str:public_id>/cancel", ShipmentCancel.as_view(), name="shipment-cancel"),
    path(
        "shipments/<str:public_id>/contacts", ShipmentContacts.as_view(), name="shipment-contacts"
    ),
    path(
        "shipments/<str:public_id>/undeliverable-choice",
        UndeliverableChoice.as_view(),
        name="shipment-undeliverable-choice",
    ),
    path("shipments/<str:public_id>/proof", ProofAttach.as_view(), name="shipment-proof"),
    path("shipments/<str:public_id>/part-ready", PartReady.as_view(), name="shipment-part-ready"),
]
