"""Settlement reports: the list, one report, and its files (xlsx, the CSV and its SM2
signature, the key that checks it). Department-scoped staff see their departments' only;
another department's report answers 404, as a made-up one does."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from closing import downloads, selectors, signing
from closing.api import serializers as s
from closing.models import SettlementReport
from core.api import page_of, page_parameters, paginated
from core.auth import OperationAccess
from core.errors import NotFound
from core.schema import errors
from reconciliation.api.views import CsvRenderer, Download, XlsxRenderer
from reconciliation.downloads import XLSX


class SignatureRenderer(BaseRenderer):
    media_type = downloads.SIGNATURE
    format = "sig"


class PemRenderer(BaseRenderer):
    media_type = downloads.PEM
    format = "pem"


def _visible(request) -> QuerySet[SettlementReport]:
    return selectors.visible_reports(request.user.user).select_related(
        "department", "corrects", "remittance__instruction"
    )


def _report(request, report_id: str) -> SettlementReport:
    report = _visible(request).filter(public_id=report_id).first()
    if report is None:
        raise NotFound("No such settlement report.")
    return report


def _signed() -> None:
    if not signing.signing_configured():
        raise NotFound("This service signs no settlement report files.", code="not_signed")


class Reports(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="closing_reports_list",
        parameters=[s.ReportFilterSerializer, *page_parameters()],
        responses={200: page_of(s.SettlementReportSerializer), **errors(400, 401, 403)},
    )
    def get(self, request):
        filters = s.ReportFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = dict(filters.validated_data)
        if "department" in wanted:
            wanted["department__code"] = wanted.pop("department")
        reports = _visible(request).filter(**wanted).prefetch_related("lines")
        return paginated(request, self, reports, s.SettlementReportSerializer)


class ReportDetail(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="closing_reports_retrieve",
        responses={200: s.SettlementReportSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, report_id: str):
        return Response(s.SettlementReportSerializer(_report(request, report_id)).data)


class ReportXlsx(Download):
    """The report as the finance bureau's workbook (errors are JSON)."""

    permission_classes = [OperationAccess]
    renderer_classes = [XlsxRenderer]

    @extend_schema(
        operation_id="closing_reports_xlsx",
        responses={
            (200, XLSX): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The report, its lines and its remittance as an Excel workbook.",
            ),
            **errors(401, 403, 404, 406),
        },
    )
    def get(self, request, report_id: str):
        return downloads.report_xlsx(_report(request, report_id))


class ReportCsv(Download):
    """The report as the CSV that is signed (errors are JSON)."""

    permission_classes = [OperationAccess]
    renderer_classes = [CsvRenderer]

    @extend_schema(
        operation_id="closing_reports_csv",
        responses={
            (200, CsvRenderer.media_type): OpenApiResponse(
                OpenApiTypes.STR, description="The report, UTF-8 CSV with a BOM: the signed bytes."
            ),
            **errors(401, 403, 404, 406),
        },
    )
    def get(self, request, report_id: str):
        return downloads.report_csv(_report(request, report_id))


class ReportCsvSignature(Download):
    """The CSV's detached SM2 signature; 404 ``not_signed`` where no key is set."""

    permission_classes = [OperationAccess]
    renderer_classes = [SignatureRenderer]

    @extend_schema(
        operation_id="closing_reports_csv_signature",
        responses={
            (200, downloads.SIGNATURE): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The SM2 signature (DER) of the CSV the report downloads as now.",
            ),
            **errors(401, 403, 404, 406),
        },
    )
    def get(self, request, report_id: str):
        report = _report(request, report_id)
        _signed()
        return downloads.report_signature(report)


class SigningKey(Download):
    """The public key of the CSV signatures; 404 ``not_signed`` where no key is set."""

    permission_classes = [OperationAccess]
    renderer_classes = [PemRenderer]

    @extend_schema(
        operation_id="closing_signing_key",
        responses={
            (200, downloads.PEM): OpenApiResponse(
                OpenApiTypes.STR,
                description="The SM2 public key the CSV signatures are checked with.",
            ),
            **errors(401, 403, 404, 406),
        },
    )
    def get(self, request):
        _signed()
        return downloads.signing_key()


urlpatterns = [
    path("closing/reports", Reports.as_view(), name="closing-reports"),
    path("closing/reports/<str:report_id>", ReportDetail.as_view(), name="closing-report"),
    path("closing/reports/<str:report_id>/xlsx", ReportXlsx.as_view()),
    path("closing/reports/<str:report_id>/csv", ReportCsv.as_view()),
    path("closing/reports/<str:report_id>/csv.sig", ReportCsvSignature.as_view()),
    path("closing/signing-key.pem", SigningKey.as_view()),
]
