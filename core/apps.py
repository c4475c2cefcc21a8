import os

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Access, audit and idempotency"

    def ready(self) -> None:
        from core import (
            request_context,  # noqa: F401  (connects the Celery signals)
            schema,  # noqa: F401  (registers the OpenAPI auth extensions)
        )

        # Every process of a simulation runs on its clock (docs/simulation.md); time-machine
        # is not even imported otherwise.
        if os.environ.get("SIMULATED_CLOCK_FILE"):
            from simulation.clock import clock_install_from_env
            from simulation.in_hand import tasks_marked_from_env

            clock_install_from_env()
            tasks_marked_from_env()
