"""Reconciliation for finance: runs, discrepancies, resolution, files, clearing, reports."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.schema import errors
from core.api import NewestFirstPages, page_of, page_parameters, paginated
from core.auth import OperationAccess
from core.errors import NotFound
from reconciliation import downloads, selectors, statements
from reconciliation.api import serializers as s
from reconciliation.models import Discrepancy, ReconciliationRun, StatementFile
from reconciliation.parties import parse_party
from reconciliation.services import resolution, runs


class Pages(NewestFirstPages):
    max_page_size = 500  # a day's runs and discrepancies are read by scripts


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"


class XlsxRenderer(BaseRenderer):
    media_type = downloads.XLSX
    format = "xlsx"


class Download(APIView):
    """Answers with a file of its renderer's type, which ``Accept`` may name; errors are JSON."""

    def finalize_response(self, request, response, *args, **kwargs):
        # The file renderers render nothing: the views return the file as it is, and an
        # error body is rendered as JSON whatever the client accepted.
        if isinstance(response, Response):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def _file(media_type: str, description: str) -> dict:
    body = OpenApiTypes.STR if media_type.startswith("text/") else OpenApiTypes.BINARY
    return {(200, media_type): OpenApiResponse(body, description=description)}


def _run(run_id: int) -> ReconciliationRun:
    run = ReconciliationRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such run.")
    return run


class Runs(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="reconciliation_runs_start",
        request=s.RunRequestSerializer,
        responses={202: s.RunSerializer(many=True), **errors(400, 401, 403, 409, 413)},
    )
    def post(self, request):
        incoming = s.RunRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        day, party = incoming.validated_data["business_date"], incoming.validated_data["party"]
        actor = request.user.actor
        if party == s.ALL_PARTIES:
            started = runs.runs_request_day(business_date=day, actor=actor)
        else:
            started = [runs.run_request(business_date=day, party_code=party, actor=actor)]
        return Response(s.RunSerializer(started, many=True).data, status=202)

    @extend_schema(
        operation_id="reconciliation_runs_list",
        parameters=[s.RunFilterSerializer, *page_parameters(Pages)],
        responses={200: page_of(s.RunSerializer), **errors(400, 401, 403)},
    )
    def get(self, request):
        filters = s.RunFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        queryset = ReconciliationRun.objects.select_related("statement").filter(
            **filters.validated_data
        )
        return paginated(request, self, queryset, s.RunSerializer, Pages)


