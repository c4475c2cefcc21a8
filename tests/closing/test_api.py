"""结报 for machines: the finance bureau's and the departments' systems read the reports of
the departments they may see, page by page, and download their files; the CSV's signature
verifies with the key the API publishes. Nothing here changes a report."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from closing import files
from closing.models import Remittance, RemittanceStatus, ReportStatus, SettlementReport
from closing.services import reports
from core.auth import AUDITOR_GROUP
from core.money import business_date_of
from tests.billing.conftest import finance, portal  # noqa: F401
from tests.closing.conftest import DAY, EXPECTED, EXPECTED_TOTAL
from tests.closing.test_console import gmssl_verifies, theirs  # noqa: F401
from tests.console.conftest import make_staff

pytestmark = pytest.mark.django_db
API = "/api/v1/closing"
ALL = SettlementReport.objects.all()


@pytest.fixture
def ours(day_of_fees) -> SettlementReport:
    """The department's approved report, with the remittance its approval ordered."""
    [report] = reports.settlement_reports_generate(business_date=DAY, actor="system:closing")
    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")
    return reports.settlement_report_approve(
        public_id=report.public_id, visible=ALL, actor="user:approver"
    )


def staff(username: str, *departments, **fields) -> APIClient:
    api = APIClient()
    api.force_login(make_staff(username, *departments, **fields))
    return api


def error(answer, status: int) -> dict:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"] == "application/json"
    return answer.json()["error"]


def listed(api: APIClient, **query) -> list[str]:
    answer = api.get(f"{API}/reports", query)
    assert answer.status_code == 200, answer.content
    return [report["id"] for report in answer.json()["results"]]


def test_a_report_reads_as_its_figures_lines_and_remittance(ours, finance):  # noqa: F811
    Remittance.objects.filter(report=ours).update(
        status=RemittanceStatus.SEEN, seen_on=DAY + timedelta(days=1), seen_amount=ours.net
    )

    body = finance.get(f"{API}/reports/{ours.public_id}").json()

    assert {name: body[name] for name in EXPECTED_TOTAL} == EXPECTED_TOTAL
    assert (body["department"], body["business_date"], body["version"], body["status"]) == (
        "SCJG01",
        DAY.isoformat(),
        1,
        ReportStatus.APPROVED,
    )
    assert (body["prepared_by"], body["approved_by"]) == ("user:clerk", "user:approver")
    assert body["submitted_at"] and body["approved_at"] and body["corrects"] is None
    assert {
        line["fee_item"]: tuple(line[name] for name in reports.FIGURES) for line in body["lines"]
    } == EXPECTED
    remittance = body["remittance"]
    assert remittance["amount"] == EXPECTED_TOTAL["net"]
    assert remittance["end_to_end_id"] == ours.remittance.end_to_end_id
    assert (remittance["status"], remittance["seen_on"], remittance["seen_amount"]) == (
        "seen",
        (DAY + timedelta(days=1)).isoformat(),
        EXPECTED_TOTAL["net"],
    )
    assert remittance["instruction_status"] == "sending"
    assert "张三" not in str(body)  # the payers are no part of a report


def test_staff_of_one_department_see_its_reports_only(ours, theirs, finance):  # noqa: F811
    scoped = staff("scoped", ours.department)

    assert sorted(listed(finance)) == sorted([ours.public_id, theirs.public_id])
    assert listed(scoped) == [ours.public_id]
    assert listed(scoped, department=theirs.department.code) == []
    assert scoped.get(f"{API}/reports/{ours.public_id}").status_code == 200
    for tail in ("", "/xlsx", "/csv", "/csv.sig"):
        refused = error(scoped.get(f"{API}/reports/{theirs.public_id}{tail}"), 404)
        assert refused["code"] == "not_found"
    assert error(scoped.get(f"{API}/reports/sr_made_up"), 404)["code"] == "not_found"


def test_a_portal_key_is_refused_and_an_auditor_reads(ours, portal):  # noqa: F811
    for tail in ("reports", f"reports/{ours.public_id}", f"reports/{ours.public_id}/csv"):
        assert error(portal.get(f"{API}/{tail}"), 403)["code"] == "permission_denied"
    assert error(APIClient().get(f"{API}/reports"), 401)["code"] == "not_authenticated"

    auditor = staff("auditor", group=AUDITOR_GROUP)
    assert listed(auditor) == [ours.public_id]
    assert auditor.get(f"{API}/reports/{ours.public_id}/xlsx").status_code == 200


