from __future__ import annotations

from core.models import AuditRecord


def audit_record(
    *,
    actor: str,
    action: str,
    obj: object,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict | None = None,
) -> AuditRecord:
    """Append an audit row; call it inside the transaction that makes the change."""
    return AuditRecord.objects.create(
        actor=actor[:120],
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "public_id", None) or obj.pk),
        from_status=from_status,
        to_status=to_status,
        reason=reason[:255],
        data=data or {},
    )
