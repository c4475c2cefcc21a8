"""The morning view: one business date's runs, discrepancies and clearing, and 30 days of charts."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from xml.etree import ElementTree

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from billing.models import Processor
from console import charts
from console.charts import Bar
from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
)
from reconciliation.parties import all_parties
from tests.conftest import make_department
from tests.console.test_i18n import text_of

from .conftest import logged_in, make_staff

URL = reverse("console:morning")
SVG = "{http://www.w3.org/2000/svg}"


# Reading the page -------------------------------------------------------------------------


class _Rows(HTMLParser):
    """The text of each cell of every row that has a data-testid, keyed by that id."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.row: str | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and dict(attrs).get("data-testid"):
            self.row = dict(attrs)["data-testid"]
            self.rows[self.row] = []
        elif tag in ("td", "th") and self.row:
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.row and self.cell is not None:
            self.rows[self.row].append(" ".join(" ".join(self.cell).split()))
            self.cell = None
        elif tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def rows(response) -> dict[str, list[str]]:
    parser = _Rows()
    parser.feed(response.content.decode())
    return parser.rows


def parse(markup) -> ElementTree.Element:
    return ElementTree.fromstring(str(markup))  # noqa: S314 - markup this service just drew


def svg(html: str, testid: str) -> ElementTree.Element:
    found = re.search(rf'<svg[^>]*data-testid="{testid}".*?</svg>', html, re.S)
    assert found, f"no chart {testid}"
    return parse(found.group(0))


def bar_titles(chart: ElementTree.Element) -> list[str]:
    return [bar.find(f"{SVG}title").text for bar in chart.iter(f"{SVG}rect")]


def texts(chart: ElementTree.Element) -> list[str]:
    return [text.text for text in chart.iter(f"{SVG}text")]


def english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


# The data -----------------------------------------------------------------------------------


def totals(ours, theirs, matched):
    return {
        "ours": {"count": ours[0], "amount": ours[1]},
        "theirs": {"count": theirs[0], "amount": theirs[1]},
        "matched": {"count": matched[0], "amount": matched[1]},
        "discrepancies": {},
    }


def make_run(party, day, **fields):
    return ReconciliationRun.objects.create(
        business_date=day,
        party=party,
        **{"party_kind": PartyKind.PROCESSOR, "status": "succeeded", **fields},
    )


def discrepancy(run, key, kind, department, **fields):
    return Discrepancy.objects.create(
        run=run,
        business_date=run.business_date,
        party=run.party,
        type=kind,
        key=key,
        department=department,
        owner="finance",
        **fields,
    )


def clearing(department, processor, day, count, payments, refunds, fees, arrival="pending"):
    return Clearing.objects.create(
        business_date=day,
        processor=processor,
        department=department,
        settlement_date=day + timedelta(days=1),
        payments_count=count,
        payments_amount=payments,
        refunds_amount=refunds,
        fees_amount=fees,
        net_amount=payments - refunds - fees,
        arrival=arrival,
    )


@pytest.fixture
def day():
    return timezone.localdate() - timedelta(days=2)


@pytest.fixture
def data(db, public_platform, day):
    Processor.objects.create(
        code="alipay",
        legal_name="支付宝（中国）网络技术有限公司",
        licence_number="Z2007933000010",
        licence_valid_until=day + timedelta(days=365),
        max_amount=10**10,
    )
    market = make_department("SCJG01", "市市场监督管理局")
    transport = make_department("JTYS02", "市交通运输局")
    alipay = make_run(
        "alipay",
        day,
        totals=totals((1000, 123_456_789), (999, 123_456_700), (997, 123_400_000)),
    )
    # No longer a configured channel (no Processor row), yet its run belongs to the date.
    wechat = make_run("wechatpay", day, totals=totals((10, 5000), (10, 5000), (10, 5000)))
    make_run("public_platform", day, status="failed", step="waiting for the file")
    make_run("alipay", day - timedelta(days=1), totals=totals((1, 1), (1, 1), (1, 1)))
    discrepancy(
        alipay, "k1", DiscrepancyType.AMOUNT_MISMATCH, market,
        our_amount=123_456, their_amount=123_400, status="assigned",
    )  # fmt: skip
    discrepancy(alipay, "k2", DiscrepancyType.MISSING_IN_CHANNEL, transport, our_amount=5)
    discrepancy(alipay, "k3", DiscrepancyType.MISSING_IN_CHANNEL, market, our_amount=0)
    discrepancy(
        alipay, "k4", DiscrepancyType.MISSING_IN_LEDGER, None, their_amount=99, status="resolved"
    )
    discrepancy(wechat, "k5", DiscrepancyType.DUPLICATE, transport, our_amount=7)
    clearing(market, "alipay", day, 3, 300_00, 50_00, 1_23)
    clearing(market, "wechatpay", day, 2, 99_99, 0, 1, arrival="arrived")
    clearing(transport, "alipay", day, 1, 123_456, 0, 6, arrival="mismatch")
    clearing(market, "alipay", day - timedelta(days=29), 1, 1_00, 0, 0)
    clearing(market, "alipay", day - timedelta(days=30), 1, 999_00, 0, 0)  # before the 30 days
    return {"market": market, "transport": transport}


