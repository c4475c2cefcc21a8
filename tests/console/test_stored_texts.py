"""What the services store in English (a refund's reason, a discrepancy's resolution, an
audit row's reason) is said in the reader's language; what people and outside parties wrote
is shown as they wrote it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone, translation

from billing.models import AttemptStatus, PaymentAttempt, PaymentOrder, Refund, RefundStatus
from billing.services.attempts import payment_attempt_apply_result
from console.stored_texts import SENTENCES, stored_text
from core.audit import audit_record
from integrations.payments.base import TradeResult, TradeStatus
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.services import auto
from tests.billing.test_revenue_push import paid_order
from tests.console.test_i18n import foreign_words, text_of

# As rows written before the console said them in words hold them.
UNSETTLED = "money that could not settle the order"
NO_SUCH_REFUND = "the channel has no such refund"
LATE = "the channel confirmed the payment: applied as a late notification (补单)"
PORTAL_REASON = "申请人撤回申请"


@pytest.fixture
def day():
    return timezone.localdate() - timedelta(days=1)


@pytest.fixture
def paid_twice(department) -> PaymentAttempt:
    """An order paid, then paid again through a second attempt: the channel's word on the
    second is applied by the service, which owes that money back to the payer."""
    order = paid_order(department)
    second = PaymentAttempt.objects.create(
        order=order, channel="public_platform", status=AttemptStatus.PENDING, amount=order.amount
    )
    outcome = payment_attempt_apply_result(
        result=TradeResult(
            out_trade_no=second.public_id,
            status=TradeStatus.SUCCEEDED,
            amount=order.amount,
            provider_trade_no=f"2026{order.payment_code}2",
            paid_at=timezone.now(),
        ),
        actor="channel:public_platform:query",
    )
    assert outcome == "refund_due"
    return PaymentAttempt.objects.select_related("order").get(pk=second.pk)


@pytest.fixture
def refunds(paid_twice) -> list[Refund]:
    """The second payment's automatic refunds as older rows hold them: one declined because
    the channel did not know it, one pending; and a refund the portal asked for."""
    order, first = paid_twice.order, paid_twice.order.attempts.get(settles_order=True)
    failed = Refund.objects.create(
        order=order,
        attempt=paid_twice,
        kind=Refund.Kind.UNSETTLED_PAYMENT,
        amount=order.amount,
        reason=UNSETTLED,
        status=RefundStatus.FAILED,
        failure_reason=NO_SUCH_REFUND,
    )
    pending = Refund.objects.create(
        order=order,
        attempt=paid_twice,
        kind=Refund.Kind.UNSETTLED_PAYMENT,
        amount=order.amount,
        reason=UNSETTLED,
    )
    asked = Refund.objects.create(
        order=order, attempt=first, amount=100, reason=PORTAL_REASON, status=RefundStatus.PENDING
    )
    for refund in (failed, pending, asked):
        audit_record(actor="system", action="refund.requested", obj=refund, reason=refund.reason)
    return [failed, pending, asked]


@pytest.fixture
def run(day) -> ReconciliationRun:
    return ReconciliationRun.objects.create(
        business_date=day,
        party="public_platform",
        party_kind=PartyKind.PROCESSOR,
        status=RunStatus.SUCCEEDED,
    )


@pytest.fixture
def duplicate(run, paid_twice, refunds) -> Discrepancy:
    """The platform's bill shows the second payment: the run settles it by its refund."""
    item = Discrepancy.objects.create(
        run=run,
        business_date=run.business_date,
        party=run.party,
        type=DiscrepancyType.DUPLICATE,
        key=f"dup:{paid_twice.public_id}",
        kind="payment",
        department=paid_twice.order.department,
        our_ref=paid_twice.public_id,
        our_amount=paid_twice.amount,
        owner="finance",
    )
    assert auto.run_auto_resolve(run_id=run.pk) == 1
    item.refresh_from_db()
    assert item.status == DiscrepancyStatus.AUTO_RESOLVED
    return item


@pytest.fixture
def settled_late(run, department) -> Discrepancy:
    """A lost notification settled by a late one, before the console said it in words."""
    order = paid_order(department)
    item = Discrepancy.objects.create(
        run=run,
        business_date=run.business_date,
        party=run.party,
        type=DiscrepancyType.MISSING_IN_LEDGER,
        key="late",
        kind="payment",
        department=department,
        our_ref=order.attempts.get().public_id,
        their_amount=order.amount,
        owner="finance",
        status=DiscrepancyStatus.AUTO_RESOLVED,
        resolution=LATE,
        resolved_by=auto.ACTOR,
        resolved_at=timezone.now(),
    )
    audit_record(
        actor=auto.ACTOR,
        action="discrepancy.auto_resolved",
        obj=item,
        from_status=DiscrepancyStatus.OPEN,
        to_status=DiscrepancyStatus.AUTO_RESOLVED,
        reason=LATE,
    )
    return item


