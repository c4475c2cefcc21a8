"""Every API operation, called by every kind of caller, answers as the one table below says.

The requests go through the whole stack (middleware, authentication, permission, view) with
bodies valid enough that the answer is about who calls, not about what was sent.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from billing.models import FeeItem, StaffScope
from billing.staff import ensure_finance_group
from closing.models import SettlementReport
from core import roles
from core.auth import AUDITOR_GROUP, api_client_create, api_client_revoke
from core.models import ApiClient, ApiRole
from ledger import services as ledger
from logistics.models import CourierKey, Shipment, ShipmentStatus
from reconciliation.models import Discrepancy, ReconciliationRun
from tests.billing.conftest import order_body
from tests.conftest import charged_by_service_item, make_department
from tests.logistics.conftest import shipment_body

CALLERS = (
    "nobody",
    "revoked",
    "portal",
    "other_portal",
    "courier",
    "finance_key",
    "clerk",
    "auditor",
    "superuser",
    "scoped",
)
# Reads: every caller; "other_portal" and "scoped" read another's record (404) or list none.
#   nobody rev portal other courier fin_key clerk auditor super scoped
READ_ALL = (401, 401, 200, 404, 403, 200, 200, 200, 200, 404)
LIST_ALL = (401, 401, 200, 200, 403, 200, 200, 200, 200, 200)
FINANCE_READ = (401, 401, 403, 403, 403, 200, 200, 200, 200, 404)
FINANCE_LIST = (401, 401, 403, 403, 403, 200, 200, 200, 200, 200)
# Run-level records are not a department's: a scoped user reads them whole.
FINANCE_READ_UNSCOPED = (401, 401, 403, 403, 403, 200, 200, 200, 200, 200)
PORTAL_CREATE = (401, 401, 201, 201, 403, 403, 403, 403, 403, 403)
PORTAL_LIST = (401, 401, 200, 200, 403, 403, 403, 403, 403, 403)
# A resolution step: staff who resolve, never a key nor an auditor.
RESOLVE_STEP = (401, 401, 403, 403, 403, 403, 200, 403, 200, 404)


def portal_acts(ok: int) -> tuple[int, ...]:
    """The owning portal only: another portal does not find the record."""
    return (401, 401, ok, 404, 403, 403, 403, 403, 403, 403)


def finance_acts(ok: int) -> tuple[int, ...]:
    """Finance keys and acting staff; a scoped clerk may start runs of the whole day."""
    return (401, 401, 403, 403, 403, ok, ok, 403, ok, ok)


EXPECTED: dict[str, tuple[int, ...]] = {
    "payment_codes_lookup": (200,) * 10,
    # Anyone may look; the matrix's order is unpaid, so no receipt has the check code.
    "payment_codes_receipt_lookup": (404,) * 10,
    "payment_codes_receipt_pdf": (404,) * 10,
    "departments_list": LIST_ALL,
    "fee_items_list": LIST_ALL,
    "service_items_list": LIST_ALL,
    # The department's payable: a scoped user of another department does not find it.
    "ledger_accounts_retrieve": FINANCE_READ,
    "ledger_trial_balance": FINANCE_LIST,
    "payment_orders_create": PORTAL_CREATE,
    "payment_orders_list": LIST_ALL,
    "payment_orders_retrieve": READ_ALL,
    # The order is unpaid: once the role has passed, its missing receipt is the answer
    # (tests/billing/test_receipts_api.py reads an issued one as each caller).
    "payment_orders_receipt_retrieve": (401, 401, 404, 404, 403, 404, 404, 404, 404, 404),
    "payment_orders_receipt_pdf": (401, 401, 404, 404, 403, 404, 404, 404, 404, 404),
    "payment_orders_cancel": portal_acts(200),
    # The channel sandbox is not running here: the channel's silence is the allowed answer.
    "payment_orders_payments_create": portal_acts(503),
    # The order is unpaid: the refusal of the state is the allowed answer.
    "payment_orders_refunds_create": portal_acts(422),
    "payment_orders_refunds_list": READ_ALL,
    "webhook_endpoints_create": PORTAL_CREATE,
    "webhook_endpoints_list": PORTAL_LIST,
    "webhook_endpoints_disable": portal_acts(204),
    "webhook_endpoints_deliveries_list": portal_acts(200),
    "shipments_create": PORTAL_CREATE,
    "shipments_list": LIST_ALL,
    "shipments_retrieve": READ_ALL,
    "shipments_cancel": portal_acts(200),
    # No undeliverable choice is awaited: the state answers once the role has passed.
    "shipments_undeliverable_choice": portal_acts(409),
    # Staff need logistics.view_contacts: the clerk and the auditor lack it, a superuser has it.
    "shipments_contacts": (401, 401, 200, 404, 403, 403, 403, 403, 200, 403),
    # The probe's finding: the auditor replaced a proof of delivery.
    "shipments_proof": (401, 401, 200, 404, 403, 200, 200, 403, 200, 404),
    # The matrix's shipment is a single one: no part to be ready once the role has passed.
    "shipments_part_ready": portal_acts(409),
    # Anyone may look; the matrix's shipment is not booked, so no waybill has the code.
    "tracking_lookup": (404,) * 10,
    # The courier key reports for SF waybills it does not have: refused once the role passed.
    "courier_events_push": (401, 401, 403, 403, 422, 403, 403, 403, 403, 403),
    "reconciliation_runs_start": finance_acts(202),
    "reconciliation_runs_list": FINANCE_LIST,
    "reconciliation_runs_retrieve": FINANCE_READ_UNSCOPED,
    "reconciliation_runs_report_xlsx": FINANCE_READ_UNSCOPED,
    "reconciliation_runs_report_csv": FINANCE_READ_UNSCOPED,
    "reconciliation_statements_upload": finance_acts(201),
    "reconciliation_discrepancies_list": FINANCE_LIST,
    "reconciliation_discrepancies_retrieve": FINANCE_READ,
    "reconciliation_discrepancies_assign": RESOLVE_STEP,
    "reconciliation_discrepancies_comment": RESOLVE_STEP,
    "reconciliation_discrepancies_propose": RESOLVE_STEP,
    "reconciliation_discrepancies_approve": RESOLVE_STEP,
    "reconciliation_discrepancies_reject": RESOLVE_STEP,
    "reconciliation_clearing_list": FINANCE_LIST,
    "reconciliation_clearing_csv": FINANCE_LIST,
    "closing_reports_list": FINANCE_LIST,
    "closing_reports_retrieve": FINANCE_READ,
    "closing_reports_xlsx": FINANCE_READ,
    "closing_reports_csv": FINANCE_READ,
    "closing_reports_csv_signature": FINANCE_READ,
    "closing_signing_key": FINANCE_LIST,
}

DAY = date(2026, 11, 25)
_days = itertools.count(1)
_keys = itertools.count()
WEBHOOK_URL = "http://127.0.0.1:9/hooks"  # a public URL may not resolve offline


def schema_operations() -> dict[str, tuple[str, str]]:
    """operation id → (HTTP method, path template), from the generated schema."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return {
        operation["operationId"]: (method.upper(), path)
        for path, methods in paths.items()
        for method, operation in methods.items()
    }