# Who may see it ---------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("console:login"))


def test_a_user_outside_finance_is_refused(db):
    user = get_user_model().objects.create_user("porter", is_staff=True)
    assert logged_in(user).get(URL).status_code == 403


def test_an_auditor_sees_the_page(auditor, data, day):
    response = auditor.get(URL, {"date": day.isoformat()})
    assert response.status_code == 200
    assert "party-alipay" in rows(response)


# Which date ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["2026-13-01", "yesterday", "1999-12-31", "2100-01-01"])
def test_a_bad_date_is_a_400_page(clerk, value):
    response = clerk.get(URL, {"date": value})
    assert response.status_code == 400
    assert b'data-testid="error-message"' in response.content


def date_shown(response) -> str:
    return re.search(rb'name="date" value="([^"]*)"', response.content).group(1).decode()


def test_the_default_date_is_the_latest_with_runs_up_to_today(clerk, day):
    make_run("alipay", day - timedelta(days=6))
    make_run("alipay", day)
    make_run("alipay", timezone.localdate() + timedelta(days=3))  # a mistaken future run
    assert date_shown(clerk.get(URL)) == day.isoformat()


def test_without_runs_the_default_date_is_yesterday(clerk):
    yesterday = timezone.localdate() - timedelta(days=1)
    response = clerk.get(URL)
    assert date_shown(response) == yesterday.isoformat()


def test_the_previous_and_next_days_are_linked_but_not_past_today(clerk, day):
    html = clerk.get(URL, {"date": day.isoformat()}).content.decode()
    assert (
        f'href="?date={(day - timedelta(days=1)).isoformat()}" data-testid="previous-day"' in html
    )
    assert f'href="?date={(day + timedelta(days=1)).isoformat()}" data-testid="next-day"' in html
    today = clerk.get(URL, {"date": timezone.localdate().isoformat()}).content.decode()
    assert 'data-testid="next-day"' not in today


# The figures, for a reader of every department ---------------------------------------------


def test_each_party_shows_its_runs_totals_and_discrepancies(clerk, data, day):
    page = rows(english(clerk).get(URL, {"date": day.isoformat()}))
    # Each side: the amount in yuan, then the number of lines.
    assert page["party-alipay"][:6] == [
        "Alipay", "succeeded", "1,234,567.89 1000", "1,234,567.00 999", "1,234,000.00 997", "3 / 4"
    ]  # fmt: skip
    assert page["party-wechatpay"][1:6] == [
        "succeeded",
        "50.00 10",
        "50.00 10",
        "50.00 10",
        "1 / 1",
    ]
    assert page["party-public_platform"][1:3] == ["failed waiting for the file", "—"]
    # Every configured party has a row; one without a run says so.
    for party in all_parties():
        assert f"party-{party.code}" in page
    assert page["party-courier:sf"][1:] == ["no run", "—", "—", "—", "0 / 0", ""]


def link(html: str, testid: str) -> str:
    found = re.search(rf'href="([^"]+)" data-testid="{re.escape(testid)}"', html)
    assert found, f"no link {testid}"
    return found.group(1).replace("&amp;", "&")


def test_a_party_links_to_its_run_and_to_its_queue_of_the_date(clerk, data, day):
    html = clerk.get(URL, {"date": day.isoformat()}).content.decode()
    alipay = ReconciliationRun.objects.get(party="alipay", business_date=day)
    assert link(html, "party-run-alipay") == reverse("console:run", args=[alipay.pk])
    queue = clerk.get(link(html, "party-queue-alipay"))
    assert queue.status_code == 200
    waiting = Discrepancy.objects.filter(run=alipay).exclude(status="resolved")
    shown = set(re.findall(r'data-testid="discrepancy-(\d+)"', queue.content.decode()))
    assert shown == {str(item.pk) for item in waiting}
    # A party with nothing to look at links to no queue.
    assert 'data-testid="party-queue-courier:sf"' not in html


