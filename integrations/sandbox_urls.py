"""The sandboxes of the outside parties, mounted under /sandbox/ when SANDBOXES_ENABLED."""

from django.urls import include, path

urlpatterns = [
    path("public_platform/", include("integrations.payments.sandbox.public_platform")),
]
