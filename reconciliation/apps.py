from django.apps import AppConfig


class ReconciliationConfig(AppConfig):
    name = "reconciliation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reconciliation.memory import use_the_c_heap

        use_the_c_heap()  # for every Arrow allocation of the process: see reconciliation/memory.py
