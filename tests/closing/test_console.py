"""结报 in the console: the date's reports by department, one report's steps for the roles
allowed them, and its files: the workbook, the CSV and the CSV's SM2 signature."""

from __future__ import annotations

import base64
import io

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.contrib.messages import get_messages
from gmssl.sm2 import CryptSM2
from openpyxl import load_workbook

from closing.models import InstructionStatus, RemittanceInstruction, ReportStatus, SettlementReport
from closing.services.reports import (
    settlement_report_approve,
    settlement_report_submit,
    settlement_reports_generate,
)
from tests.closing.conftest import DAY, EXPECTED, at, fee_item, order
from tests.conftest import make_department
from tests.console.conftest import logged_in, make_staff
from tests.console.test_i18n import foreign_words, text_of

pytestmark = pytest.mark.django_db
PAGE = "/console/closing/"


@pytest.fixture
def report(day_of_fees) -> SettlementReport:
    [made] = settlement_reports_generate(business_date=DAY, actor="system:closing")
    return made


@pytest.fixture
def theirs(db) -> SettlementReport:
    """Another department's report of the same date."""
    other = make_department("GTZY01", "市自然资源和规划局", settlement_account_number="1")
    order(other, (fee_item(other, "FEE-Z", 500), 1, 500), paid_at=at(DAY, 10))
    made = settlement_reports_generate(
        business_date=DAY, actor="system:closing", departments=[other.pk]
    )
    return made[0]


def url(report: SettlementReport, tail: str = "") -> str:
    return f"{PAGE}{report.public_id}/{tail}"


def said(answer) -> list[str]:
    return [str(message) for message in get_messages(answer.wsgi_request)]


def test_the_day_lists_each_departments_report_for_whoever_may_see_it(report, theirs, clerk):
    scoped = logged_in(make_staff("scoped", report.department))

    everything = clerk.get(PAGE, {"date": DAY.isoformat()}).content.decode()
    mine = scoped.get(PAGE, {"date": DAY.isoformat()}).content.decode()

    assert report.public_id in everything and theirs.public_id in everything
    assert report.public_id in mine and theirs.public_id not in mine
    assert scoped.get(url(theirs)).status_code == 404
    assert scoped.get(url(theirs, "report.csv")).status_code == 404
    assert scoped.get(url(report)).status_code == 200


def test_the_report_page_shows_each_fee_items_figures(report, clerk):
    page = clerk.get(url(report)).content.decode()

    assert 'data-testid="line-FEE-A"' in page
    assert "37.50" in page and "28.47" in page and "49.50" in page  # FEE-A collected, net; net


def test_submitted_by_one_and_approved_by_another(report, clerk, approver):
    assert clerk.post(url(report, "submit/")).status_code == 303
    refused = clerk.post(url(report, "approve/"))

    report.refresh_from_db()
    assert report.status == ReportStatus.SUBMITTED
    assert any("另一人审核" in message for message in said(refused))
    assert "four-eyes" in clerk.get(url(report)).content.decode()

    assert approver.post(url(report, "approve/")).status_code == 303
    report.refresh_from_db()
    assert (report.status, report.prepared_by, report.approved_by) == (
        ReportStatus.APPROVED,
        "user:clerk",
        "user:approver",
    )
    assert report.remittance.amount == report.net


def test_an_auditor_reads_and_downloads_but_takes_no_step(report, auditor):
    page = auditor.get(url(report))

    assert page.status_code == 200 and "submit-form" not in page.content.decode()
    assert auditor.post(url(report, "submit/")).status_code == 403
    assert auditor.post(url(report, "approve/")).status_code == 403
    assert auditor.post(f"{PAGE}generate/", {"business_date": DAY.isoformat()}).status_code == 403
    assert auditor.get(url(report, "report.xlsx")).status_code == 200


