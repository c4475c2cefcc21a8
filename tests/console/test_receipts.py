"""Fiscal receipts in the console: an order's receipts with their PDF and "retry now", the
receipts search, the backlog of receipts not yet issued, and the morning's counts.

Receipts are requested through billing.receipts as a payment or refund requests them, and
issued by the receipt platform's sandbox in a live service, as in tests/billing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from billing.models import PaymentOrder, Receipt, ReceiptStatus
from billing.receipts import NO_RECEIPT_TO_REDDEN, receipt_red_request, receipt_request
from core.auth import AUDITOR_GROUP, FINANCE_GROUP
from core.models import AuditRecord
from core.money import business_date_of
from tests.billing.test_receipts import Platform, held_back, issued, send_now
from tests.billing.test_revenue_push import department_in, paid_order, refund_of
from tests.console.conftest import logged_in, make_staff
from tests.console.test_operations import element, english, page_of
from tests.waiting import eventually

S = ReceiptStatus


def requested(order: PaymentOrder) -> Receipt:
    """The paid order's receipt, asked for and not yet due (no worker sends it)."""
    with transaction.atomic():
        return held_back(receipt_request(order=order))


def issue(order: PaymentOrder) -> Receipt:
    receipt = send_now(requested(order))  # against the live sandbox
    assert receipt.status == S.ISSUED, receipt.last_error
    return receipt


def red_with_nothing_to_redden(order: PaymentOrder, amount: int = 1500) -> Receipt:
    """A refund of an order that has no receipt: its red-letter request fails at once."""
    with transaction.atomic():
        red = receipt_red_request(order=order, refund=refund_of(order, amount))
    assert (red.status, red.last_error) == (S.FAILED, NO_RECEIPT_TO_REDDEN)
    return red


def overdue(receipt: Receipt) -> Receipt:
    """Asked for an hour ago."""
    Receipt.objects.filter(pk=receipt.pk).update(created_at=timezone.now() - timedelta(hours=1))
    return receipt


@pytest.fixture
def market():
    return department_in("330100", code="330100-SCJG")


@pytest.fixture
def police():
    return department_in("330100", code="330100-GA")


def retry_url(receipt: Receipt) -> str:
    return f"/console/backlogs/receipts/{receipt.pk}/retry/"


def audits(action: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(action=action).order_by("id"))


# Who may retry: the role table and the groups' grants agree


@pytest.mark.django_db
def test_finance_staff_may_retry_a_receipt_and_auditors_may_only_read_them():
    make_staff("anyone")  # makes the groups as a migrate does
    finance = set(Group.objects.get(name=FINANCE_GROUP).permissions.values_list("codename"))
    auditor = set(Group.objects.get(name=AUDITOR_GROUP).permissions.values_list("codename"))

    assert {("retry_receipt",), ("view_receipt",)} <= finance
    assert ("view_receipt",) in auditor and ("retry_receipt",) not in auditor
    # The same grant as the revenue push's retry, to the same groups.
    assert (("retry_revenuerecord",) in finance, ("retry_revenuerecord",) in auditor) == (
        True,
        False,
    )


# The order page


def test_the_order_page_lists_the_normal_and_red_letter_receipts_with_their_fields(
    live_service, clerk, market
):
    order = paid_order(market)
    blue = issue(order)
    with transaction.atomic():
        red = held_back(receipt_red_request(order=order, refund=refund_of(order, 1000)))

    page = page_of(clerk, f"/console/orders/{order.public_id}/")

    table = element(page, "order-receipts")
    assert "正常票据" in table and "红字票据" in table  # the kinds' labels, never their codes
    blue_row = element(page, f"receipt-{blue.public_id}")
    assert f"{blue.code} {blue.number}" in blue_row
    assert "30.00" in blue_row and 'data-status="issued"' in blue_row and "已开具" in blue_row
    issued_at = timezone.localtime(blue.issued_at).strftime("%Y-%m-%d %H:%M:%S")
    assert issued_at in blue_row
    assert f'href="/console/receipts/{blue.public_id}.pdf"' in blue_row
    assert element(page, f"retry-receipt-{blue.public_id}") is None
    red_row = element(page, f"receipt-{red.public_id}")
    assert "-10.00" in red_row and 'data-status="requested"' in red_row
    assert red.refund.public_id in red_row and f"{blue.code} {blue.number}" in red_row
    assert '<td class="money">0</td>' in red_row  # no try yet
    assert "receipt-pdf-" not in red_row
    assert element(page, f"retry-receipt-{red.public_id}")
    assert "receipt.issued" in element(page, "audit-trail")


