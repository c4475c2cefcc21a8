"""The service's URLs with the sandboxes mounted (config.urls_with_sandboxes), plus
`bench/insert-one`, the baseline of the HTTP benchmarks.

It does the least a Django write endpoint can do: one ORM insert of one small row.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls_with_sandboxes import urlpatterns as service_urlpatterns
from core.models import AuditRecord


@csrf_exempt
@require_POST
def insert_one(request: HttpRequest) -> JsonResponse:
    record = AuditRecord.objects.create(
        actor="bench", action="bench.insert_one", object_type="Bench", object_id="-"
    )
    return JsonResponse({"id": record.pk}, status=201)


urlpatterns = [path("bench/insert-one", insert_one), *service_urlpatterns]
