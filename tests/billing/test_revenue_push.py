import itertools
import time
import uuid
from datetime import date, timedelta

import pytest
import requests
from django.db import transaction
from django.utils import timezone

from billing.models import (
    AttemptStatus,
    Department,
    FeeItem,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
    PaymentOrderLine,
    Refund,
    RefundStatus,
    RevenueRecord,
    RevenueRecordStatus,
    RevenueSystem,
)
from billing.revenue import (
    NO_SYSTEM,
    revenue_record_emit,
    revenue_system_configure,
    revenue_system_for_region,
)
from core import pii
from demo.access import demo_seed
from integrations.revenue.base import ProviderDeclined, PushRequest, ReceiptStatus
from integrations.revenue.http_json import HttpJsonRevenueSystem
from outbox.engine import deliver, retry_now, sweep
from tests.billing.conftest import NATURAL_ID
from tests.waiting import eventually

S = RevenueRecordStatus
_codes = itertools.count(10_000_000_000_000_000_000)


# Paid orders, built as rows


@pytest.fixture
def hangzhou(transactional_db):
    return department_in("330100", code="330100-SCJG")


def department_in(region_code: str, *, code: str) -> Department:
    return Department.objects.create(
        code=code,
        name=f"{code} 市场监督管理局",
        region_code=region_code,
        settlement_account_name="非税收入汇缴结算户",
        settlement_account_number="33050161622700000101",
        settlement_bank="中国建设银行杭州分行",
        accepted_channels=["public_platform"],
    )


def paid_order(department: Department) -> PaymentOrder:
    fee, _ = FeeItem.objects.get_or_create(
        code=f"FEE-{department.code}",
        defaults={
            "name": "营业执照工本费",
            "department": department,
            "legal_basis": "发改价格规〔2018〕988号",
            "standard_amount": 1500,
        },
    )
    paid_at = timezone.now()
    order = PaymentOrder.objects.create(
        payment_code=str(next(_codes)),
        verification_code_hash="0" * 64,
        case_number="ZJ-2026-000123",
        service_item_code="11330100MB0000000X-001",
        department=department,
        region_code=department.region_code,
        payer_type="natural",
        payer_name="张三",
        payer_id_number_encrypted=pii.encrypt(NATURAL_ID, column="payment_order.payer_id_number"),
        payer_id_number_index=pii.blind_index(NATURAL_ID, purpose="id_number"),
        payer_id_number_masked=pii.mask_id_number(NATURAL_ID),
        amount=3000,
        status=OrderStatus.PAID,
        expires_at=paid_at + timedelta(days=3),
        paid_at=paid_at,
    )
    PaymentOrderLine.objects.create(
        order=order, fee_item=fee, quantity=2, unit_amount=1500, amount=3000
    )
    PaymentAttempt.objects.create(
        order=order,
        channel="public_platform",
        status=AttemptStatus.SUCCEEDED,
        amount=3000,
        received_amount=3000,
        provider_trade_no=f"2026{order.payment_code}",
        paid_at=paid_at,
        settles_order=True,
    )
    return order


def refund_of(order: PaymentOrder, amount: int = 1500) -> Refund:
    return Refund.objects.create(
        order=order,
        attempt=order.attempts.get(),
        amount=amount,
        reason="申请人撤回",
        status=RefundStatus.SUCCEEDED,
        refunded_at=timezone.now(),
    )


def emit(order: PaymentOrder, refund: Refund | None = None) -> RevenueRecord:
    with transaction.atomic():
        return revenue_record_emit(
            order=order, kind="refund" if refund else "payment", refund=refund
        )


# The sandbox revenue system


class Sandbox:
    """A system of its own in the sandbox, so no test sees another's records."""

    def __init__(
        self,
        live_service,
        settings,
        *,
        prefix: str = "3301",
        secret: str = "",
        signature_method: str = "HMAC-SHA256",
    ) -> None:
        self.code = f"t-{uuid.uuid4().hex[:10]}"
        self.secret = f"secret-{uuid.uuid4().hex}"
        settings.SANDBOX_REVENUE = {
            "systems": {self.code: self.secret},
            "signature_methods": {self.code: signature_method},
        }
        self.base_url = f"{live_service.url}/sandbox/revenue/{self.code}"
        self.system = revenue_system_configure(
            code=self.code,
            name="杭州市非税收入征管系统",
            region_prefix=prefix,
            base_url=self.base_url,
            app_key="backoffice",
            secret=secret or self.secret,
            actor="test",
        )

    def mode(self, mode: str, **options) -> None:
        answer = requests.post(f"{self.base_url}/_control/mode", json={"mode": mode, **options})
        assert answer.status_code == 200, answer.content

    def records(self) -> list[dict]:
        return requests.get(f"{self.base_url}/_control/records").json()["records"]

    def adapter(self, secret: str = "") -> HttpJsonRevenueSystem:
        return HttpJsonRevenueSystem(
            base_url=self.base_url, app_key="backoffice", secret=secret or self.secret
        )