@pytest.mark.django_db
def test_unissued_receipts_show_their_tries_and_last_error_and_overdue_ones_are_flagged(
    clerk, market
):
    first, second, third = (paid_order(market) for _ in range(3))
    waiting = overdue(requested(first))
    Receipt.objects.filter(pk=waiting.pk).update(
        attempt_count=3, last_error="ProviderUnavailable: HTTP 503"
    )
    fresh = requested(second)
    failed = red_with_nothing_to_redden(third)

    page = page_of(english(clerk), f"/console/orders/{first.public_id}/")
    row = element(page, f"receipt-{waiting.public_id}")
    assert "ProviderUnavailable: HTTP 503" in row and '<td class="money">3</td>' in row
    assert element(page, f"receipt-overdue-{waiting.public_id}")

    page = page_of(english(clerk), f"/console/orders/{second.public_id}/")
    assert element(page, f"receipt-{fresh.public_id}")
    assert element(page, f"receipt-overdue-{fresh.public_id}") is None
    page = page_of(english(clerk), f"/console/orders/{third.public_id}/")
    row = element(page, f"receipt-{failed.public_id}")
    assert 'data-status="failed"' in row and NO_RECEIPT_TO_REDDEN in row
    assert element(page, f"retry-receipt-{failed.public_id}")


@pytest.mark.django_db
def test_another_departments_staff_see_neither_the_order_nor_its_receipts(market, police):
    receipt = requested(paid_order(police))
    scoped = logged_in(make_staff("market.clerk", market))

    assert scoped.get(f"/console/orders/{receipt.order.public_id}/").status_code == 404
    assert receipt.public_id not in page_of(scoped, "/console/receipts/")
    assert receipt.public_id not in page_of(scoped, "/console/backlogs/")
    assert receipt.public_id in page_of(
        logged_in(make_staff("police.clerk", police)), "/console/receipts/"
    )


# The PDF


def test_an_issued_receipts_pdf_is_served_to_staff_who_see_its_order(
    live_service, clerk, auditor, market, police
):
    blue = issue(paid_order(police))
    waiting = requested(paid_order(police))
    scoped = logged_in(make_staff("market.clerk", market))

    answer = clerk.get(f"/console/receipts/{blue.public_id}.pdf")

    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/pdf"
    assert answer["Content-Disposition"] == (
        f'inline; filename="receipt-{blue.code}-{blue.number}.pdf"'
    )
    assert answer.content.startswith(b"%PDF-")
    assert auditor.get(f"/console/receipts/{blue.public_id}.pdf").status_code == 200
    for client, url in (
        (scoped, f"/console/receipts/{blue.public_id}.pdf"),
        (clerk, f"/console/receipts/{waiting.public_id}.pdf"),
        (clerk, "/console/receipts/rc_unknown.pdf"),
    ):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert answer["Content-Type"].startswith("text/html")


# Retry now


@pytest.mark.django_db
def test_a_clerks_retry_makes_the_receipt_due_now_audited_and_returns_to_the_order(clerk, market):
    receipt = requested(paid_order(market))  # waits until tomorrow
    order_page = f"/console/orders/{receipt.order.public_id}/"
    before = timezone.now()

    answer = english(clerk).post(
        retry_url(receipt), {"next": f"{order_page}#order-receipts"}, follow=True
    )

    assert answer.redirect_chain == [(f"{order_page}#order-receipts", 303)]
    assert f"Retry requested for fiscal receipt {receipt.public_id}." in answer.content.decode()
    receipt.refresh_from_db()
    assert receipt.status == S.REQUESTED
    assert before <= receipt.next_attempt_at <= timezone.now()
    [audit] = audits("receipt.retry_now")
    assert (audit.actor, audit.object_id, audit.from_status, audit.to_status) == (
        "user:clerk",
        receipt.public_id,
        "requested",
        "requested",
    )
    assert f'data-testid="audit-{audit.pk}"' in page_of(clerk, order_page)


def test_a_failed_receipt_retried_by_a_clerk_is_issued_once_the_platform_is_back(
    live_service, task_worker, settings, clerk, market
):
    platform = Platform(live_service.url)
    settings.RECEIPT_RETRY_SCHEDULE = ()  # the first refusal of a platform down is final
    platform.mode("down")
    try:
        receipt = send_now(requested(paid_order(market)))
        assert receipt.status == S.FAILED and "ProviderUnavailable" in receipt.last_error
    finally:
        platform.mode("up")

    answer = clerk.post(retry_url(receipt))

    assert (answer.status_code, answer["Location"]) == (303, "/console/backlogs/#receipt-backlog")
    [audit] = audits("receipt.retry_now")
    assert (audit.from_status, audit.to_status) == ("failed", "requested")
    assert "ProviderUnavailable" in audit.reason
    receipt = eventually(lambda: issued(receipt))  # queued at once, sent by the worker
    assert receipt.attempt_count == 1 and receipt.last_error == ""


