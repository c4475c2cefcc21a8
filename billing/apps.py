from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.staff import ensure_finance_group

        post_migrate.connect(ensure_finance_group, sender=self)
