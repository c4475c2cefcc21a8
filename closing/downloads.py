"""A settlement report's files as HTTP responses, for the console and the API alike.

The signature and the key need a signing key: callers check ``signing.signing_configured()``
first and answer not-found in their own way.
"""

from __future__ import annotations

import tempfile

from django.http import FileResponse, HttpResponse

from closing import files, signing
from closing.models import SettlementReport
from reconciliation.downloads import XLSX

CSV = "text/csv; charset=utf-8"
SIGNATURE = "application/octet-stream"
PEM = "application/x-pem-file"


def report_xlsx(report: SettlementReport) -> FileResponse:
    # On disk, so memory stays flat however big it grows; FileResponse closes it.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    files.write_xlsx(report, out)
    out.seek(0)
    return FileResponse(
        out, as_attachment=True, filename=f"{_stem(report)}.xlsx", content_type=XLSX
    )


def report_csv(report: SettlementReport) -> HttpResponse:
    return _attachment(files.csv_bytes(report), CSV, f"{_stem(report)}.csv")


def report_signature(report: SettlementReport) -> HttpResponse:
    """The detached SM2 signature of the CSV the report downloads as now."""
    signature = signing.signature_of(files.csv_bytes(report))
    return _attachment(signature, SIGNATURE, f"{_stem(report)}.csv.sig")


def signing_key() -> HttpResponse:
    """The public key the CSV signatures are checked with (PEM)."""
    key = signing.public_key_pem().encode("ascii")
    return _attachment(key, PEM, "settlement-reports-signing-key.pem")


def _stem(report: SettlementReport) -> str:
    return f"settlement-{report.department.code}-{report.business_date}-v{report.version}"


def _attachment(content: bytes, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
