from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health

urlpatterns = [
    path("healthz", health.liveness, name="healthz"),
    path("readyz", health.readiness, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("billing.urls")),
    path("api/v1/", include("logistics.urls")),
    path("api/v1/", include("reconciliation.api.views")),
    path("notify/couriers/", include("logistics.api.push")),
    path("notify/", include("billing.api.notify")),
]

if settings.SANDBOXES_ENABLED:
    urlpatterns.append(path("sandbox/", include("integrations.sandbox_urls")))

handler400 = "core.errors.json_bad_request"
handler403 = "core.errors.json_permission_denied"
handler404 = "core.errors.json_not_found"
handler500 = "core.errors.json_server_error"