def key_api(name: str, role: str) -> APIClient:
    _, key = api_client_create(name=name, role=role)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def staff_api(username: str, *, group: Group | None = None, departments=()) -> APIClient:
    user = User.objects.create_user(username, is_superuser=group is None)
    if group is not None:
        user.groups.add(group)
    if departments:
        StaffScope.objects.create(user=user).departments.add(*departments)
    api = APIClient()
    api.force_login(user)
    return api


class World:
    """The records of one portal in one department, and every caller."""

    def __init__(self):
        self.department = make_department("SCJG01", "市市场监督管理局")
        elsewhere = make_department("GA01", "市公安局")
        fee = FeeItem.objects.create(
            code="FEE-LIC",
            name="营业执照工本费",
            department=self.department,
            legal_basis="发改价格规〔2018〕988号",
            standard_amount=1500,
        )
        charged_by_service_item(fee)
        revoked_client, revoked_key = api_client_create(name="revoked", role="portal")
        api_client_revoke(client=revoked_client)
        revoked = APIClient()
        revoked.credentials(HTTP_AUTHORIZATION=f"Bearer {revoked_key}")
        self.callers = {
            "nobody": APIClient(),
            "revoked": revoked,
            "portal": key_api("portal", "portal"),
            "other_portal": key_api("other-portal", "portal"),
            "courier": key_api("courier", "courier"),
            "finance_key": key_api("finance-scripts", "finance"),
            "clerk": staff_api("clerk", group=ensure_finance_group()),
            "auditor": staff_api("auditor", group=Group.objects.get(name=AUDITOR_GROUP)),
            "superuser": staff_api("root"),
            "scoped": staff_api("scoped", group=ensure_finance_group(), departments=[elsewhere]),
        }
        # The courier key reports scans of a courier the service does not book with.
        CourierKey.objects.create(client=ApiClient.objects.get(name="courier"), courier="zto")
        self.run = ReconciliationRun.objects.create(
            business_date=DAY, party="alipay", party_kind="processor", status="succeeded"
        )
        self.order = self.new_order()
        self.shipment = self.new_shipment()
        self.endpoint = self.new_endpoint()
        self.discrepancy = self.new_discrepancy()
        self.report = SettlementReport.objects.create(
            department=self.department, business_date=DAY, generated_at=timezone.now()
        )
        with transaction.atomic():
            ledger.department_payable_account(self.department.code)

    def portal_post(self, path: str, body: dict) -> dict:
        answer = self.callers["portal"].post(
            path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"matrix-{next(_keys)}"
        )
        assert answer.status_code == 201, answer.content
        return answer.json()

    def new_order(self) -> dict:
        return self.portal_post("/api/v1/payment-orders", order_body())

    def new_shipment(self, *, delivered: bool = False) -> dict:
        shipment = self.portal_post("/api/v1/shipments", shipment_body())
        if delivered:  # a proof of delivery is kept for a delivered shipment only
            Shipment.objects.filter(public_id=shipment["id"]).update(
                status=ShipmentStatus.DELIVERED
            )
        return shipment

    def new_endpoint(self) -> dict:
        return self.portal_post("/api/v1/webhook-endpoints", {"url": WEBHOOK_URL, "events": ["*"]})

    def new_discrepancy(self, *, proposed: bool = False) -> Discrepancy:
        proposal = {
            "status": "proposed",
            "proposal": {"action": "accept_ours", "note": "账单有误"},
            "proposed_by": "user:someone-else",
        }
        return Discrepancy.objects.create(
            run=self.run,
            business_date=DAY,
            party="alipay",
            type="missing_in_channel",
            key=f"missing_in_channel:payment:pay_{next(_keys)}",
            kind="payment",
            department=self.department,
            our_ref="pay_1",
            our_amount=3000,
            owner="finance",
            **(proposal if proposed else {}),
        )

    def listed(self, answer) -> set[str]:
        """The portal's first records that a list shows."""
        ours = {self.order["id"], self.shipment["id"], self.discrepancy.pk}
        return ours & {row["id"] for row in answer.json()["results"]}

    def request(self, operation: str, method: str, path: str, caller: str, fresh: bool):
        """One call; ``fresh`` gives an allowed write a record of its own to change."""
        order = self.new_order() if fresh and "payment_orders" in operation else self.order
        shipment = (
            self.new_shipment(delivered=operation == "shipments_proof")
            if fresh and "shipments" in operation
            else self.shipment
        )
        endpoint = self.new_endpoint() if fresh and "webhook" in operation else self.endpoint
        discrepancy = (
            self.new_discrepancy(proposed=operation.endswith(("approve", "reject")))
            if fresh
            else self.discrepancy
        )
        public_id = {"payment": order, "shipment": shipment, "webhook": endpoint}
        path = (
            path.replace("{payment_code}", order["payment_code"])
            .replace("{run_id}", str(self.run.pk))
            .replace("{discrepancy_id}", str(discrepancy.pk))
            .replace("{report_id}", self.report.public_id)
            .replace("{waybill_no}", "SF1234567890")
            .replace("{code}", f"payable:{self.department.code}")
        )
        for prefix, record in public_id.items():
            if operation.startswith(prefix):
                path = path.replace("{public_id}", record["id"])
        api = self.callers[caller]
        query, body = QUERIES.get(operation, {}), BODIES.get(operation, {})
        if operation == "payment_codes_lookup":
            query = {"verification_code": order["verification_code"]}
        if method in ("GET", "DELETE"):
            return api.generic(method, path, QUERY_STRING=_encode(query))
        if operation == "reconciliation_statements_upload":
            upload = SimpleUploadedFile("alipay.csv", f"statement {next(_keys)}\n".encode())
            return api.post(path, {**body, "file": upload}, format="multipart")
        if operation == "reconciliation_runs_start":
            body = {**body, "business_date": str(DAY - timedelta(days=next(_days)))}
        return api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"matrix-{next(_keys)}")


