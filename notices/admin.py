"""The notices in the admin: read-only, with "retry now" on failed ones."""

from __future__ import annotations

from django.contrib import admin

from core.admin_base import ReadOnlyAdmin
from notices.models import SmsMessage, SmsOptOut
from outbox.admin import OutboxAdmin


@admin.register(SmsMessage)
class SmsMessageAdmin(OutboxAdmin):
    outbox_kind = "sms_message"
    list_display = ["public_id", "kind", "phone_masked", "status", "gateway_code", "created_at"]
    list_filter = ["kind"]
    search_fields = ["public_id", "serial_no"]
    exclude = ["phone_encrypted", "phone_index"]
    date_hierarchy = "created_at"


@admin.register(SmsOptOut)
class SmsOptOutAdmin(ReadOnlyAdmin):
    list_display = ["phone_masked", "reply", "created_at"]
    exclude = ["phone_index"]
