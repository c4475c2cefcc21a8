"""The finance console: server-rendered pages for finance staff under /console/."""

from django.contrib.auth import views as auth_views
from django.urls import include, path, reverse_lazy

from console.sign_in import StaffAuthenticationForm

app_name = "console"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="console/login.html",
            authentication_form=StaffAuthenticationForm,
            redirect_authenticated_user=True,
            next_page=reverse_lazy("console:morning"),
        ),
        name="login",
    ),
    path(
        "logout/",
        auth_views.LogoutView.as_view(next_page=reverse_lazy("console:login")),
        name="logout",
    ),
    path("", include("console.views.morning")),
    path("runs/", include("console.views.runs")),
    path("discrepancies/", include("console.views.discrepancies")),
    path("", include("console.views.records")),  # orders/, refunds/, shipments/
    path("sms/", include("console.views.sms")),
    path("", include("console.views.operations")),  # processors/, backlogs/
    path("statistics/", include("console.views.statistics")),
    path("closing/", include("console.views.closing")),
]
