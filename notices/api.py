"""The SMS gateway's callbacks: raw bytes in, the gateway's own answer out (/notify/sms/)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core.errors import error_body
from integrations.sms.base import CallbackAck
from notices.callbacks import sms_reply_callback_receive, sms_status_callback_receive


def _callback(receive: Callable[..., CallbackAck]):
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        if not settings.SMS.get("enabled"):
            return JsonResponse(error_body("not_found", "SMS notices are off."), status=404)
        ack = receive(
            query=request.GET.dict(),
            body=request.body,
            source_ip=request.META.get("REMOTE_ADDR", ""),
        )
        return HttpResponse(ack.body, status=ack.status, content_type=ack.content_type)

    return view


urlpatterns = [
    path("status", _callback(sms_status_callback_receive), name="sms-status-callback"),
    path("reply", _callback(sms_reply_callback_receive), name="sms-reply-callback"),
]
