"""Finance staff look up an order and a shipment, and check processors and backlogs."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from billing.models import PaymentOrder, Processor, Refund
from logistics.models import Shipment, ShipmentStatus
from tests.browser.console_ui import TABLET


def test_an_order_is_found_by_its_id_and_its_history_opens(ui, day):
    order = PaymentOrder.objects.filter(pk__in=Refund.objects.values("order")).first()
    assert order is not None, "the demo day refunds some orders"
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

    ui.open("refunds/")
    for refund in Refund.objects.filter(order=order):
        expect(ui.testid(f"refund-{refund.public_id}")).to_be_visible()
    ui.screenshot("refunds")


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
    ui.screenshot("backlogs")
    ui.screenshot("backlogs-tablet", viewport=TABLET)