def test_the_workbook_opens_with_the_figures_in_yuan(report, clerk):
    answer = clerk.get(url(report, "report.xlsx"))

    workbook = load_workbook(io.BytesIO(b"".join(answer.streaming_content)))
    lines = workbook["明细 Lines"]
    rows = {row[0]: row for row in lines.iter_rows(min_row=2, values_only=True)}
    assert float(rows["FEE-A"][3]) == EXPECTED["FEE-A"][1] / 100
    assert float(rows["合计 Total"][8]) == 49.50
    facts = dict(workbook["结报 Report"].iter_rows(min_row=2, values_only=True))
    assert facts["状态 Status"] == "草稿 draft"


def gmssl_verifies(public_pem: str, signature_der: bytes, content: bytes) -> bool:
    """gmssl, a second SM2 implementation, checks the signature with the published key."""
    der = base64.b64decode("".join(public_pem.strip().splitlines()[1:-1]))
    r, s = decode_dss_signature(signature_der)
    checker = CryptSM2(private_key="", public_key="", mode=1)
    checker.public_key = der[-64:].hex()  # X||Y: the end of the SubjectPublicKeyInfo
    return checker.verify_with_sm3(f"{r:064x}{s:064x}", content)


def test_the_csv_signature_verifies_with_the_published_key_and_fails_on_a_changed_byte(
    report, clerk
):
    content = clerk.get(url(report, "report.csv")).content
    signature = clerk.get(url(report, "report.csv.sig")).content
    public_pem = clerk.get(f"{PAGE}signing-key.pem").content.decode()

    assert content.startswith(b"\xef\xbb\xbf") and "FEE-A" in content.decode()
    assert gmssl_verifies(public_pem, signature, content)
    changed = content.replace(b"37.50", b"37.51", 1)
    assert changed != content
    assert not gmssl_verifies(public_pem, signature, changed)


def test_without_a_signing_key_the_signature_and_key_pages_are_not_found(report, clerk, settings):
    settings.CLOSING = {**settings.CLOSING, "signing_key_pem": ""}

    for page in (url(report, "report.csv.sig"), f"{PAGE}signing-key.pem"):
        answer = clerk.get(page)
        assert answer.status_code == 404 and answer["Content-Type"].startswith("text/html")
    assert clerk.get(url(report, "report.csv")).status_code == 200


def test_generating_from_the_console_replaces_only_drafts(report, clerk):
    answer = clerk.post(f"{PAGE}generate/", {"business_date": DAY.isoformat()})

    assert answer.status_code == 303 and SettlementReport.objects.get().pk == report.pk
    bad = clerk.post(f"{PAGE}generate/", {"business_date": "25/11/2026"})
    assert bad.status_code == 303 and said(bad)


def test_the_chinese_pages_show_no_code_nor_english_word(report, clerk):
    approved_one = approved_by_two(report)
    pages = [f"{PAGE}?date={DAY.isoformat()}", url(report), url(approved_one)]

    for page in pages:
        html = clerk.get(page).content.decode()
        assert foreign_words(text_of(html, translatable_only=True), language="zh-hans") == []
    assert "已审核" in text_of(clerk.get(url(approved_one)).content.decode())


def test_a_failed_remittance_is_sent_again_by_finance_only(report, clerk, approver, auditor):
    instruction = approved_by_two(report).remittance.instruction
    RemittanceInstruction.objects.filter(pk=instruction.pk).update(
        status=InstructionStatus.FAILED, next_attempt_at=None, last_error="ProviderUnavailable"
    )
    assert "retry-form" in clerk.get(url(report)).content.decode()

    assert auditor.post(url(report, "remittance/retry/")).status_code == 403
    assert clerk.post(url(report, "remittance/retry/")).status_code == 303

    instruction.refresh_from_db()
    assert instruction.status == InstructionStatus.SENDING and instruction.next_attempt_at


def approved_by_two(report: SettlementReport) -> SettlementReport:
    visible = SettlementReport.objects.all()
    settlement_report_submit(public_id=report.public_id, visible=visible, actor="user:clerk")
    return settlement_report_approve(
        public_id=report.public_id, visible=visible, actor="user:approver"
    )
