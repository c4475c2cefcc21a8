"""Inbound channel notifications: raw bytes in, the channel's own acknowledgement out."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.services.attempts import payment_notification_receive
from core.errors import error_body
from integrations.payments.registry import CHANNEL_CODES

DROPPED_HEADERS = {"authorization", "cookie"}


def inbound_headers(request) -> dict[str, str]:
    """A provider's request headers, lower-cased, without credentials we must not store."""
    return {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower() not in DROPPED_HEADERS
    }


@csrf_exempt
@require_POST
def channel_notification(request, channel_code: str):
    if channel_code not in CHANNEL_CODES:
        return JsonResponse(error_body("not_found", "No such channel."), status=404)
    ack = payment_notification_receive(
        channel_code=channel_code, headers=inbound_headers(request), body=request.body
    )
    return HttpResponse(ack.body, status=ack.status, content_type=ack.content_type)


urlpatterns = [path("<str:channel_code>", channel_notification, name="channel-notification")]