def _encode(query: dict) -> str:
    return "&".join(f"{name}={value}" for name, value in query.items())


QUERIES = {
    "payment_codes_receipt_lookup": {"check_code": "000000"},
    "payment_codes_receipt_pdf": {"check_code": "000000"},
    "tracking_lookup": {"verification_code": "000000"},
    "ledger_trial_balance": {"business_date": DAY},
    "reconciliation_clearing_list": {"business_date": DAY},
    "reconciliation_clearing_csv": {"business_date": DAY},
}
BODIES = {
    "payment_orders_create": order_body(),
    "payment_orders_cancel": {"reason": "申请人撤回"},
    "payment_orders_payments_create": {"channel": "public_platform"},
    "payment_orders_refunds_create": {"amount": 100, "reason": "多缴"},
    "webhook_endpoints_create": {"url": WEBHOOK_URL, "events": ["*"]},
    "shipments_create": shipment_body(),
    "shipments_undeliverable_choice": {"choice": "return"},
    "shipments_proof": {"image_ref": "pod/2026/11/25/1.jpg"},
    "shipments_part_ready": {"issuing_agency": "市市场监督管理局"},
    "courier_events_push": {
        "events": [
            {
                "waybill_no": "SF1234567890",
                "event_time": "2026-11-25T09:00:00+08:00",
                "code": "picked_up",
            }
        ]
    },
    "reconciliation_runs_start": {"party": "alipay"},
    "reconciliation_statements_upload": {"party": "alipay", "business_date": str(DAY)},
    "reconciliation_discrepancies_assign": {"assignee": "clerk"},
    "reconciliation_discrepancies_comment": {"text": "查询支付宝流水"},
    "reconciliation_discrepancies_propose": {"action": "accept_ours", "note": "账单有误"},
    "reconciliation_discrepancies_reject": {"reason": "证据不足"},
}
LISTS = {"payment_orders_list", "shipments_list", "reconciliation_discrepancies_list"}
ANOTHERS = ("other_portal", "scoped")
SEES_ALL = ("portal", "finance_key", "clerk", "auditor", "superuser")


