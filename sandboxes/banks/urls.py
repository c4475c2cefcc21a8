"""The sandbox bank's URLs, mounted at /sandbox/banks/."""

from django.urls import path

from sandboxes.banks import views

app_name = "banks_sandbox"
urlpatterns = [
    path("statements/<str:account>/<str:day>", views.statement, name="statement"),
    path("payments", views.payments, name="payments"),
    path("_control/accounts/<str:account>/entries", views.control_entries, name="control_entries"),
    path("_control/reset", views.control_reset, name="control_reset"),
    path("_control/days/<str:day>/end", views.control_end_day, name="control_end_day"),
]