def test_nothing_is_approved_nor_changed_through_the_api(ours, theirs):  # noqa: F811
    clerk = staff("clerk-2")

    for method in ("post", "put", "patch", "delete"):
        answer = getattr(clerk, method)(f"{API}/reports/{theirs.public_id}")
        assert error(answer, 405)["code"] == "method_not_allowed"
    theirs.refresh_from_db()
    assert theirs.status == ReportStatus.DRAFT


def test_the_filters_narrow_the_list(ours, theirs, finance):  # noqa: F811
    day = DAY.isoformat()

    assert listed(finance, business_date=day, status="draft") == [theirs.public_id]
    assert listed(finance, status="approved") == [ours.public_id]
    assert listed(finance, department="SCJG01") == [ours.public_id]
    assert listed(finance, department="NOSUCH") == []
    assert listed(finance, business_date=(DAY - timedelta(days=1)).isoformat()) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"business_date": "2026-13-01"}, "business_date"),
        ({"business_date": "yesterday"}, "business_date"),
        ({"business_date": "1999-12-31"}, "business_date"),
        ({"status": "paid"}, "status"),
        ({"department": "X" * 33}, "department"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_a_bad_filter_answers_400_naming_the_field(finance, query, field):  # noqa: F811
    refused = error(finance.get(f"{API}/reports", query), 400)

    assert refused["code"] == "validation_error"
    assert list(refused["fields"]) == [field]


def test_a_future_business_date_is_refused(finance):  # noqa: F811
    tomorrow = business_date_of(timezone.now()) + timedelta(days=1)

    refused = error(finance.get(f"{API}/reports", {"business_date": tomorrow}), 400)

    assert refused["fields"]["business_date"]


def test_pages_run_newest_first_and_end(ours, theirs, finance):  # noqa: F811
    first = finance.get(f"{API}/reports", {"page_size": 1}).json()
    second = finance.get(first["next"]).json()

    assert [first["results"][0]["id"], second["results"][0]["id"]] == [
        theirs.public_id,
        ours.public_id,
    ]
    assert second["next"] is None and second["previous"]


def test_the_workbook_and_the_csv_are_the_consoles(ours, finance):  # noqa: F811
    base = f"{API}/reports/{ours.public_id}"

    workbook = finance.get(f"{base}/xlsx")
    csv = finance.get(f"{base}/csv")

    stem = f"settlement-SCJG01-{DAY}-v1"
    assert workbook["Content-Disposition"] == f'attachment; filename="{stem}.xlsx"'
    sheet = load_workbook(io.BytesIO(b"".join(workbook.streaming_content)))["明细 Lines"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert float(rows["合计 Total"][8]) == EXPECTED_TOTAL["net"] / 100
    assert csv["Content-Type"] == "text/csv; charset=utf-8"
    assert csv["Content-Disposition"] == f'attachment; filename="{stem}.csv"'
    assert csv.content == files.csv_bytes(ours)
    assert ours.remittance.end_to_end_id in csv.content.decode()


def test_the_csv_signature_verifies_with_the_published_key(ours, finance):  # noqa: F811
    base = f"{API}/reports/{ours.public_id}"

    content = finance.get(f"{base}/csv").content
    signature = finance.get(f"{base}/csv.sig")
    public_pem = finance.get(f"{API}/signing-key.pem").content.decode()

    assert signature["Content-Type"] == "application/octet-stream"
    assert gmssl_verifies(public_pem, signature.content, content)
    assert not gmssl_verifies(public_pem, signature.content, content.replace(b"SCJG01", b"SCJG02"))


def test_without_a_signing_key_the_signature_is_not_found(ours, finance, settings):  # noqa: F811
    settings.CLOSING = {**settings.CLOSING, "signing_key_pem": None}

    for path in (f"reports/{ours.public_id}/csv.sig", "signing-key.pem"):
        assert error(finance.get(f"{API}/{path}"), 404)["code"] == "not_signed"
    assert finance.get(f"{API}/reports/{ours.public_id}/csv").status_code == 200


def test_a_file_asked_for_as_json_is_refused_with_a_json_body(ours, finance):  # noqa: F811
    answer = finance.get(f"{API}/reports/{ours.public_id}/csv", HTTP_ACCEPT="application/json")

    assert error(answer, 406)["code"] == "not_acceptable"
