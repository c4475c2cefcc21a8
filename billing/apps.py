from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing.receipts import RECEIPTS
        from billing.revenue import REVENUE_RECORDS
        from billing.staff import ensure_finance_group
        from billing.webhooks import WEBHOOK_DELIVERIES
        from outbox.kinds import register

        register(WEBHOOK_DELIVERIES)
        register(REVENUE_RECORDS)
        register(RECEIPTS)
        # Once per migrate (and per flush of a test database), after the last app's
        # permissions are created: the groups hold permissions of every app.
        post_migrate.connect(
            ensure_finance_group, sender=_last_app_migrated(), dispatch_uid="billing.staff_groups"
        )


def _last_app_migrated() -> AppConfig:
    """The app whose post_migrate is sent last (Django sends it only for apps with models)."""
    return [config for config in apps.get_app_configs() if config.models_module is not None][-1]
