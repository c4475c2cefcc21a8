from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ClosingConfig(AppConfig):
    name = "closing"
    verbose_name = "Closing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from closing.instructions import REMITTANCE_INSTRUCTIONS
        from closing.staff import grant_closing_permissions
        from outbox.kinds import register

        register(REMITTANCE_INSTRUCTIONS)
        # After every migrate and every flush of a test database, once this app's
        # permissions exist: the staff groups get them.
        post_migrate.connect(
            grant_closing_permissions, sender=self, dispatch_uid="closing.staff_permissions"
        )
