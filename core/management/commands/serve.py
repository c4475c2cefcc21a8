import signal
import sys
from contextlib import AbstractContextManager

import waitress
from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from billing.demo import DemoAccess, demo_seed
from config.env import env_int
from config.wsgi import application
from core import runner
from integrations.couriers.registry import COURIER_CODES
from integrations.payments.registry import CHANNEL_CODES

HOST = "127.0.0.1"
THREADS = 16
BEAT_SCHEDULE_FILE = settings.BASE_DIR / "var" / "celerybeat-schedule"


class Command(BaseCommand):
    help = (
        "Migrate, seed the demo data and serve on 127.0.0.1:$PORT in the foreground, with the "
        "periodic jobs in-process (no CELERY_BROKER_URL) or a Celery worker and beat beside it."
    )

    def handle(self, *args, **options) -> None:
        port = env_int("PORT", 8000)
        call_command("migrate", interactive=False, verbosity=0)
        access = demo_seed()
        embedded = settings.CELERY_TASK_ALWAYS_EAGER
        self._print_banner(f"http://{HOST}:{port}", access, embedded=embedded)

        # SIGTERM ends the server as Ctrl-C does, so that what runs beside it is stopped too.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        beside: AbstractContextManager[None] = (
            runner.periodic_jobs(runner.periodic_jobs_from(settings.CELERY_BEAT_SCHEDULE))
            if embedded
            else runner.celery_processes(cwd=settings.BASE_DIR, beat_schedule=BEAT_SCHEDULE_FILE)
        )
        with beside:
            # Static files are served by Django here, so that the admin has its styles.
            waitress.serve(StaticFilesHandler(application), host=HOST, port=port, threads=THREADS)

    def _print_banner(self, base_url: str, access: DemoAccess, *, embedded: bool) -> None:
        tasks = "in-process" if embedded else "Celery worker and beat"
        database = f"{connection.vendor} ({connection.settings_dict['NAME']})"
        lines = [
            "",
            f"Payments back-office: database {database}, tasks {tasks}.",
            f"  API docs        {base_url}/api/docs/",
            f"  Admin           {base_url}/admin/",
        ]
        if settings.SANDBOXES_ENABLED:
            lines += [
                f"  Sandbox         {base_url}/sandbox/{code}/"
                for code in (*CHANNEL_CODES, *COURIER_CODES)
            ]
        lines += [
            f"  Finance login   {access.finance_login}",
            f"  Portal API key  {access.portal_key}",
            f"                  (client {access.portal_client}; 'Authorization: Bearer <key>')",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
