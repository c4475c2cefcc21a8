from __future__ import annotations

from core.models import AuditRecord


def audit_entry(
    *,
    actor: str,
    action: str,
    obj: object,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    data: dict | None = None,
) -> AuditRecord:
    """An audit row, not yet written: give it to ``audit_records``."""
    return AuditRecord(
        actor=actor[:120],
        action=action,
        object_type=type(obj).__name__,
        object_id=str(getattr(obj, "public_id", None) or obj.pk),
        from_status=from_status,
        to_status=to_status,
        reason=reason[:255],
        data=data or {},
    )


def audit_records(*entries: AuditRecord) -> list[AuditRecord]:
    """Append audit rows, in this order, in one statement; call it inside the transaction
    that makes the change."""
    return AuditRecord.objects.bulk_create(entries)


def audit_record(**fields: object) -> AuditRecord:
    """Append an audit row (``audit_entry``'s fields); call it inside the transaction that
    makes the change."""
    entry = audit_entry(**fields)
    entry.save(force_insert=True)
    return entry
