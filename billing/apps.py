from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.revenue import REVENUE_RECORDS
        from billing.staff import ensure_finance_group
        from billing.webhooks import WEBHOOK_DELIVERIES
        from outbox.kinds import register

        register(WEBHOOK_DELIVERIES)
        register(REVENUE_RECORDS)
        # After every app's migrations, not only billing's: the groups hold permissions of
        # apps migrated later (reconciliation, logistics), created in their post_migrate.
        post_migrate.connect(ensure_finance_group, dispatch_uid="billing.staff_groups")
