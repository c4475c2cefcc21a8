"""Who may call each API operation: one table, keyed by the OpenAPI operation id.

A caller is an API key by its role (``ApiRole``) or a staff user by what the user is
(``StaffRole``). An operation is allowed when the caller's role is in its row and, for a
staff user, when the user also holds the row's Django permission. An operation without a
row is refused; the system check below and the authorization matrix test both fail when the
schema and the table disagree. Which records a caller then sees (its own orders, its
departments) is decided by the selectors, not here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from django.core import checks

from core.models import ApiRole


class StaffRole(StrEnum):
    FINANCE = "finance_staff"  # the finance group, or a superuser
    AUDITOR = "finance_auditor"  # reads and downloads; acts on nothing


RESOLVE = "reconciliation.resolve_discrepancy"
APPROVE = "reconciliation.approve_discrepancy"
RERUN = "reconciliation.rerun_reconciliation"
RETRY_WEBHOOK = "billing.retry_webhookdelivery"
RETRY_REFUND = "billing.retry_refund"
RETRY_REVENUE = "billing.retry_revenuerecord"
RETRY_RECEIPT = "billing.retry_receipt"
VIEW_CONTACTS = "logistics.view_contacts"
# 结报: a preparer generates and submits, a second person approves or returns (closing/).
PREPARE_SETTLEMENT = "closing.submit_settlementreport"
APPROVE_SETTLEMENT = "closing.approve_settlementreport"
RETRY_REMITTANCE = "closing.retry_remittanceinstruction"

# Read the money records: finance scripts' keys and every finance staff member.
FINANCE_READERS = frozenset({ApiRole.FINANCE, StaffRole.FINANCE, StaffRole.AUDITOR})
# The only staff who act, in the API and in the console alike.
ACTING_STAFF = frozenset({StaffRole.FINANCE})


@dataclass(frozen=True)
class Access:
    roles: frozenset[str] = frozenset()
    permission: str | None = None  # also needed by a staff user; keys hold no permissions
    public: bool = False  # anyone, without credentials


def allow(*roles: str, permission: str | None = None) -> Access:
    return Access(roles=frozenset(roles), permission=permission)


OPERATIONS: dict[str, Access] = {
    "payment_codes_lookup": Access(public=True),
    "payment_codes_receipt_lookup": Access(public=True),
    "payment_codes_receipt_pdf": Access(public=True),
    "departments_list": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "fee_items_list": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "service_items_list": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "ledger_trial_balance": allow(*FINANCE_READERS),
    # Department-scoped staff: their departments' accounts only (reconciliation/api).
    "ledger_accounts_retrieve": allow(*FINANCE_READERS),
    "payment_orders_create": allow(ApiRole.PORTAL),
    "payment_orders_list": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "payment_orders_retrieve": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "payment_orders_receipt_retrieve": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "payment_orders_receipt_pdf": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "payment_orders_cancel": allow(ApiRole.PORTAL),
    "payment_orders_payments_create": allow(ApiRole.PORTAL),
    "payment_orders_refunds_create": allow(ApiRole.PORTAL),
    "payment_orders_refunds_list": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "webhook_endpoints_create": allow(ApiRole.PORTAL),
    "webhook_endpoints_list": allow(ApiRole.PORTAL),
    "webhook_endpoints_disable": allow(ApiRole.PORTAL),
    "webhook_endpoints_deliveries_list": allow(ApiRole.PORTAL),
    "shipments_create": allow(ApiRole.PORTAL),
    "shipments_list": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "shipments_retrieve": allow(ApiRole.PORTAL, *FINANCE_READERS),
    "shipments_cancel": allow(ApiRole.PORTAL),
    "shipments_undeliverable_choice": allow(ApiRole.PORTAL),
    "shipments_contacts": allow(
        ApiRole.PORTAL, StaffRole.FINANCE, StaffRole.AUDITOR, permission=VIEW_CONTACTS
    ),
    "shipments_proof": allow(ApiRole.PORTAL, ApiRole.FINANCE, StaffRole.FINANCE),
    "shipments_part_ready": allow(ApiRole.PORTAL),
    "tracking_lookup": Access(public=True),
    # A courier beyond those the service books with posts its scans with its own key.
    "courier_events_push": allow(ApiRole.COURIER),
    "reconciliation_runs_start": allow(ApiRole.FINANCE, StaffRole.FINANCE, permission=RERUN),
    "reconciliation_runs_list": allow(*FINANCE_READERS),
    "reconciliation_runs_retrieve": allow(*FINANCE_READERS),
    "reconciliation_runs_report_xlsx": allow(*FINANCE_READERS),
    "reconciliation_runs_report_csv": allow(*FINANCE_READERS),
    "reconciliation_statements_upload": allow(ApiRole.FINANCE, StaffRole.FINANCE, permission=RERUN),
    "reconciliation_discrepancies_list": allow(*FINANCE_READERS),
    "reconciliation_discrepancies_retrieve": allow(*FINANCE_READERS),
    # Resolutions are made by people (four eyes mean two staff users), never by a key.
    "reconciliation_discrepancies_assign": allow(StaffRole.FINANCE, permission=RESOLVE),
    "reconciliation_discrepancies_comment": allow(StaffRole.FINANCE, permission=RESOLVE),
    "reconciliation_discrepancies_propose": allow(StaffRole.FINANCE, permission=RESOLVE),
    "reconciliation_discrepancies_approve": allow(StaffRole.FINANCE, permission=APPROVE),
    "reconciliation_discrepancies_reject": allow(StaffRole.FINANCE, permission=APPROVE),
    "reconciliation_clearing_list": allow(*FINANCE_READERS),
    "reconciliation_clearing_csv": allow(*FINANCE_READERS),
    # 结报 are read only here: submitting and approving are a person's steps in the console.
    "closing_reports_list": allow(*FINANCE_READERS),
    "closing_reports_retrieve": allow(*FINANCE_READERS),
    "closing_reports_xlsx": allow(*FINANCE_READERS),
    "closing_reports_csv": allow(*FINANCE_READERS),
    "closing_reports_csv_signature": allow(*FINANCE_READERS),
    "closing_signing_key": allow(*FINANCE_READERS),
}


def may_call(operation: str | None, *, role: str | None, user=None) -> bool:
    """Whether a caller of ``role`` (a staff ``user`` for staff roles) may call ``operation``."""
    access = OPERATIONS.get(operation)
    if access is None:
        return False
    if access.public:
        return True
    if role not in access.roles:
        return False
    return access.permission is None or user is None or user.has_perm(access.permission)


def staff_may_act(*, role: str | None, user, permission: str) -> bool:
    """A staff step outside the API (the console, the admin): the acting role and the permission."""
    return role in ACTING_STAFF and user.has_perm(permission)


_schema_built = threading.Lock()


def _schema_operations() -> dict[tuple[type, str], str]:
    # drf-spectacular's generator is not thread-safe: the first requests of a threaded
    # worker must not generate the schema at once (config/wsgi.py builds it at boot).
    with _schema_built:
        return _schema_operations_generated()


@cache
def _schema_operations_generated() -> dict[tuple[type, str], str]:
    """(view class, HTTP method) → operation id, as the generated OpenAPI schema names them."""
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator()
    paths = generator.get_schema(request=None, public=True)["paths"]
    found = {}
    for path, _, method, callback in generator.endpoints:
        operation = paths.get(path, {}).get(method.lower(), {}).get("operationId")
        if operation:
            found[(callback.cls, method)] = operation
    return found


def operation_of(view_class: type, method: str) -> str | None:
    return _schema_operations().get((view_class, "GET" if method == "HEAD" else method))


def schema_operation_ids() -> set[str]:
    return set(_schema_operations().values())


@checks.register(checks.Tags.security)
def check_every_operation_has_a_row(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    in_schema = schema_operation_ids()
    errors = [
        checks.Error(f"API operation {name} has no row in core.roles.OPERATIONS.", id="roles.E001")
        for name in sorted(in_schema - OPERATIONS.keys())
    ]
    errors += [
        checks.Error(f"core.roles.OPERATIONS names {name}, no API operation.", id="roles.E002")
        for name in sorted(OPERATIONS.keys() - in_schema)
    ]
    return errors
