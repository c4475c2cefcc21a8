from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Access, audit and idempotency"

    def ready(self) -> None:
        from core import (
            request_context,  # noqa: F401  (connects the Celery signals)
            schema,  # noqa: F401  (registers the OpenAPI auth extensions)
        )
