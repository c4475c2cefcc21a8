"""The service's URLs plus `bench/insert-one`, the baseline of bench/order_creation.py.

It does the least a Django write endpoint can do: one ORM insert of one small row.
"""

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as service_urlpatterns
from core.models import AuditRecord


@csrf_exempt
@require_POST
def insert_one(request: HttpRequest) -> JsonResponse:
    record = AuditRecord.objects.create(
        actor="bench", action="bench.insert_one", object_type="Bench", object_id="-"
    )
    return JsonResponse({"id": record.pk}, status=201)


urlpatterns = [path("bench/insert-one", insert_one), *service_urlpatterns]
