from django.contrib import admin, messages
from django.utils import timezone

from core.auth import hash_api_key, new_api_key
from core.models import ApiClient, AuditRecord


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "key_prefix", "created_at", "revoked_at"]
    list_filter = ["role"]
    fields = ["name", "role", "key_prefix", "created_at", "revoked_at"]
    readonly_fields = ["key_prefix", "created_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name", "role"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            key = new_api_key()
            obj.key_prefix, obj.key_hash = key[:12], hash_api_key(key)
            messages.warning(request, f"The key of {obj.name}, shown this once: {key}")
        super().save_model(request, obj, form, change)

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset):
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "object_type", "object_id", "from_status", "to_status"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
