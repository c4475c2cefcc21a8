from django.urls import include, path

urlpatterns = [
    path("", include("logistics.api.shipments")),
    path("", include("logistics.api.tracking")),
    path("", include("logistics.api.courier_events")),
]