def test_discrepancies_by_type_count_and_sum_the_differences(clerk, data, day):
    response = clerk.get(URL, {"date": day.isoformat()})
    page = rows(response)
    assert page["type-amount_mismatch"][1:] == ["1", "0.56"]
    assert page["type-missing_in_channel"][1:] == ["2", "0.05"]
    assert page["type-missing_in_ledger"][1:] == ["1", "0.99"]
    assert page["type-duplicate"][1:] == ["1", "0.07"]
    assert page["type-total"][1:] == ["5", "1.67"]
    queue = reverse("console:discrepancies")
    assert f'href="{queue}?type=duplicate&amp;business_date={day}"' in response.content.decode()


def test_the_amount_difference_adds_up_each_items_difference_whatever_its_sign(clerk, data, day):
    response = english(clerk).get(URL, {"date": day.isoformat()})
    page = rows(response)

    # k4 is 0.99 the other way (theirs without ours): added to the others, not taken off.
    assert page["type-missing_in_ledger"][1:] == ["1", "0.99"]
    assert page["type-total"][1:] == ["5", "1.67"]
    note = "the sum of each item's absolute difference between our amount and theirs"
    assert note in text_of(response.content.decode())


def test_the_clearing_has_a_subtotal_per_department_and_a_grand_total(clerk, data, day):
    page = rows(english(clerk).get(URL, {"date": day.isoformat()}))
    assert page["clearing-SCJG01-alipay"][1:] == [
        "Alipay", (day + timedelta(days=1)).isoformat(), "3", "300.00", "50.00", "1.23",
        "248.77", "pending",
    ]  # fmt: skip
    assert page["clearing-SCJG01-wechatpay"][-1] == "arrived"
    assert page["clearing-JTYS02-alipay"][3:] == [
        "1", "1,234.56", "0.00", "0.06", "1,234.50", "mismatch credited 0.00"
    ]  # fmt: skip
    assert page["clearing-subtotal-SCJG01"] == [
        "Subtotal SCJG01 市市场监督管理局", "5", "399.99", "50.00", "1.24", "348.75", ""
    ]  # fmt: skip
    assert page["clearing-subtotal-JTYS02"][1:6] == ["1", "1,234.56", "0.00", "0.06", "1,234.50"]
    assert page["clearing-total"] == ["Total", "6", "1,634.55", "50.00", "1.30", "1,583.25", ""]


def test_a_clearing_credited_after_its_settlement_date_is_flagged_late_with_its_day(
    clerk, public_platform, day
):
    late = clearing(make_department("SCJG01", "市市场监督管理局"), "alipay", day, 1, 100_00, 0, 60)
    credited_on = day + timedelta(days=2)
    Clearing.objects.filter(pk=late.pk).update(
        arrival=Clearing.Arrival.LATE, credited_amount=99_40, credited_on=credited_on
    )

    chinese = clerk.get(URL, {"date": day.isoformat()}).content.decode()
    english_ = rows(english(clerk).get(URL, {"date": day.isoformat()}))

    assert '<span class="badge warn" data-status="late">逾期到账</span>' in chinese
    assert f"{credited_on.isoformat()} 到账" in chinese
    assert english_["clearing-SCJG01-alipay"][-1] == f"arrived late credited on {credited_on}"


def test_the_amounts_chart_has_a_bar_per_day_of_the_30_with_the_clearings_payments(
    clerk, data, day
):
    chart = svg(clerk.get(URL, {"date": day.isoformat()}).content.decode(), "chart-amounts")
    titles = bar_titles(chart)
    assert len(titles) == 30
    assert titles[0] == f"{day - timedelta(days=29)}: 1.00"
    assert titles[-1] == f"{day}: 1,634.55"
    assert titles.count(f"{day - timedelta(days=5)}: 0.00") == 1
    assert "1,634.55" in texts(chart)  # the top of the scale


def test_the_rate_chart_has_a_bar_per_processor_with_its_rate(clerk, data, day):
    chart = svg(
        english(clerk).get(URL, {"date": day.isoformat()}).content.decode(),
        "chart-discrepancy-rate",
    )
    # alipay: 4 discrepancies over 30 days against 999 + 1 lines of its bills.
    assert bar_titles(chart) == [
        "Public payment platform: 0 found, no lines on their side",
        "Alipay: 0.40% (4 / 1000)",
    ]


# A department-scoped reader -------------------------------------------------------------------


@pytest.fixture
def market_clerk(data):
    return english(logged_in(make_staff("market.clerk", data["market"])))


def test_a_scoped_reader_sees_only_their_departments_clearing(market_clerk, data, day):
    page = rows(market_clerk.get(URL, {"date": day.isoformat()}))
    clearing_rows = {name for name in page if name.startswith("clearing-")}
    assert clearing_rows == {
        "clearing-SCJG01-alipay",
        "clearing-SCJG01-wechatpay",
        "clearing-subtotal-SCJG01",
        "clearing-total",
    }
    assert page["clearing-total"][1:6] == ["5", "399.99", "50.00", "1.24", "348.75"]


