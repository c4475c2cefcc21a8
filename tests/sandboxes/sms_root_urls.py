"""The SMS sandbox at the root of its host, where Tencent's SDK posts (it sends every call
to ``/`` of its endpoint, and signs the host the endpoint names)."""

from django.urls import include, path

urlpatterns = [path("", include("sandboxes.sms.views"))]
