"""The sandboxes of the outside parties, under /sandbox/ (config/sandbox_urls.py serves them)."""

from django.urls import include, path

urlpatterns = [
    path("wechatpay/", include("integrations.payments.sandbox.wechatpay")),
    path("unionpay/", include("integrations.payments.sandbox.unionpay")),
    path("public_platform/", include("integrations.payments.sandbox.public_platform")),
    path("alipay/", include("integrations.payments.sandbox.alipay")),
    path("banks/", include("integrations.banks.sandbox.urls")),
    path("ems/", include("integrations.couriers.sandbox.ems")),
    path("sf/", include("integrations.couriers.sandbox.sf")),
    path("revenue/<str:system_code>/", include("integrations.revenue.sandbox.views")),
]