class RunDetail(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="reconciliation_runs_retrieve",
        responses={200: s.RunSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, run_id: int):
        return Response(s.RunSerializer(_run(run_id)).data)


class RunReportXlsx(Download):
    permission_classes = [OperationAccess]
    renderer_classes = [XlsxRenderer]

    @extend_schema(
        operation_id="reconciliation_runs_report_xlsx",
        responses={
            **_file(downloads.XLSX, "The run's discrepancies as an Excel workbook."),
            **errors(401, 403, 404, 406),
        },
    )
    def get(self, request, run_id: int):
        departments = selectors.department_scope(request.user)
        return downloads.run_workbook(_run(run_id), departments=departments)


class RunReportCsv(Download):
    permission_classes = [OperationAccess]
    renderer_classes = [CsvRenderer]

    @extend_schema(
        operation_id="reconciliation_runs_report_csv",
        responses={
            **_file(CsvRenderer.media_type, "The run's discrepancies, UTF-8 CSV."),
            **errors(401, 403, 404, 406),
        },
    )
    def get(self, request, run_id: int):
        departments = selectors.department_scope(request.user)
        return downloads.run_csv(_run(run_id), departments=departments)


class Discrepancies(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="reconciliation_discrepancies_list",
        parameters=[s.DiscrepancyFilterSerializer, *page_parameters(Pages)],
        responses={200: page_of(s.DiscrepancySerializer), **errors(400, 401, 403)},
    )
    def get(self, request):
        filters = s.DiscrepancyFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = dict(filters.validated_data)
        if "department" in wanted:
            wanted["department__code"] = wanted.pop("department")
        if "assignee" in wanted:
            wanted["assignee__username"] = wanted.pop("assignee")
        queryset = selectors.visible_discrepancies(request.user).filter(**wanted)
        return paginated(request, self, queryset, s.DiscrepancySerializer, Pages)


def _visible(request, discrepancy_id: int) -> Discrepancy:
    item = (
        selectors.visible_discrepancies(request.user)
        .prefetch_related("comments")
        .filter(pk=discrepancy_id)
        .first()
    )
    if item is None:
        raise NotFound("No such discrepancy.")
    return item


class DiscrepancyDetail(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="reconciliation_discrepancies_retrieve",
        responses={200: s.DiscrepancyDetailSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, discrepancy_id: int):
        return Response(s.DiscrepancyDetailSerializer(_visible(request, discrepancy_id)).data)


class DiscrepancyAction(APIView):
    """One resolution step; the subclasses name the step and its input."""

    permission_classes = [OperationAccess]
    input_serializer: type = s.AssignSerializer

    def post(self, request, discrepancy_id: int):
        actor = request.user.actor
        incoming = self.input_serializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        visible = selectors.visible_discrepancies(request.user)
        self.act(discrepancy_id, visible, actor, incoming.validated_data)
        return Response(s.DiscrepancyDetailSerializer(_visible(request, discrepancy_id)).data)

    def act(self, discrepancy_id, visible, actor, data) -> None:
        raise NotImplementedError


def _action_schema(name: str, request_serializer):
    return extend_schema(
        operation_id=f"reconciliation_discrepancies_{name}",
        request=request_serializer,
        responses={200: s.DiscrepancyDetailSerializer, **errors(400, 401, 403, 404, 409, 413)},
    )


class Assign(DiscrepancyAction):
    input_serializer = s.AssignSerializer

    @_action_schema("assign", s.AssignSerializer)
    def post(self, request, discrepancy_id: int):
        return super().post(request, discrepancy_id)

    def act(self, discrepancy_id, visible, actor, data) -> None:
        resolution.discrepancy_assign(
            discrepancy_id=discrepancy_id, visible=visible, assignee=data["assignee"], actor=actor
        )


class Comment(DiscrepancyAction):
    input_serializer = s.CommentInputSerializer

    @_action_schema("comment", s.CommentInputSerializer)
    def post(self, request, discrepancy_id: int):
        return super().post(request, discrepancy_id)

    def act(self, discrepancy_id, visible, actor, data) -> None:
        resolution.discrepancy_comment(
            discrepancy_id=discrepancy_id, visible=visible, text=data["text"], actor=actor
        )


class Propose(DiscrepancyAction):
    input_serializer = s.ProposalSerializer

    @_action_schema("propose", s.ProposalSerializer)
    def post(self, request, discrepancy_id: int):
        return super().post(request, discrepancy_id)

    def act(self, discrepancy_id, visible, actor, data) -> None:
        resolution.discrepancy_propose(
            discrepancy_id=discrepancy_id,
            visible=visible,
            proposal=resolution.Proposal(**data),
            actor=actor,
        )


class Approve(DiscrepancyAction):
    input_serializer = s.serializers.Serializer

    @_action_schema("approve", None)
    def post(self, request, discrepancy_id: int):
        return super().post(request, discrepancy_id)

    def act(self, discrepancy_id, visible, actor, data) -> None:
        resolution.discrepancy_approve(discrepancy_id=discrepancy_id, visible=visible, actor=actor)


class Reject(DiscrepancyAction):
    input_serializer = s.RejectSerializer

    @_action_schema("reject", s.RejectSerializer)
    def post(self, request, discrepancy_id: int):
        return super().post(request, discrepancy_id)

    def act(self, discrepancy_id, visible, actor, data) -> None:
        resolution.discrepancy_reject(
            discrepancy_id=discrepancy_id, visible=visible, actor=actor, reason=data["reason"]
        )


class Statements(APIView):
    """Finance staff upload a party's file (the processor's portal export, the bank's file)."""

    permission_classes = [OperationAccess]
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="reconciliation_statements_upload",
        request={"multipart/form-data": s.StatementUploadSerializer},
        responses={201: s.StatementSerializer, **errors(400, 401, 403, 413)},
    )
    def post(self, request):
        incoming = s.StatementUploadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        upload = data["file"]
        stored = statements.statement_store(
            party=parse_party(data["party"]),
            business_date=data["business_date"],
            content=upload.read(),
            source=StatementFile.Source.UPLOADED,
            filename=upload.name[:200],
            actor=request.user.actor,
        )
        return Response(s.StatementSerializer(stored).data, status=201)


class ClearingList(APIView):
    """Settlement reporting (结报) per department and date: what each channel owes, and arrived."""

    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="reconciliation_clearing_list",
        parameters=[s.ClearingFilterSerializer],
        responses={200: s.ClearingSerializer(many=True), **errors(400, 401, 403)},
    )
    def get(self, request):
        filters = s.ClearingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rows = selectors.visible_clearing(request.user).filter(**filters.validated_data)
        return Response(s.ClearingSerializer(rows, many=True).data)


class ClearingCsv(Download):
    permission_classes = [OperationAccess]
    renderer_classes = [CsvRenderer]

    @extend_schema(
        operation_id="reconciliation_clearing_csv",
        parameters=[s.ClearingFilterSerializer],
        responses={
            **_file(CsvRenderer.media_type, "The day's clearing per department, UTF-8 CSV."),
            **errors(400, 401, 403, 406),
        },
    )
    def get(self, request):
        filters = s.ClearingFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        day = filters.validated_data["business_date"]
        departments = selectors.department_scope(request.user)
        return downloads.clearing_csv(day, departments=departments)


urlpatterns = [
    path("reconciliation/runs", Runs.as_view(), name="reconciliation-runs"),
    path("reconciliation/runs/<int:run_id>", RunDetail.as_view(), name="reconciliation-run"),
    path("reconciliation/runs/<int:run_id>/report.xlsx", RunReportXlsx.as_view()),
    path("reconciliation/runs/<int:run_id>/report.csv", RunReportCsv.as_view()),
    path("reconciliation/discrepancies", Discrepancies.as_view()),
    path("reconciliation/discrepancies/<int:discrepancy_id>", DiscrepancyDetail.as_view()),
    path("reconciliation/discrepancies/<int:discrepancy_id>/assign", Assign.as_view()),
    path("reconciliation/discrepancies/<int:discrepancy_id>/comments", Comment.as_view()),
    path("reconciliation/discrepancies/<int:discrepancy_id>/propose", Propose.as_view()),
    path("reconciliation/discrepancies/<int:discrepancy_id>/approve", Approve.as_view()),
    path("reconciliation/discrepancies/<int:discrepancy_id>/reject", Reject.as_view()),
    path("reconciliation/statements", Statements.as_view()),
    path("reconciliation/clearing", ClearingList.as_view()),
    path("reconciliation/clearing.csv", ClearingCsv.as_view()),
]
