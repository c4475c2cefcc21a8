from django.urls import include, path

urlpatterns = [
    path("", include("billing.api.reference")),
    path("", include("billing.api.orders")),
    path("", include("billing.api.refunds")),
    path("", include("billing.api.receipts")),
    path("", include("billing.api.webhooks")),
]
