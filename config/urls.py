from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health

urlpatterns = [
    path("healthz", health.liveness, name="healthz"),
    path("readyz", health.readiness, name="readyz"),
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
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

handler400 = "console.errors.bad_request"
handler403 = "console.errors.permission_denied"
handler404 = "console.errors.not_found"
handler500 = "console.errors.server_error"
