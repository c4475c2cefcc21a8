from django.urls import include, path

urlpatterns = [path("", include("logistics.api.shipments"))]
