"""The report downloads as HTTP responses, for the API and the console alike."""

from __future__ import annotations

import tempfile
from datetime import date

from django.http import FileResponse, StreamingHttpResponse

from reconciliation import reports
from reconciliation.models import ReconciliationRun

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def run_workbook(run: ReconciliationRun, *, departments: list[int] | None) -> FileResponse:
    # On disk, so memory stays flat however big it grows; FileResponse closes it.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    reports.write_xlsx(run, out, departments=departments)
    out.seek(0)
    name = f"reconciliation-{_stem(run)}.xlsx"
    return FileResponse(out, as_attachment=True, filename=name, content_type=XLSX)


def run_csv(run: ReconciliationRun, *, departments: list[int] | None) -> StreamingHttpResponse:
    chunks = reports.csv_chunks(run, departments=departments)
    return _csv(chunks, f"discrepancies-{_stem(run)}.csv")


def clearing_csv(day: date, *, departments: list[int] | None) -> StreamingHttpResponse:
    return _csv(reports.clearing_csv_chunks(day, departments=departments), f"clearing-{day}.csv")


def _stem(run: ReconciliationRun) -> str:
    return f"{run.business_date}-{run.party.replace(':', '-')}"


def _csv(chunks, name: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
