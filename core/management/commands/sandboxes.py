import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

from config.env import env_int

# One process: each sandbox keeps its providers' state (open trades, waybills, accounts) in
# memory. Threads let a cashier page, a bill download and notifications run at once.
SANDBOX_THREADS = 32


class Command(BaseCommand):
    help = (
        "Serve the sandboxes of every outside party (processors, the public payment platform, "
        "couriers, banks, revenue systems) on 127.0.0.1:$SANDBOX_PORT (8001), in the "
        "foreground, as a provider's own server would: apart from the service's workers."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--port", type=int, default=env_int("SANDBOX_PORT", 8001))

    def handle(self, *args, port: int, **options) -> None:
        command = [
            sys.executable, "-m", "gunicorn",
            # The service's server settings and log format, as one process that is never
            # recycled: each sandbox keeps its notification schedules in memory.
            "--config", str(settings.BASE_DIR / "config" / "gunicorn.py"),
            "--bind", f"127.0.0.1:{port}",
            "--workers", "1",
            "--threads", str(SANDBOX_THREADS),
            "--max-requests", "0",
            "--name", "backoffice-sandboxes",
            "config.sandbox_wsgi:application",
        ]  # fmt: skip
        # Loaded in the worker, not before the fork: the sandboxes' notifiers resume their
        # retries on threads as the application loads (config/sandbox_wsgi.py).
        os.environ["WEB_PRELOAD"] = "false"
        os.execv(sys.executable, command)  # noqa: S606 (our interpreter, our arguments)
