"""Every sandbox under /sandbox/ (config/sandbox_urls.py serves them), their reset, and the
faults any of them can be put into (sandboxes/faults.py)."""

from django.urls import path

from sandboxes import control, faults

urlpatterns = [
    path("_control/reset", control.reset, name="sandboxes-reset"),
    path("_control/faults", faults.control_all, name="sandboxes-faults"),
    path("_control/faults/<str:party>", faults.control, name="sandboxes-party-faults"),
    path("wechatpay/", faults.include("sandboxes.wechatpay.views")),
    path("unionpay/", faults.include("sandboxes.unionpay.views")),
    path("public_platform/", faults.include("sandboxes.public_platform.views")),
    path("alipay/", faults.include("sandboxes.alipay.views")),
    path("banks/", faults.include("sandboxes.banks.urls")),
    path("ems/", faults.include("sandboxes.ems.views")),
    path("sf/", faults.include("sandboxes.sf.views")),
    path("revenue/<str:system_code>/", faults.include("sandboxes.revenue.views")),
    path("receipts/", faults.include("sandboxes.receipts.views")),
    path("sms/", faults.include("sandboxes.sms.views")),
]
