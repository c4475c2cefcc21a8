"""Every sandbox under /sandbox/ (config/sandbox_urls.py serves them), and their reset."""

from django.urls import include, path

from sandboxes import control

urlpatterns = [
    path("_control/reset", control.reset, name="sandboxes-reset"),
    path("wechatpay/", include("sandboxes.wechatpay.views")),
    path("unionpay/", include("sandboxes.unionpay.views")),
    path("public_platform/", include("sandboxes.public_platform.views")),
    path("alipay/", include("sandboxes.alipay.views")),
    path("banks/", include("sandboxes.banks.urls")),
    path("ems/", include("sandboxes.ems.views")),
    path("sf/", include("sandboxes.sf.views")),
    path("revenue/<str:system_code>/", include("sandboxes.revenue.views")),
    path("receipts/", include("sandboxes.receipts.views")),
    path("sms/", include("sandboxes.sms.views")),
]
