"""The service's URLs with the sandboxes mounted (config.urls_with_sandboxes), plus the
baselines of the HTTP benchmarks, each one ORM insert of one small row:

- `bench/insert-one-drf`: a bare DRF endpoint (no authentication, no permission, DRF's
  request and JSON answer), the baseline the performance targets name;
- `bench/insert-one`: a plain Django view, the least a Django write endpoint can do.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls_with_sandboxes import urlpatterns as service_urlpatterns
from core.models import AuditRecord


@csrf_exempt
@require_POST
def insert_one(request: HttpRequest) -> JsonResponse:
    record = AuditRecord.objects.create(
        actor="bench", action="bench.insert_one", object_type="Bench", object_id="-"
    )
    return JsonResponse({"id": record.pk}, status=201)


class InsertOne(APIView):
    authentication_classes = ()
    permission_classes = ()
    schema = None  # not part of the published API

    def post(self, request: Request) -> Response:
        record = AuditRecord.objects.create(
            actor="bench", action="bench.insert_one", object_type="Bench", object_id="-"
        )
        return Response({"id": record.pk}, status=201)


urlpatterns = [
    path("bench/insert-one", insert_one),
    path("bench/insert-one-drf", InsertOne.as_view()),
    *service_urlpatterns,
]
