"""The service and the sandboxes in one URLconf, for the tests' single live server."""

from django.urls import include, path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as service_urlpatterns

urlpatterns = [*service_urlpatterns, path("sandbox/", include("sandboxes.urls"))]
