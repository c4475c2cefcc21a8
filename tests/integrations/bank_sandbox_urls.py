"""A URL configuration with only the sandbox bank, where the service mounts it."""

from django.urls import include, path

urlpatterns = [path("sandbox/banks/", include("sandboxes.banks.urls"))]