@pytest.mark.django_db
def test_a_red_letter_receipt_with_nothing_to_redden_is_refused_with_the_reason(clerk, market):
    red = red_with_nothing_to_redden(paid_order(market))

    answer = english(clerk).post(retry_url(red), follow=True)

    assert "The order has no receipt to redden." in answer.content.decode()
    red.refresh_from_db()
    assert red.status == S.FAILED
    assert audits("receipt.retry_now") == []


@pytest.mark.django_db
def test_an_auditor_is_offered_no_retry_and_is_refused_one(auditor, market):
    receipt = requested(paid_order(market))
    red = red_with_nothing_to_redden(paid_order(market))

    order_page = page_of(auditor, f"/console/orders/{receipt.order.public_id}/")
    backlog = page_of(auditor, "/console/backlogs/")

    assert element(order_page, f"receipt-{receipt.public_id}")
    assert "retry-receipt-" not in order_page and "retry-receipt-" not in backlog
    assert "retry-failed-receipts" not in backlog
    assert auditor.post(retry_url(receipt)).status_code == 403
    assert (
        auditor.post("/console/backlogs/receipts/retry-failed/", {"id": [red.pk]}).status_code
        == 403
    )
    assert audits("receipt.retry_now") == []


@pytest.mark.django_db
def test_another_departments_receipt_is_not_found_for_a_retry(market, police):
    theirs = requested(paid_order(police))
    their_failed = red_with_nothing_to_redden(paid_order(police))
    scoped = logged_in(make_staff("market.clerk", market))

    assert scoped.post(retry_url(theirs)).status_code == 404
    scoped.post("/console/backlogs/receipts/retry-failed/", {"id": [their_failed.pk]})
    assert audits("receipt.retry_now") == []


@pytest.mark.django_db
def test_a_retry_returns_only_to_a_console_page(clerk, market):
    receipt = requested(paid_order(market))

    answer = clerk.post(retry_url(receipt), {"next": "https://elsewhere.example/console/"})

    assert answer["Location"] == "/console/backlogs/#receipt-backlog"


# The backlog


@pytest.mark.django_db
def test_the_backlog_lists_the_receipts_not_yet_issued_with_counts_and_a_retry_of_the_failed(
    clerk, market, police
):
    waiting = overdue(requested(paid_order(market)))
    failed = red_with_nothing_to_redden(paid_order(police))

    page = page_of(clerk, "/console/backlogs/")

    row = element(page, f"receipt-{waiting.public_id}")
    assert f"/console/orders/{waiting.order.public_id}/" in row and market.name in row
    assert element(page, f"receipt-overdue-{waiting.public_id}")
    assert element(page, f"receipt-{failed.public_id}")
    assert ">1<" in element(page, "receipt-pending-count")
    assert ">1<" in element(page, "receipt-failed-count")
    assert "?receipt_kind=red" in element(page, "receipt-counts-by-receipt_kind")
    assert element(page, f"retry-receipt-{waiting.public_id}")
    form = page.split('data-testid="retry-failed-receipts"')[0].rsplit("<form", 1)[1]
    assert f'name="id" value="{failed.pk}"' in form and f'value="{waiting.pk}"' not in form

    failed_only = page_of(clerk, "/console/backlogs/?status=failed")
    assert element(failed_only, f"receipt-{waiting.public_id}") is None
    assert element(failed_only, f"receipt-{failed.public_id}")
    normal_only = page_of(clerk, "/console/backlogs/?receipt_kind=normal")
    assert element(normal_only, f"receipt-{failed.public_id}") is None

    scoped = page_of(logged_in(make_staff("market.clerk", market)), "/console/backlogs/")
    assert element(scoped, f"receipt-{failed.public_id}") is None
    assert ">0<" in element(scoped, "receipt-failed-count")


