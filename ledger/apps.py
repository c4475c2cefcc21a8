from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from ledger.services import forget_accounts

        # ``flush`` (which empties every table) ends with post_migrate.
        post_migrate.connect(forget_accounts, sender=self)