def test_a_scoped_reader_sees_party_figures_of_their_departments_only(market_clerk, data, day):
    response = market_clerk.get(URL, {"date": day.isoformat()})
    page = rows(response)
    # The status stays; matched payments come from their clearing; no whole-party totals.
    assert page["party-alipay"][1:6] == ["succeeded", "—", "—", "300.00 3", "2 / 2"]
    assert page["party-wechatpay"][1:6] == ["succeeded", "—", "—", "99.99 2", "0 / 0"]
    assert b'data-testid="scope-note"' in response.content
    assert page["type-total"][1:] == ["2", "0.56"]
    assert "type-duplicate" not in page


def test_a_scoped_readers_charts_count_their_departments_only(market_clerk, data, day):
    html = market_clerk.get(URL, {"date": day.isoformat()}).content.decode()
    assert bar_titles(svg(html, "chart-amounts"))[-1] == f"{day}: 399.99"
    # alipay: k1 and k3 are theirs; lines are 3 + 1 matched payments and k1's line.
    assert bar_titles(svg(html, "chart-discrepancy-rate"))[-1] == "Alipay: 40.00% (2 / 5)"


def test_an_unscoped_reader_gets_no_scope_note(clerk, data, day):
    assert b"scope-note" not in clerk.get(URL, {"date": day.isoformat()}).content


# An empty day ---------------------------------------------------------------------------------


def test_an_empty_day_shows_every_party_without_a_run_and_empty_charts(clerk, public_platform):
    response = english(clerk).get(URL, {"date": "2030-01-15"})
    assert response.status_code == 200
    page = rows(response)
    assert page["party-public_platform"][1] == "no run"
    assert not any(name.startswith(("clearing-", "type-")) for name in page)
    html = response.content.decode()
    assert "No clearing for this date." in html
    assert "No discrepancies for this date." in html
    for testid in ("chart-amounts", "chart-discrepancy-rate"):
        chart = svg(html, testid)
        assert bar_titles(chart) == []
        assert texts(chart) == ["No data for this period."]


# The chart builders -------------------------------------------------------------------------


def rect_sizes(chart, size: str) -> list[float]:
    return [float(bar.get(size)) for bar in chart.iter(f"{SVG}rect")]


def column_chart(bars):
    return charts.column_chart(bars, testid="t", title="T", x_label="X", y_label="Y")


def bar_chart(bars):
    return charts.bar_chart(bars, testid="t", title="T", value_label="V")


def test_a_column_chart_scales_its_bars_to_the_largest():
    bars = [Bar("a", 50, "fifty"), Bar("b", 100, "hundred"), Bar("c", 0, "none")]
    chart = parse(column_chart(bars))
    full = charts.COLUMN_PLOT[3]
    assert rect_sizes(chart, "height") == [full / 2, full, 0]
    assert bar_titles(chart) == ["a: fifty", "b: hundred", "c: none"]
    assert chart.find(f"{SVG}title").text == "T"
    assert chart.get("role") == "img" and chart.get("data-testid") == "t"
    assert {"X", "Y", "hundred", "0"} <= set(texts(chart))


def test_a_column_chart_labels_only_some_of_many_columns():
    bars = [Bar(f"d{n}", n, str(n)) for n in range(30)]
    chart = parse(column_chart(bars))
    assert len(bar_titles(chart)) == 30
    labels = [text for text in texts(chart) if text.startswith("d")]
    assert labels == ["d0", "d5", "d10", "d15", "d20", "d25"]


def test_a_bar_chart_scales_widths_and_writes_each_value_beside_its_bar():
    bars = [Bar("alipay", 0.25, "25%"), Bar("unionpay", 1.0, "100%")]
    chart = parse(bar_chart(bars))
    assert rect_sizes(chart, "width") == [charts.ROW_PLOT_WIDTH / 4, charts.ROW_PLOT_WIDTH]
    assert texts(chart) == ["alipay", "25%", "unionpay", "100%", "V"]


@pytest.mark.parametrize("build", [column_chart, bar_chart])
@pytest.mark.parametrize("bars", [[], [Bar("a", 0, "0"), Bar("b", 0, "0")]])
def test_a_chart_with_nothing_above_zero_draws_no_bars_and_says_so(build, bars):
    with translation.override("en"):
        chart = parse(build(bars))
    assert list(chart.iter(f"{SVG}rect")) == []
    assert texts(chart) == ["No data for this period."]


def test_chart_text_is_escaped():
    bars = [Bar("<script>x</script>", 1, "a & b")]
    markup = str(bar_chart(bars))
    assert "<script>" not in markup
    assert bar_titles(parse(markup)) == ["<script>x</script>: a & b"]
