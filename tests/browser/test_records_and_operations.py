"""Finance staff look up an order and a shipment, and check processors and backlogs."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils.translation import override
from playwright.sync_api import expect

from billing.models import PaymentOrder, Processor, Receipt, ReceiptKind, ReceiptStatus, Refund
from billing.receipts import receipt_request
from logistics.models import Shipment, ShipmentStatus
from tests.billing.test_receipts import Platform, issued
from tests.billing.test_revenue_push import paid_order
from tests.browser.console_ui import LAPTOP, TABLET, ConsoleUI
from tests.waiting import eventually


def fits_the_width(ui: ConsoleUI) -> bool:
    """Nothing sticks out sideways: wide tables scroll inside their frame, not the page."""
    return ui.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def the_pdf_behind(ui: ConsoleUI, link) -> bytes:
    """What a receipt's PDF link serves to this person's session."""
    answer = ui.page.request.get(link.get_attribute("href"))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    return answer.body()


def test_an_order_is_found_by_its_id_and_its_history_opens(ui, day):
    reddened = Receipt.objects.filter(kind=ReceiptKind.RED).values("order")
    order = PaymentOrder.objects.filter(pk__in=reddened).first()
    assert order is not None, "the demo day refunds some orders, with red-letter receipts"
    ui.log_in("finance", day.logins["finance"])

    ui.open("orders/")
    search = ui.testid("record-search")
    search.locator("input[name=q]").fill(order.public_id)
    ui.submit(search)

    rows = ui.testid("orders-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    ui.screenshot("orders")
    ui.testid(f"order-{order.public_id}").get_by_role("link").first.click()
    expect(ui.page).to_have_url(re.compile(rf"/console/orders/{order.public_id}/$"))
    expect(ui.testid("order-history")).to_be_visible()
    ui.screenshot("order")
    receipts = list(Receipt.objects.filter(order=order))
    for viewport in (LAPTOP, TABLET):
        ui.page.set_viewport_size(viewport)
        expect(ui.testid("order-receipts")).to_be_visible()
        assert fits_the_width(ui), viewport
    for receipt in receipts:
        row = ui.testid(f"receipt-{receipt.public_id}")
        with override("zh-hans"):
            kind, status = receipt.get_kind_display(), receipt.get_status_display()
        expect(row.locator(f"[data-kind={receipt.kind}]")).to_contain_text(kind)
        expect(row.locator("[data-status]")).to_have_text(status)
        expect(ui.testid(f"receipt-number-{receipt.public_id}")).to_have_text(
            f"{receipt.code} {receipt.number}"
        )
        assert the_pdf_behind(ui, ui.testid(f"receipt-pdf-{receipt.public_id}")).startswith(b"%PDF")
    ui.page.set_viewport_size(LAPTOP)

    ui.open("refunds/")
    for refund in Refund.objects.filter(order=order):
        expect(ui.testid(f"refund-{refund.public_id}")).to_be_visible()
    ui.screenshot("refunds")

    ui.open(f"orders/{order.public_id}/")
    with ui.page.expect_navigation():
        ui.page.locator("select[name=language]").select_option("en")
    expect(ui.page.get_by_role("heading", name="Fiscal receipts")).to_be_visible()
    expect(ui.testid("order-receipts").locator("[data-kind=red]")).to_contain_text("red-letter")


def test_shipments_processors_and_backlogs_show_the_day(ui, day):
    ui.log_in("finance", day.logins["finance"])

    ui.open("shipments/")
    expect(ui.testid("shipments-table")).to_be_visible()
    ui.screenshot("shipments")
    delivered = Shipment.objects.filter(status=ShipmentStatus.DELIVERED).first()
    assert delivered is not None, "the demo day delivers some shipments"
    search = ui.testid("record-search")
    search.locator("input[name=q]").fill(delivered.waybill_no)
    ui.submit(search)
    expect(ui.testid("shipments-table").locator("tbody tr")).to_have_count(1)
    ui.testid(f"shipment-{delivered.public_id}").get_by_role("link").first.click()
    expect(ui.testid("shipment-history")).to_be_visible()
    ui.screenshot("shipment")

    ui.open("processors/")
    for code in Processor.objects.values_list("code", flat=True):
        expect(ui.testid(f"processor-{code}")).to_be_visible()
    ui.screenshot("processors")

    ui.open("backlogs/")
    expect(ui.testid("revenue-backlog")).to_be_visible()
    expect(ui.testid("webhook-backlog")).to_be_visible()
    expect(ui.testid("receipt-backlog")).to_be_visible()
    expect(ui.testid("receipt-counts")).to_be_visible()
    ui.screenshot("backlogs")
    ui.screenshot("backlogs-tablet", viewport=TABLET)


def test_a_failed_receipt_is_retried_from_its_order_page_and_issued(
    ui, day, live_service, settings
):
    platform = Platform(live_service.url)
    settings.RECEIPT_RETRY_SCHEDULE = ()  # a platform down refuses the receipt for good
    order = paid_order(PaymentOrder.objects.filter(status="paid").first().department)
    platform.mode("down")
    try:
        with transaction.atomic():
            receipt = receipt_request(order=order)  # sent by the worker once committed
        eventually(lambda: Receipt.objects.filter(pk=receipt.pk, status="failed").exists())
    finally:
        platform.mode("up")
    ui.log_in("finance", day.logins["finance"])

    ui.open(f"orders/{order.public_id}/")
    row = ui.testid(f"receipt-{receipt.public_id}")
    with override("zh-hans"):
        failed = ReceiptStatus.FAILED.label
        issued_label = ReceiptStatus.ISSUED.label
    expect(row.locator("[data-status]")).to_have_text(str(failed))
    expect(row).to_contain_text("ProviderUnavailable")
    ui.submit(row.locator("form"))

    expect(ui.page).to_have_url(re.compile(rf"/console/orders/{order.public_id}/#order-receipts$"))
    expect(ui.page.get_by_role("status")).to_contain_text(receipt.public_id)
    eventually(lambda: issued(receipt))
    ui.page.reload()
    expect(row.locator("[data-status]")).to_have_text(str(issued_label))
    assert the_pdf_behind(ui, ui.testid(f"receipt-pdf-{receipt.public_id}")).startswith(b"%PDF")
