"""The sandboxes' own server (`manage.py sandboxes`): every outside party under /sandbox/."""

from django.urls import include, path

from config.health import liveness

urlpatterns = [
    path("healthz", liveness, name="healthz"),
    path("sandbox/", include("sandboxes.urls")),
]