@pytest.mark.django_db
def test_retrying_the_failed_receipts_shown_retries_each_of_them(clerk, market):
    orders = [paid_order(market) for _ in range(2)]
    for order in orders:
        original = requested(order)  # refused by the platform, say
        Receipt.objects.filter(pk=original.pk).update(status=S.FAILED, next_attempt_at=None)
    reds = []
    for order in orders:
        with transaction.atomic():
            reds.append(receipt_red_request(order=order, refund=refund_of(order)))
    originals = list(Receipt.objects.filter(order__in=orders, kind="normal"))

    answer = english(clerk).post(
        "/console/backlogs/receipts/retry-failed/",
        {"id": [receipt.pk for receipt in originals + reds]},
        follow=True,
    )

    assert "Retry requested for 2 failed rows." in answer.content.decode()
    for receipt in originals:
        receipt.refresh_from_db()
        assert receipt.status == S.REQUESTED and receipt.next_attempt_at <= timezone.now()
    retried = {audit.object_id for audit in audits("receipt.retry_now")}
    assert retried == {receipt.public_id for receipt in originals}


# The receipts search


@pytest.mark.django_db
def test_receipts_are_found_by_number_id_order_or_case_and_filtered(clerk, market):
    waiting = requested(paid_order(market))
    failed = red_with_nothing_to_redden(paid_order(market))

    def found(**params) -> set[str]:
        page = page_of(
            clerk, "/console/receipts/?" + "&".join(f"{k}={v}" for k, v in params.items())
        )
        return {r.public_id for r in (waiting, failed) if element(page, f"receipt-{r.public_id}")}

    assert found() == {waiting.public_id, failed.public_id}
    assert found(q=waiting.public_id) == {waiting.public_id}
    assert found(q=failed.order.public_id) == {failed.public_id}
    assert found(status="failed") == {failed.public_id}
    assert found(kind="normal") == {waiting.public_id}
    today = business_date_of(timezone.now())
    assert found(date=today.isoformat()) == {waiting.public_id, failed.public_id}
    assert found(date=(today - timedelta(days=1)).isoformat()) == set()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url", "data", "status"),
    [
        ("get", "/console/receipts/", {"status": "lost"}, 400),
        ("get", "/console/receipts/", {"kind": "blue"}, 400),
        ("get", "/console/receipts/", {"date": "2026-02-30"}, 400),
        ("get", "/console/receipts/", {"q": "x" * 101}, 400),
        ("get", "/console/receipts/", {"page": "0"}, 400),
        ("get", "/console/receipts/rc_x/y.pdf", {}, 404),
        ("get", "/console/backlogs/", {"receipt_kind": "blue"}, 400),
        ("post", "/console/backlogs/receipts/999999/retry/", {}, 404),
        ("post", f"/console/backlogs/receipts/{10**30}/retry/", {}, 404),
        ("get", "/console/backlogs/receipts/1/retry/", {}, 405),
        ("post", "/console/backlogs/receipts/retry-failed/", {"id": ["abc"]}, 400),
    ],
)
def test_bad_receipt_ids_and_parameters_are_answered_without_a_server_error(
    clerk, method, url, data, status
):
    answer = getattr(clerk, method)(url, data)
    assert answer.status_code == status
    assert answer["Content-Type"].startswith("text/html")


# The morning


def test_the_morning_counts_the_days_receipts_issued_pending_and_failed_of_the_readers_departments(
    live_service, market, police
):
    issue(paid_order(market))
    requested(paid_order(market))
    red_with_nothing_to_redden(paid_order(market), amount=1000)
    requested(paid_order(police))
    yesterdays = paid_order(market)
    PaymentOrder.objects.filter(pk=yesterdays.pk).update(paid_at=timezone.now() - timedelta(days=1))
    requested(yesterdays)
    today = business_date_of(timezone.now()).isoformat()
    everyone = logged_in(make_staff("chief"))
    scoped = logged_in(make_staff("market.clerk", market))

    page = page_of(everyone, f"/console/?date={today}")

    shown = {
        status: element(page, f"receipts-{status}") for status in ("issued", "requested", "failed")
    }
    assert ">1</a>" in shown["issued"] and "30.00" in shown["issued"]
    assert ">2</a>" in shown["requested"] and "60.00" in shown["requested"]
    assert ">1</a>" in shown["failed"] and "-10.00" in shown["failed"]
    assert "已开具" in shown["issued"]
    assert f'href="/console/receipts/?status=failed&amp;date={today}"' in shown["failed"]
    listed = page_of(everyone, f"/console/receipts/?status=requested&date={today}")
    assert listed.count('data-testid="retry-receipt-') == 2

    limited = page_of(scoped, f"/console/?date={today}")
    assert ">1</a>" in element(limited, "receipts-requested")
    assert ">1</a>" in element(limited, "receipts-issued")