def test_every_operation_in_the_schema_has_one_expected_row_and_one_table_row():
    in_schema = set(schema_operations())
    assert sorted(in_schema - EXPECTED.keys()) == [], "operations without an expected row"
    assert sorted(EXPECTED.keys() - in_schema) == [], "expected rows without an operation"
    assert sorted(in_schema ^ roles.OPERATIONS.keys()) == []
    assert roles.check_every_operation_has_a_row() == []


def test_an_operation_missing_from_the_table_fails_the_startup_check(monkeypatch):
    monkeypatch.delitem(roles.OPERATIONS, "shipments_proof")
    monkeypatch.setitem(roles.OPERATIONS, "shipments_teleport", roles.allow("portal"))

    errors = roles.check_every_operation_has_a_row()

    assert [(error.id, error.msg) for error in errors] == [
        ("roles.E001", "API operation shipments_proof has no row in core.roles.OPERATIONS."),
        ("roles.E002", "core.roles.OPERATIONS names shipments_teleport, no API operation."),
    ]


def test_no_auditor_nor_key_of_another_role_gets_past_a_write_in_the_table():
    writes = {
        name for name, (method, _) in schema_operations().items() if method not in ("GET", "HEAD")
    }
    assert writes and not {
        name for name in writes if roles.StaffRole.AUDITOR in roles.OPERATIONS[name].roles
    }


@pytest.mark.django_db
def test_every_caller_gets_the_expected_answer_from_every_operation():
    cache.clear()  # the public lookups' throttle counts what earlier tests asked from this address
    world = World()
    wrong = []
    for operation, (method, path) in sorted(schema_operations().items()):
        for caller, expected in zip(CALLERS, EXPECTED[operation], strict=True):
            fresh = method != "GET" and expected < 400
            answer = world.request(operation, method, path, caller, fresh)
            if answer.status_code != expected:
                wrong.append(f"{operation} as {caller}: {answer.status_code}, not {expected}")
            elif expected >= 400 and answer.status_code in (401, 403, 404):
                assert answer.json()["error"]["code"], answer.content
            elif operation in LISTS and caller in ANOTHERS and world.listed(answer):
                wrong.append(f"{operation} as {caller} lists another's records")
            elif operation in LISTS and caller in SEES_ALL and not world.listed(answer):
                wrong.append(f"{operation} as {caller} lists nothing")
    assert wrong == [], "\n".join(wrong)


COLUMNS = (
    ("portal key", ApiRole.PORTAL),
    ("courier key", ApiRole.COURIER),
    ("finance key", ApiRole.FINANCE),
    ("finance staff", roles.StaffRole.FINANCE),
    ("auditor", roles.StaffRole.AUDITOR),
)


def roles_table() -> str:
    """The table of docs/security-roles.md, as core.roles.OPERATIONS says it."""
    lines = [
        "| operation | " + " | ".join(name for name, _ in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 1) + "|",
    ]
    for operation, access in sorted(roles.OPERATIONS.items()):
        if access.public:
            cells = ["anyone, no credentials"] + [""] * (len(COLUMNS) - 1)
        else:
            needs = f" (needs `{access.permission}`)" if access.permission else ""
            cells = [
                ("yes" + (needs if role in roles.StaffRole else "")) if role in access.roles else ""
                for _, role in COLUMNS
            ]
        lines.append(f"| `{operation}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def test_the_roles_page_shows_the_table_the_code_enforces():
    page = (settings.BASE_DIR / "docs" / "security-roles.md").read_text()
    assert roles_table() in page
