"""Inbound courier pushes: raw bytes in, the courier's own acknowledgement out, fast."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.api.notify import inbound_headers
from core.errors import error_body
from integrations.couriers.registry import COURIER_CODES
from logistics.services.tracking import push_receive


@csrf_exempt
@require_POST
def courier_push(request, courier_code: str):
    if courier_code not in COURIER_CODES:
        return JsonResponse(error_body("not_found", "No such courier."), status=404)
    ack = push_receive(
        courier_code=courier_code,
        headers=inbound_headers(request),
        body=request.body,
        query=request.GET.dict(),
        source_ip=request.META.get("REMOTE_ADDR", ""),
    )
    return HttpResponse(ack.body, status=ack.status, content_type=ack.content_type)


urlpatterns = [path("<str:courier_code>/push", courier_push, name="courier-push")]
