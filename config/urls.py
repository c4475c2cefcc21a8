from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health
from metrics import metrics_view

urlpatterns = [
    path("healthz", health.liveness, name="healthz"),
    path("readyz", health.readiness, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico on every page; the console's icon is an SVG.
    path(
        "favicon.ico",
        RedirectView.as_view(url=lazy(static, str)("console/favicon.svg"), permanent=True),
        name="favicon",
    ),
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("billing.urls")),
    path("api/v1/", include("ledger.api")),
    path("api/v1/", include("reconciliation.api.ledger_accounts")),
    path("api/v1/", include("logistics.urls")),
    path("api/v1/", include("reconciliation.api.views")),
    path("api/v1/", include("closing.api.views")),
    path("notify/couriers/", include("logistics.api.push")),
    path("notify/sms/", include("notices.api")),
    path("notify/", include("billing.api.notify")),
]

handler400 = "console.errors.bad_request"
handler403 = "console.errors.permission_denied"
handler404 = "console.errors.not_found"
handler500 = "console.errors.server_error"