@pytest.fixture
def sandbox(live_service, settings, hangzhou):
    return Sandbox(live_service, settings)


def settled(record: RevenueRecord, *statuses: str) -> RevenueRecord | None:
    record.refresh_from_db()
    return record if record.status in statuses else None


def wait_for_attempt(record: RevenueRecord, number: int) -> timedelta:
    """Wait until attempt ``number`` is recorded; return the wait it scheduled."""

    def recorded():
        record.refresh_from_db()
        return record.attempt_count >= number

    eventually(recorded)
    assert record.attempt_count == number
    return record.next_attempt_at - record.last_attempt_at


def sweep_when_due(record: RevenueRecord) -> None:
    eventually(lambda: timezone.now() >= record.next_attempt_at)
    assert sweep()["revenue_record"] >= 1


def sweep_until(predicate, timeout: float = 30.0) -> None:
    """Run the sweep every half second, as beat would every 30 s, until ``predicate`` holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the condition did not become true in time"
        sweep()["revenue_record"]
        time.sleep(0.5)


# Delivery by the real worker to the sandbox over HTTP


def test_a_paid_order_emitted_in_a_transaction_is_pushed_once_and_acknowledged(
    task_worker, sandbox, hangzhou
):
    order = paid_order(hangzhou)

    record = emit(order)

    record = eventually(lambda: settled(record, S.ACKNOWLEDGED))
    [held] = sandbox.records()
    assert held["record_id"] == record.public_id
    assert held["push_count"] == 1
    assert held["receipt_no"] == record.receipt_no != ""
    assert held["kind"] == "payment" and held["sequence"] == 1
    assert held["payment_code"] == order.payment_code
    assert held["department_code"] == "330100-SCJG"
    assert held["total_fen"] == 3000
    assert held["items"] == [
        {
            "code": "FEE-330100-SCJG",
            "name": "营业执照工本费",
            "quantity": 2,
            "unit_fen": 1500,
            "amount_fen": 3000,
        }
    ]
    assert held["payer"] == {"name": "张三", "id_number_masked": "1101**********002X"}
    assert NATURAL_ID not in str(held)
    assert held["channel_trade_no"] == order.attempts.get().provider_trade_no
    assert record.attempt_count == 1
    assert [(a.action, a.status_code) for a in record.attempts.all()] == [("push", 200)]


def test_the_daily_record_file_lists_what_the_system_received(task_worker, sandbox, hangzhou):
    record = emit(paid_order(hangzhou))
    eventually(lambda: settled(record, S.ACKNOWLEDGED))

    today = timezone.localdate(timezone.now(), timezone.get_fixed_timezone(480))
    lines = sandbox.adapter().fetch_daily_records(today).decode().splitlines()
    other_day = sandbox.adapter().fetch_daily_records(date(2020, 1, 1)).decode().splitlines()

    assert lines[0] == "record_id,payment_code,department_code,amount_fen,kind,received_time"
    assert lines[1].startswith(
        f"{record.public_id},{record.payload['payment_code']},330100-SCJG,3000,payment,"
    )
    assert len(lines) == 2
    assert len(other_day) == 1


def test_a_rolled_back_transaction_pushes_nothing(task_worker, sandbox, hangzhou):
    rolled_back, committed = paid_order(hangzhou), paid_order(hangzhou)

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        revenue_record_emit(order=rolled_back, kind="payment")
        _ = 1 / 0
    record = emit(committed)

    # The worker takes tasks in order, so a task for the rolled-back record would come first.
    eventually(lambda: settled(record, S.ACKNOWLEDGED))
    assert [held["record_id"] for held in sandbox.records()] == [record.public_id]
    assert RevenueRecord.objects.count() == 1


def test_a_system_down_for_a_while_gets_every_record_once_and_in_order_when_it_is_back(
    task_worker, sandbox, hangzhou, settings
):
    schedule = (timedelta(milliseconds=300), timedelta(milliseconds=600), timedelta(seconds=1.2))
    settings.REVENUE_PUSH_RETRY_SCHEDULE = (*schedule, *(timedelta(seconds=1),) * 20)
    sandbox.mode("down")
    orders = [paid_order(hangzhou) for _ in range(3)]
    payments = [emit(order) for order in orders]
    refund = emit(orders[0], refund_of(orders[0]))

    first = payments[0]
    waits = [wait_for_attempt(first, 1)]
    for attempt in (2, 3):
        sweep_when_due(first)
        waits.append(wait_for_attempt(first, attempt))
    refund.refresh_from_db()
    assert waits == list(schedule)
    assert first.status == S.PENDING and "HTTP 503" in first.last_error
    assert refund.status == S.PENDING and refund.attempt_count == 0  # waits for the payment
    assert sandbox.records() == []

    sandbox.mode("up")

    sweep_until(lambda: not RevenueRecord.objects.exclude(status=S.ACKNOWLEDGED).exists())
    held = sandbox.records()
    assert sorted(r["record_id"] for r in held) == sorted(r.public_id for r in [*payments, refund])
    assert all(r["push_count"] == 1 for r in held)
    of_first_order = [r["record_id"] for r in held if r["payment_code"] == orders[0].payment_code]
    assert of_first_order == [first.public_id, refund.public_id]
    refund.refresh_from_db()
    assert refund.sequence == 2 and refund.attempt_count == 1
    assert refund.payload["total_fen"] == 1500


def test_a_push_that_timed_out_after_the_system_stored_it_is_stored_once_on_retry(
    task_worker, sandbox, hangzhou, settings
):
    settings.REVENUE_PUSH_TIMEOUT_SECONDS = (1.0, 0.3)
    settings.REVENUE_PUSH_RETRY_SCHEDULE = (timedelta(seconds=1),)
    sandbox.mode("slow", delay_ms=600)

    record = emit(paid_order(hangzhou))
    wait_for_attempt(record, 1)
    assert "Timeout" in record.last_error
    sandbox.mode("up")
    sweep_when_due(record)

    record = eventually(lambda: settled(record, S.ACKNOWLEDGED))
    [held] = sandbox.records()
    assert held["push_count"] == 2
    assert held["receipt_no"] == record.receipt_no


def test_the_same_record_pushed_twice_is_held_once_with_one_receipt(live_service, sandbox):
    request = PushRequest(
        record_id="rv_duplicate0000000000000",
        kind="payment",
        sequence=1,
        content={"payment_code": "33010000000000000017", "department_code": "D1", "total_fen": 1},
    )

    first, second = sandbox.adapter().push(request), sandbox.adapter().push(request)

    assert first.status == second.status == ReceiptStatus.RECEIPTED
    assert first.receipt_no == second.receipt_no != ""
    [held] = sandbox.records()
    assert held["push_count"] == 2


def test_a_record_accepted_without_a_receipt_is_acknowledged_by_a_later_query(
    task_worker, sandbox, hangzhou, settings
):
    settings.REVENUE_RECEIPT_QUERY_SCHEDULE = (timedelta(milliseconds=300),)
    sandbox.mode("up", deferred_receipts=True)

    record = emit(paid_order(hangzhou))
    record = eventually(lambda: settled(record, S.DELIVERED))
    assert record.receipt_no == "" and record.delivered_at is not None
    sweep_when_due(record)

    record = eventually(lambda: settled(record, S.ACKNOWLEDGED))
    assert record.receipt_no == sandbox.records()[0]["receipt_no"] != ""
    assert [a.action for a in record.attempts.all()] == ["push", "query"]
    assert record.attempt_count == 1 and record.query_count == 1


def test_a_forged_signature_is_refused_and_the_record_keeps_its_schedule_with_the_error(
    live_service, settings, hangzhou
):
    sandbox = Sandbox(live_service, settings, secret="not-the-secret-the-system-issued")

    with pytest.raises(ProviderDeclined) as refused:
        sandbox.adapter(secret="forged").push(
            PushRequest(record_id="rv_x", kind="payment", sequence=1, content={})
        )
    assert refused.value.http_status == 401 and refused.value.code == "1001"

    record = emit(paid_order(hangzhou))
    deliver("revenue_record", record.pk)

    record.refresh_from_db()
    assert record.status == S.PENDING
    assert record.attempt_count == 1
    assert "HTTP 401 code 1001" in record.last_error
    assert record.next_attempt_at - record.last_attempt_at == timedelta(seconds=30)
    assert record.attempts.get().status_code == 401
    assert sandbox.records() == []


def test_a_system_agreed_on_hmac_sm3_acknowledges_what_the_worker_pushes(
    task_worker, live_service, settings, hangzhou
):
    sandbox = Sandbox(live_service, settings, signature_method="HMAC-SM3")
    settings.REVENUE_SIGNATURE_METHODS = {sandbox.code: "HMAC-SM3"}

    record = emit(paid_order(hangzhou))

    record = eventually(lambda: settled(record, S.ACKNOWLEDGED))
    [held] = sandbox.records()
    assert (held["record_id"], held["receipt_no"]) == (record.public_id, record.receipt_no)
    assert [(a.action, a.status_code) for a in record.attempts.all()] == [("push", 200)]


def test_a_push_signed_with_another_method_than_the_systems_is_refused_and_retried_later(
    live_service, settings, hangzhou
):
    sandbox = Sandbox(live_service, settings, signature_method="HMAC-SM3")  # ours: HMAC-SHA256

    record = emit(paid_order(hangzhou))
    deliver("revenue_record", record.pk)

    record.refresh_from_db()
    assert record.status == S.PENDING and record.attempt_count == 1
    assert "HTTP 401 code 1007" in record.last_error
    assert sandbox.records() == []


# Routing, ordering and the outbox, without a receiver


def configure(prefix: str, code: str) -> RevenueSystem:
    return revenue_system_configure(
        code=code,
        name=code,
        region_prefix=prefix,
        base_url="https://fiscal.example.gov.cn/revenue",
        app_key="backoffice",
        secret="s",
        actor="test",
    )


def test_the_longest_configured_prefix_of_the_region_wins(db):
    province, city = configure("33", "zj"), configure("3301", "hz")

    assert revenue_system_for_region("330106") == city
    assert revenue_system_for_region("330100") == city
    assert revenue_system_for_region("330200") == province
    assert revenue_system_for_region("110100") is None
    RevenueSystem.objects.filter(pk=city.pk).update(active=False)
    assert revenue_system_for_region("330106") is None


def test_a_record_is_routed_by_its_departments_region(db):
    configure("33", "zj")
    configure("3301", "hz")

    in_hangzhou = emit(paid_order(department_in("330106", code="330106-SCJG")))
    in_ningbo = emit(paid_order(department_in("330200", code="330200-SCJG")))

    assert in_hangzhou.revenue_system.code == "hz"
    assert in_ningbo.revenue_system.code == "zj"
    assert in_hangzhou.status == in_ningbo.status == S.PENDING


def test_a_region_without_a_system_gets_a_failed_record_that_finance_can_retry(db):
    order = paid_order(department_in("110100", code="110100-SCJG"))

    record = emit(order)

    assert record.status == S.FAILED
    assert record.revenue_system is None
    assert record.last_error == NO_SYSTEM
    assert record.next_attempt_at is None
    assert sweep()["revenue_record"] == 0

    assert retry_now("revenue_record", record.pk, actor="user:finance").status == S.FAILED
    beijing = configure("11", "bj")
    record = retry_now("revenue_record", record.pk, actor="user:finance")
    assert record.status == S.PENDING
    assert record.revenue_system == beijing
    assert record.last_error == ""


def test_a_refund_record_is_not_sent_before_the_payment_record_is_accepted(db):
    configure("3301", "hz")
    order = paid_order(department_in("330100", code="330100-SCJG"))
    payment = emit(order)
    refund = emit(order, refund_of(order))

    deliver("revenue_record", refund.pk)  # its turn has not come: no call is made

    refund.refresh_from_db()
    assert (payment.sequence, refund.sequence) == (1, 2)
    assert refund.attempt_count == 0 and not refund.attempts.exists()
    assert sweep()["revenue_record"] == 1  # the payment only


def test_emitting_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        revenue_record_emit(order=PaymentOrder(), kind="payment")


def test_the_demo_seed_routes_the_demo_catalogue_to_the_sandbox_system(db, settings):
    demo_seed()
    demo_seed()  # again, as every embedded start does

    [system] = RevenueSystem.objects.all()
    assert (system.code, system.region_prefix) == ("hz-fiscal", "3301")
    assert system.base_url == f"{settings.SANDBOX_BASE_URL}/sandbox/revenue/hz-fiscal"
    secret = pii.decrypt(system.secret_encrypted, column="revenue_system.secret")
    assert secret == settings.SANDBOX_REVENUE["systems"]["hz-fiscal"]
    assert {revenue_system_for_region(d.region_code) for d in Department.objects.all()} == {system}