def page(client, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200
    return answer.content.decode()


def section(html: str, testid: str, end: str = "</table>") -> str:
    """The element of that test id, to its end."""
    return html.split(f'data-testid="{testid}"')[1].split(end)[0]


def order_url(order: PaymentOrder) -> str:
    return f"/console/orders/{order.public_id}/"


def test_the_order_page_says_the_refunds_and_the_audit_reasons_in_chinese(
    clerk, paid_twice, refunds
):
    html = page(clerk, order_url(paid_twice.order))
    shown = text_of(html)

    refund_rows = section(html, "order-refunds")
    assert text_of(refund_rows).count("无法核销该缴款单的款项") == 2
    assert "渠道查无此退款" in text_of(refund_rows)
    trail = text_of(section(html, "audit-trail"))
    assert "缴款单已是“已缴款”状态" in trail  # the second payment's, as the service wrote it
    assert trail.count("无法核销该缴款单的款项") == 2
    assert UNSETTLED not in shown and NO_SUCH_REFUND not in shown
    assert "order already paid" not in trail
    # The portal's own reason is as it wrote it, and not for a translator.
    assert f'<span translate="no">{PORTAL_REASON}</span>' in refund_rows
    assert foreign_words(text_of(html, translatable_only=True), language="zh-hans") == []


def test_the_refunds_list_says_the_services_reasons_in_chinese(clerk, refunds):
    shown = text_of(page(clerk, "/console/refunds/"))

    assert shown.count("无法核销该缴款单的款项") == 2
    assert "渠道查无此退款" in shown
    assert UNSETTLED not in shown


def test_the_discrepancy_page_says_a_new_resolution_and_its_audit_in_chinese(
    clerk, refunds, duplicate
):
    html = page(clerk, f"/console/discrepancies/{duplicate.pk}/")
    shown = text_of(html)
    refund = refunds[0].public_id
    said = f'重复缴纳的款项已退回（<span translate="no">{refund}</span>）'

    # The row keeps the service's English: it is a record.
    assert duplicate.resolution == f"the second payment is refunded ({refund})"
    assert said in section(html, "discrepancy-resolution", "</dd>")
    trail = section(html, "audit-trail")
    assert said in trail
    assert "无法核销该缴款单的款项" in text_of(trail)  # the refunds' rows, of its order
    assert "second payment" not in shown
    assert UNSETTLED not in shown
    assert foreign_words(text_of(html, translatable_only=True), language="zh-hans") == []


def test_the_discrepancy_page_says_an_old_resolution_and_its_audit_in_chinese(clerk, settled_late):
    html = page(clerk, f"/console/discrepancies/{settled_late.pk}/")
    shown = text_of(html)

    resolution = section(html, "discrepancy-resolution", "</dd>")
    assert "渠道确认已支付：已补单" in text_of(resolution)
    trail = section(html, "audit-trail")
    assert "渠道确认已支付：已补单" in text_of(trail)
    assert "late notification" not in shown


def test_the_morning_view_of_the_day_shows_no_english_sentence(clerk, day, duplicate, settled_late):
    html = page(clerk, f"/console/?date={day.isoformat()}")
    shown = text_of(html)

    assert "重复" in shown and "我方无记录" in shown
    for english in ("second payment", "late notification", UNSETTLED, "order already"):
        assert english not in shown
    assert foreign_words(text_of(html, translatable_only=True), language="zh-hans") == []


def test_in_english_the_same_pages_say_them_in_english(clerk, paid_twice, duplicate, settled_late):
    clerk.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    order = text_of(page(clerk, order_url(paid_twice.order)))
    detail = text_of(page(clerk, f"/console/discrepancies/{duplicate.pk}/"))
    late = text_of(page(clerk, f"/console/discrepancies/{settled_late.pk}/"))

    assert UNSETTLED in order
    assert NO_SUCH_REFUND in order
    assert "order already paid" in order
    assert "the second payment is refunded ( rf_" in detail  # the id is an element of its own
    assert "the channel confirmed the payment: applied as a late notification" in late
    assert "无法核销" not in order + detail


def test_every_sentence_a_service_writes_has_chinese_words():
    with translation.override("zh-hans"):
        for sentence in SENTENCES:
            values = {name: "x" for name in sentence.pattern().groupindex}
            written = sentence.written.format(**values)
            said = text_of(str(stored_text(written)))
            assert said != written, written
            assert not any("a" <= c.lower() <= "z" for c in said.replace("x", "")), said


def test_text_no_service_writes_is_shown_as_written_and_escaped():
    with translation.override("zh-hans"):
        assert stored_text("<b>退款</b>") == '<span translate="no">&lt;b&gt;退款&lt;/b&gt;</span>'
        assert stored_text("the second payment is refunded") == (
            '<span translate="no">the second payment is refunded</span>'
        )
        assert stored_text("") == ""
