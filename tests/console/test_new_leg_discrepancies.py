"""Our side of a discrepancy on the fiscal receipt leg and on the remittance leg: the receipt
(or the order or refund one is owed for), the remittance and the settlement report that
ordered it, each read within the viewer's departments."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction

from billing.receipts import receipt_red_request
from reconciliation.models import Discrepancy, PartyKind, ReconciliationRun
from tests.billing.test_receipts import held_back
from tests.billing.test_revenue_push import paid_order, refund_of
from tests.closing.test_remittance_leg import PARTY as REMITTANCES
from tests.closing.test_remittance_leg import reconciled, remitted, statement
from tests.conftest import make_department
from tests.console.conftest import logged_in, make_staff
from tests.console.test_discrepancies import QUEUE, in_english, part
from tests.console.test_i18n import foreign_words, text_of
from tests.console.test_receipts import issue, requested
from tests.reconciliation.conftest import in_process_runs  # noqa: F401 - a fixture

DAY = date(2026, 11, 25)


@pytest.fixture
def market(department):
    return department


@pytest.fixture
def police(db):
    return make_department("GA01", "市公安局")


def receipt_item(
    department, kind: str, our_ref: str, type_: str = "amount_mismatch", **fields
) -> Discrepancy:
    """An item of the receipts run of DAY, as the receipt leg names one."""
    run, _ = ReconciliationRun.objects.get_or_create(
        business_date=DAY, party="receipts", party_kind=PartyKind.RECEIPT
    )
    return Discrepancy.objects.create(
        run=run,
        business_date=DAY,
        party=run.party,
        type=type_,
        key=f"{type_}:{kind}:{our_ref or fields.get('their_ref')}",
        kind=kind,
        department=department,
        our_ref=our_ref,
        owner="finance",
        **fields,
    )


def page(client, item: Discrepancy):
    answer = client.get(f"{QUEUE}{item.pk}/")
    assert answer.status_code == 200
    return answer


# The receipt leg ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_receipt_item_shows_the_issued_receipt_by_its_code_and_number_and_its_order(
    live_service, market
):
    order = paid_order(market)
    receipt = issue(order)
    item = receipt_item(market, "normal", order.public_id, our_amount=3000, their_amount=2900)

    shown = page(logged_in(make_staff("clerk")), item)

    ours = part(shown, "our-side")
    assert f"{receipt.code}_{receipt.number}" in ours
    assert "财政电子票据" in ours and "已开具" in ours and "30.00" in ours
    assert f'href="/console/orders/{order.public_id}/"' in shown.content.decode()
    assert order.public_id in part(shown, "payment-order")
    assert "财政电子票据 · 已开具" in part(shown, "audit-trail")
    assert part(shown, "discrepancy-department") == "SCJG01 市市场监督管理局"
    assert (
        foreign_words(text_of(shown.content.decode(), translatable_only=True), language="zh-hans")
        == []
    )


@pytest.mark.django_db
def test_a_red_letter_item_shows_the_refunds_receipt_not_yet_issued(market):
    order = paid_order(market)
    requested(order)  # the normal receipt, not issued: the red-letter one waits for it
    refund = refund_of(order, 1000)
    with transaction.atomic():
        red = held_back(receipt_red_request(order=order, refund=refund))
    item = receipt_item(market, "red", refund.public_id, type_="timing_cutoff", our_amount=-1000)

    shown = page(in_english(logged_in(make_staff("clerk"))), item)

    ours = part(shown, "our-side")
    assert red.public_id in ours and "-10.00" in ours and "Fiscal receipt" in ours
    assert "requested" in ours
    assert refund.public_id in part(shown, "order-refunds")
    assert part(shown, "payment-order") is not None


@pytest.mark.django_db
def test_an_item_without_a_receipt_shows_the_order_one_is_owed_for(market):
    order = paid_order(market)
    item = receipt_item(market, "normal", order.public_id, type_="missing_in_channel")

    ours = part(page(in_english(logged_in(make_staff("clerk"))), item), "our-side")

    assert "Payment order" in ours and order.public_id in ours and "30.00" in ours
    assert "No record of ours carries this reference." not in ours


@pytest.mark.django_db
def test_a_numbering_item_names_their_numbers_and_nothing_of_ours(market):
    item = receipt_item(
        market, "number", "", type_="missing_in_ledger", their_ref="33010126_0000000012-0000000014"
    )

    shown = page(in_english(logged_in(make_staff("clerk"))), item)

    assert 'data-kind="number">receipt number<' in shown.content.decode()
    assert "33010126_0000000012-0000000014" in part(shown, "their-side")
    assert "No record of ours carries this reference." in part(shown, "our-side")
    assert part(shown, "payment-order") is None


@pytest.mark.django_db
def test_receipt_items_and_their_orders_stay_within_the_readers_departments(market, police):
    order = paid_order(market)
    ours_in_market = receipt_item(market, "normal", order.public_id, type_="missing_in_channel")
    # Filed under the police, naming the market's order: the police see the item only.
    misfiled = receipt_item(police, "normal", order.public_id, type_="duplicate")
    officer = logged_in(make_staff("police.clerk", police))

    assert officer.get(f"{QUEUE}{ours_in_market.pk}/").status_code == 404
    shown = page(in_english(officer), misfiled)
    assert "No record of ours carries this reference." in part(shown, "our-side")
    assert part(shown, "payment-order") is None


# The remittance leg ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_runs")
def test_a_remittance_debited_with_another_amount_shows_the_remittance_and_its_report(
    department,
):
    ours = remitted(department)
    statement(DAY, (4900, ours.end_to_end_id))
    reconciled(DAY)
    [item] = Discrepancy.objects.filter(party=REMITTANCES)

    shown = page(logged_in(make_staff("treasurer", department)), item)

    mine = part(shown, "our-side")
    assert ours.end_to_end_id in mine and "缴库" in mine and "49.50" in mine
    assert "金额不符" in mine
    remittance = part(shown, "remittance")
    assert "国家金库杭州市中心支库" in remittance and str(DAY) in remittance
    html = shown.content.decode()
    assert f'href="/console/closing/{ours.report.public_id}/"' in html
    assert "缴库 · 金额不符" in part(shown, "audit-trail")
    assert "工商银行 尾号2345账户缴库" in html  # the party by name, never its code
    assert foreign_words(text_of(html, translatable_only=True), language="zh-hans") == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_runs")
def test_another_departments_staff_see_neither_the_item_nor_the_remittance(department):
    police = make_department("GA01", "市公安局")
    ours = remitted(department)
    statement(DAY, (4900, ours.end_to_end_id))
    reconciled(DAY)
    [item] = Discrepancy.objects.filter(party=REMITTANCES)
    officer = logged_in(make_staff("police.clerk", police))
    assert officer.get(f"{QUEUE}{item.pk}/").status_code == 404

    # Filed under the police, naming the market's remittance: the police see the item only.
    Discrepancy.objects.filter(pk=item.pk).update(department=police)
    shown = page(in_english(officer), item)

    assert part(shown, "remittance") is None
    assert ours.report.public_id not in shown.content.decode()
    assert ours.end_to_end_id in part(shown, "our-side")  # the item's reference, as found
    assert "No record of ours carries this reference." in part(shown, "our-side")
