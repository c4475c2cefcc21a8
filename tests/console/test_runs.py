"""The console's reconciliation runs: list, detail and live status, re-runs, files, reports."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from core.auth import AUDITOR_GROUP
from core.models import AuditRecord
from core.money import business_date_of
from reconciliation import reports
from reconciliation.models import (
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
    StatementFile,
)
from reconciliation.parties import all_parties, parse_party
from reconciliation.services import runs
from reconciliation.statements import statement_store
from tests.billing.conftest import portal  # noqa: F401
from tests.conftest import make_department
from tests.console.conftest import logged_in, make_staff
from tests.console.test_i18n import text_of
from tests.reconciliation.conftest import in_process_runs  # noqa: F401
from tests.reconciliation.test_reports import clearing, discrepancy, make_run, totals
from tests.reconciliation.test_runs import http, pay  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_process_runs")]

DAY = date(2026, 11, 26)
LIST = "/console/runs/"
START = "/console/runs/start/"


def detail(run) -> str:
    return reverse("console:run", args=[run.pk])


def english(client):
    client.cookies["django_language"] = "en"
    return client


def page(client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.content[:500]
    return response.content.decode()


def listed(client, query: str = "") -> list[int]:
    """The ids of the runs the list shows, in the order shown."""
    return [int(pk) for pk in re.findall(r'data-testid="run-(\d+)"', page(client, LIST + query))]


def ids_in(text: str) -> set[str]:
    return set(re.findall(r'data-testid="([^"]+)"', text))


def element(text: str, testid: str) -> str:
    """The text of the element with the testid, up to where its first child element ends."""
    found = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>(.*?)</', text, re.S)
    assert found, f"no element {testid}"
    return found.group(1).strip()


def table(text: str, testid: str) -> str:
    found = re.search(rf'<table data-testid="{re.escape(testid)}">(.*?)</table>', text, re.S)
    assert found, f"no table {testid}"
    return found.group(1)


def row(text: str, testid: str) -> str:
    found = re.search(rf'<tr data-testid="{re.escape(testid)}">(.*?)</tr>', text, re.S)
    assert found, f"no row {testid}"
    return found.group(1)


def downloaded(response) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def csv_lines(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(downloaded(response).decode("utf-8-sig"))))


# The list ------------------------------------------------------------------------------------


def test_the_list_filters_by_date_party_kind_and_status_newest_first(clerk):
    alipay = make_run("alipay").pk
    failed = make_run("wechatpay", status="failed").pk
    bank = make_run("bank:icbc:1202", party_kind=PartyKind.BANK).pk
    older = make_run("alipay", business_date=DAY - timedelta(days=6)).pk

    assert listed(clerk) == [alipay, bank, failed, older]
    assert listed(clerk, "?date_from=2026-11-21") == [alipay, bank, failed]
    assert listed(clerk, "?date_to=2026-11-25") == [older]
    assert listed(clerk, "?party=alipay") == [alipay, older]
    assert listed(clerk, "?kind=bank") == [bank]
    assert listed(clerk, "?status=failed") == [failed]
    assert listed(clerk, "?party=alipay&date_from=2026-11-26&date_to=2026-11-26") == [alipay]
    assert listed(clerk, "?party=nobody") == []


def test_each_row_links_to_the_runs_page_and_shows_status_and_progress(clerk):
    run = make_run(
        "alipay", status="running", step="matching", progress=50, requested_by="user:li.na"
    )

    shown = row(page(clerk, LIST), f"run-{run.pk}")

    assert f'href="{detail(run)}"' in shown
    assert 'data-status="running"' in shown and "匹配中" in shown and "matching" not in shown
    assert 'aria-valuenow="50"' in shown and ">li.na<" in shown and "user:" not in shown
    assert 'data-party="alipay"' in shown and ">支付宝<" in shown


def test_the_list_shows_fifty_runs_a_page_and_its_page_links_keep_the_filters(clerk):
    alipay = [make_run("alipay", business_date=DAY - timedelta(days=n)).pk for n in range(55)]
    make_run("wechatpay")

    first = page(clerk, LIST + "?party=alipay")
    assert listed(clerk, "?party=alipay") == alipay[:50]
    next_link = html.unescape(re.search(r'href="([^"]+)" rel="next"', first).group(1))
    assert "party=alipay" in next_link and "page=2" in next_link

    assert listed(clerk, next_link) == alipay[50:]
    previous = page(clerk, LIST + next_link)
    assert 'rel="next"' not in previous
    assert "party=alipay" in re.search(r'href="([^"]+)" rel="prev"', previous).group(1)
    page(clerk, LIST + "?party=alipay&page=3", status=404)


@pytest.mark.parametrize(
    "query",
    [
        "date_from=2026-13-01",
        "date_to=yesterday",
        "kind=shop",
        "status=done",
        "page=0",
        "page=two",
        "party=" + "x" * 61,
    ],
)
def test_a_bad_filter_is_a_400_page(clerk, query):
    assert "<html" in page(clerk, f"{LIST}?{query}", status=400)


def test_an_unknown_run_is_a_404_everywhere(clerk):
    for url in (
        "/console/runs/999/",
        "/console/runs/999/progress/",
        "/console/runs/999/report.xlsx",
        "/console/runs/999/report.csv",
    ):
        page(clerk, url, status=404)
    assert clerk.post("/console/runs/999/statement/").status_code == 404


def test_the_pages_are_for_finance_staff_only(client, db):
    assert client.get(LIST).status_code == 302  # to the login page
    outsider = logged_in(get_user_model().objects.create_user("outsider", is_staff=True))
    assert outsider.get(LIST).status_code == 403


# A run's page and its live status ------------------------------------------------------------


def test_a_failed_runs_page_shows_the_line_at_fault_and_the_file_it_read(clerk):
    run = runs.run_request(business_date=DAY, party_code="public_platform", actor="user:clerk")
    stored = statement_store(
        party=parse_party("public_platform"),
        business_date=DAY,
        content=b"this is not a bill\n\x00\x01",
        source=StatementFile.Source.UPLOADED,
        filename="bill-2026-11-26.csv",
        actor="user:clerk",
    )
    runs.run_execute(run_id=run.pk)

    text = page(english(clerk), detail(run))

    assert element(text, "run-status") == "failed"
    assert element(text, "run-step") == "failed"
    assert re.fullmatch(
        r"public_platform file of 2026-11-26: line 1: .+", html.unescape(element(text, "run-error"))
    )
    assert "data-final" in text
    facts = row(text, f"statement-{stored.pk}")
    for fact in (
        "bill-2026-11-26.csv",
        stored.sha256,
        str(stored.size),
        ">clerk<",
        "uploaded",
        "public_platform",
    ):
        assert fact in facts
    assert element(text, "run-tries") == "1"
    assert re.search(r'data-testid="run-requested-by">\s*<span translate="no">clerk</span>', text)


def test_a_runs_step_is_shown_in_words_of_the_readers_language(clerk):
    run = make_run("bank:icbc:1202020209000012345", party_kind=PartyKind.BANK, step="done")

    chinese = page(clerk, detail(run))
    english_ = page(english(clerk), detail(run))

    assert element(chinese, "run-step") == "已完成"
    assert element(english_, "run-step") == "done"
    assert 'data-step="done"' in chinese
    assert "工商银行 尾号2345账户" in chinese and "bank:icbc" not in text_of(chinese)
    assert "ICBC account ending 2345" in english_


@pytest.mark.parametrize(
    ("party", "kind", "chinese_name", "english_name"),
    [
        ("receipts", PartyKind.RECEIPT, "财政票据平台", "Receipt platform"),
        (
            "remittance:icbc:1202020209000012345",
            PartyKind.REMITTANCE,
            "工商银行 尾号2345账户缴库",
            "Remittances from ICBC account ending 2345",
        ),
    ],
)
def test_the_receipt_platform_and_a_remittance_account_are_named(
    clerk, party, kind, chinese_name, english_name
):
    run = make_run(party, party_kind=kind, step="done")

    chinese = page(clerk, detail(run))
    english_ = page(english(clerk), detail(run))

    assert chinese_name in chinese and party not in text_of(chinese)
    assert english_name in english_


def test_the_status_fragment_is_final_only_once_the_run_has_finished(clerk):
    running = make_run("alipay", status="running", step="matching", progress=50)
    succeeded = make_run("wechatpay", status="succeeded", step="done", progress=100)

    live = page(clerk, reverse("console:run_progress", args=[running.pk]))
    done = page(clerk, reverse("console:run_progress", args=[succeeded.pk]))

    assert "<html" not in live and "data-final" not in live
    assert 'aria-valuenow="50"' in live and 'data-testid="run-progress"' in live
    assert "data-final" in done and 'data-status="succeeded"' in done
    block = page(clerk, detail(running))
    assert f'data-refresh-url="{reverse("console:run_progress", args=[running.pk])}"' in block
    assert "data-reload-when-final" in block


def test_the_runs_page_summarises_its_discrepancies_by_type_with_links_to_the_queue(clerk):
    market = make_department("SCJG01", "市市场监督管理局")
    run = make_run(
        "alipay",
        totals=totals((3, 300_00), (3, 300_00), (1, 100_00), missing_in_channel=(2, 200_00)),
    )
    discrepancy(run, "k1", DiscrepancyType.MISSING_IN_CHANNEL, market)
    discrepancy(
        run, "k2", DiscrepancyType.MISSING_IN_CHANNEL, market, status=DiscrepancyStatus.RESOLVED
    )
    discrepancy(run, "k3", DiscrepancyType.AMOUNT_MISMATCH, market)

    text = page(clerk, detail(run))

    missing = row(text, "discrepancy-type-missing_in_channel")
    assert re.findall(r'class="money"[^>]*>(\d+)<', missing) == ["2", "1"]
    queue = reverse("console:discrepancies")
    assert f"{queue}?run={run.pk}&amp;type=missing_in_channel" in missing
    assert f'href="{queue}?run={run.pk}"' in text
    totals_table = table(text, "run-totals")
    assert re.findall(r'<td class="money">([^<]+)<', totals_table) == [
        "3",
        "300.00",
        "3",
        "300.00",
        "1",
        "100.00",
    ]


# Re-running ----------------------------------------------------------------------------------


def test_a_clerk_re_runs_a_party_and_lands_on_its_queued_run(clerk):
    failed = make_run("alipay", status="failed", error="alipay file of 2026-11-26: line 3: x")

    response = clerk.post(START, {"business_date": "2026-11-26", "party": "alipay"})

    failed.refresh_from_db()
    assert response.status_code == 303 and response["Location"] == detail(failed)
    assert (failed.status, failed.error, failed.requested_by) == ("queued", "", "user:clerk")
    assert AuditRecord.objects.filter(action="reconciliation_run.requested").count() == 1


def test_a_clerk_starts_a_new_run_and_every_party_of_a_date(clerk):
    response = clerk.post(START, {"business_date": "2026-11-25", "party": "wechatpay"})
    started = ReconciliationRun.objects.get(business_date=date(2026, 11, 25))
    assert response["Location"] == detail(started) and started.status == RunStatus.QUEUED

    response = clerk.post(START, {"business_date": "2026-11-26", "party": "all"})

    assert response.status_code == 303
    assert response["Location"] == f"{LIST}?date_from=2026-11-26&date_to=2026-11-26"
    queued = set(
        ReconciliationRun.objects.filter(business_date=DAY, status="queued").values_list(
            "party", flat=True
        )
    )
    assert queued == {party.code for party in all_parties()} and queued


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"business_date": "26/11/2026", "party": "alipay"}, "must be a date"),
        ({"party": "alipay"}, "must be a date"),
        ({"business_date": "2026-11-26", "party": "nobody"}, "No party"),
    ],
)
def test_a_bad_date_or_party_is_told_and_starts_nothing(clerk, form, message):
    response = english(clerk).post(START, form, follow=True)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ReconciliationRun.objects.exists()


def test_a_running_run_is_not_queued_again(clerk):
    running = make_run("alipay", status="running")

    response = english(clerk).post(
        START, {"business_date": "2026-11-26", "party": "alipay"}, follow=True
    )

    assert "right now" in response.content.decode()
    running.refresh_from_db()
    assert running.status == RunStatus.RUNNING


def test_an_auditor_neither_sees_nor_may_use_the_re_run_and_upload_forms(auditor, clerk):
    run = make_run("alipay", status="failed")
    assert {"rerun-form", "upload-form"} <= ids_in(page(clerk, detail(run)))
    assert "rerun-form" in ids_in(page(clerk, LIST))

    assert not {"rerun-form", "upload-form"} & ids_in(page(auditor, detail(run)))
    assert "rerun-form" not in ids_in(page(auditor, LIST))
    assert (
        auditor.post(START, {"business_date": "2026-11-26", "party": "alipay"}).status_code == 403
    )
    upload = SimpleUploadedFile("bill.csv", b"anything")
    assert auditor.post(f"{detail(run)}statement/", {"file": upload}).status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and not StatementFile.objects.exists()


def test_a_clerk_uploads_the_partys_file_for_the_runs_date(clerk):
    run = make_run("public_platform", status="failed")
    upload = SimpleUploadedFile("portal-export.csv", b"the platform's bill")

    response = clerk.post(reverse("console:run_statement_upload", args=[run.pk]), {"file": upload})

    assert response.status_code == 303 and response["Location"] == detail(run)
    stored = StatementFile.objects.get()
    assert (
        stored.party,
        stored.business_date,
        stored.source,
        stored.filename,
        stored.uploaded_by,
    ) == ("public_platform", DAY, "uploaded", "portal-export.csv", "user:clerk")
    assert bytes(stored.content) == b"the platform's bill"
    assert f"statement-{stored.pk}" in ids_in(page(clerk, detail(run)))


def test_an_empty_upload_stores_nothing(clerk):
    run = make_run("public_platform", status="failed")

    response = english(clerk).post(
        reverse("console:run_statement_upload", args=[run.pk]),
        {"file": SimpleUploadedFile("empty.csv", b"")},
        follow=True,
    )

    assert "not empty" in response.content.decode()
    assert not StatementFile.objects.exists()


# Reports and department scope ----------------------------------------------------------------


@pytest.fixture
def two_departments(db):
    market = make_department("SCJG01", "市市场监督管理局")
    transport = make_department("JTYS02", "市交通运输局")
    run = make_run(
        "alipay",
        totals=totals((3, 300_00), (3, 300_00), (1, 100_00), missing_in_channel=(2, 200_00)),
    )
    discrepancy(
        run,
        "k1",
        DiscrepancyType.MISSING_IN_CHANNEL,
        market,
        our_ref="PO-MARKET",
        our_amount=100_00,
    )
    discrepancy(
        run,
        "k2",
        DiscrepancyType.MISSING_IN_CHANNEL,
        transport,
        our_ref="PO-TRANSPORT",
        our_amount=100_00,
    )
    clearing(market, "alipay", count=1, payments=100_00, refunds=0, fees=6)
    clearing(transport, "alipay", count=1, payments=200_00, refunds=0, fees=12)
    scoped = logged_in(make_staff("market.clerk", market, group=AUDITOR_GROUP))
    return run, scoped


def test_a_scoped_user_sees_the_run_but_only_their_departments_discrepancies(
    two_departments, clerk
):
    run, scoped = two_departments

    assert element(page(clerk, LIST), f"discrepancy-count-{run.pk}") == "2"
    assert element(page(scoped, LIST), f"discrepancy-count-{run.pk}") == "1"
    mine = page(scoped, detail(run))
    assert re.findall(
        r'class="money"[^>]*>(\d+)<', row(mine, "discrepancy-type-missing_in_channel")
    ) == ["1", "1"]
    assert "totals-scoped" in ids_in(mine) and "run-totals" not in ids_in(mine)
    assert "run-totals" in ids_in(page(clerk, detail(run)))


def test_the_csv_of_a_scoped_user_has_only_their_departments_rows(two_departments, clerk):
    run, scoped = two_departments
    url = reverse("console:run_report_csv", args=[run.pk])

    mine = csv_lines(scoped.get(url))
    everyone = csv_lines(clerk.get(url))

    assert mine[0] == reports.DISCREPANCY_HEADER
    assert [line[5] for line in mine[1:]] == ["PO-MARKET"]
    assert sorted(line[5] for line in everyone[1:]) == ["PO-MARKET", "PO-TRANSPORT"]


def test_the_clearing_csv_is_of_the_date_and_scoped(two_departments, clerk):
    _, scoped = two_departments
    url = reverse("console:clearing_csv") + "?date=2026-11-26"

    assert [line[0] for line in csv_lines(scoped.get(url))[1:]] == ["SCJG01"]
    assert [line[0] for line in csv_lines(clerk.get(url))[1:]] == ["JTYS02", "SCJG01"]
    page(clerk, reverse("console:clearing_csv"), status=400)
    page(clerk, reverse("console:clearing_csv") + "?date=2026-02-30", status=400)


def test_an_auditor_downloads_the_workbook_and_it_reads_back(two_departments, auditor):
    run, scoped = two_departments

    response = auditor.get(reverse("console:run_report_xlsx", args=[run.pk]))

    assert response["Content-Disposition"].startswith("attachment")
    book = load_workbook(io.BytesIO(downloaded(response)))
    assert book.sheetnames == [
        reports.SUMMARY_SHEET,
        reports.DISCREPANCY_SHEET,
        reports.CLEARING_SHEET,
    ]
    refs = [
        line[5] for line in book[reports.DISCREPANCY_SHEET].iter_rows(min_row=2, values_only=True)
    ]
    assert sorted(refs) == ["PO-MARKET", "PO-TRANSPORT"]
    scoped_book = load_workbook(
        io.BytesIO(downloaded(scoped.get(reverse("console:run_report_xlsx", args=[run.pk]))))
    )
    scoped_refs = [
        line[5]
        for line in scoped_book[reports.DISCREPANCY_SHEET].iter_rows(min_row=2, values_only=True)
    ]
    assert scoped_refs == ["PO-MARKET"]


# End to end, through the payment platform's sandbox ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_day_started_from_the_console_is_reconciled_and_shown(http):  # noqa: F811
    clerk = english(logged_in(make_staff("clerk")))
    lost = pay(http, notify=False)  # the platform has the money; we never heard of it
    today = business_date_of(timezone.now())

    started = clerk.post(START, {"business_date": today.isoformat(), "party": "public_platform"})
    run = ReconciliationRun.objects.get()
    assert started["Location"] == detail(run)
    assert "data-final" not in page(clerk, reverse("console:run_progress", args=[run.pk]))
    runs.run_execute(run_id=run.pk)

    text = page(clerk, detail(run))
    assert element(text, "run-status") == "succeeded" and "data-final" in text
    assert re.findall(
        r'class="money"[^>]*>(\d+)<', row(text, "discrepancy-type-missing_in_ledger")
    ) == ["1", "1"]
    [stored] = StatementFile.objects.filter(party="public_platform")
    assert "fetched" in row(text, f"statement-{stored.pk}")
    book = load_workbook(
        io.BytesIO(downloaded(clerk.get(reverse("console:run_report_xlsx", args=[run.pk]))))
    )
    [found] = list(book[reports.DISCREPANCY_SHEET].iter_rows(min_row=2, values_only=True))
    # The workbook names the type and status in Chinese and English, as its headers.
    assert (found[2], found[3], found[5]) == (
        "我方无记录 missing in ledger",
        "待处理 open",
        lost["id"],
    )
