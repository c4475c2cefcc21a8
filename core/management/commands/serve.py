import logging
import signal
import sys
import threading
import time
from contextlib import AbstractContextManager, nullcontext

import waitress
from django.conf import settings
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from billing.demo import DemoAccess, demo_seed
from config.env import env_int
from config.wsgi import application
from core import runner
from demo.day import demo_day_seed, seeded_day
from integrations.couriers.registry import COURIER_CODES
from integrations.payments.registry import CHANNEL_CODES

HOST = "127.0.0.1"
THREADS = 16
BEAT_SCHEDULE_FILE = settings.BASE_DIR / "var" / "celerybeat-schedule"
logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Migrate, seed the demo data and serve on 127.0.0.1:$PORT in the foreground, with the "
        "periodic jobs in-process (no CELERY_BROKER_URL) or a Celery worker and beat beside it. "
        "With the sandboxes, the first start on a database also seeds a demo business day."
    )

    def handle(self, *args, **options) -> None:
        port = env_int("PORT", 8000)
        base_url = f"http://{HOST}:{port}"
        call_command("migrate", interactive=False, verbosity=0)
        access = demo_seed()
        embedded = settings.CELERY_TASK_ALWAYS_EAGER
        seeded = seeded_day() if settings.SANDBOXES_ENABLED else None
        # Listening before the day is seeded: the sandboxes it uses are served here.
        server = waitress.create_server(
            StaticFilesHandler(application), host=HOST, port=port, threads=THREADS
        )
        self._print_banner(base_url, access, embedded=embedded, seeded=seeded)

        # SIGTERM ends the server as Ctrl-C does, so that what runs beside it is stopped too.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        stopping = threading.Event()
        beside: AbstractContextManager[None] = (
            nullcontext()
            if embedded
            else runner.celery_processes(cwd=settings.BASE_DIR, beat_schedule=BEAT_SCHEDULE_FILE)
        )
        with beside:
            threading.Thread(
                target=self._prepare,
                args=(
                    base_url,
                    access,
                    embedded,
                    settings.SANDBOXES_ENABLED and not seeded,
                    stopping,
                ),
                name="demo-day",
                daemon=True,
            ).start()
            try:
                server.run()
            finally:
                stopping.set()
                server.close()

    def _prepare(
        self,
        base_url: str,
        access: DemoAccess,
        embedded: bool,
        unseeded: bool,  # sandboxes mounted and no day in the database yet
        stopping: threading.Event,
    ) -> None:
        """Seed the demo day if the database has none; in-process, then run the periodic
        jobs, which start after the day so that no sweep settles its trouble before the
        day's reconciliation has found it."""
        if unseeded:
            self._seed_day(base_url, access)
        if embedded:
            with runner.periodic_jobs(runner.periodic_jobs_from(settings.CELERY_BEAT_SCHEDULE)):
                stopping.wait()

    def _seed_day(self, base_url: str, access: DemoAccess) -> None:
        started = time.monotonic()
        try:
            day = demo_day_seed(base_url=base_url)
        except Exception:  # the service keeps running without its demo day
            logger.exception("the demo day could not be seeded")
            self._print(
                f"The demo day could not be seeded (the error is logged above); the service "
                f"runs without it. Console: {base_url}/console/",
                access.staff_logins,
            )
            return
        finally:
            close_old_connections()
        self._print(
            f"Demo day {day.business_date} ready in {time.monotonic() - started:.1f} s: "
            f"{base_url}/console/",
            access.staff_logins,
        )

    def _print(self, headline: str, logins: list[str]) -> None:
        lines = ["", headline, *(f"  Staff login     {login}" for login in logins), ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    def _print_banner(self, base_url: str, access: DemoAccess, *, embedded: bool, seeded) -> None:
        tasks = "in-process" if embedded else "Celery worker and beat"
        database = f"{connection.vendor} ({connection.settings_dict['NAME']})"
        lines = [
            "",
            f"Payments back-office: database {database}, tasks {tasks}.",
            f"  Console         {base_url}/console/",
            f"  API docs        {base_url}/api/docs/",
            f"  Admin           {base_url}/admin/",
        ]
        if settings.SANDBOXES_ENABLED:
            lines += [
                f"  Sandbox         {base_url}/sandbox/{code}/"
                for code in (*CHANNEL_CODES, *COURIER_CODES)
            ]
            lines.append(
                f"  Demo day        {seeded}, seeded on the first start: not seeded again"
                if seeded
                else "  Demo day        being seeded; a line below says when it is ready"
            )
        if seeded or not settings.SANDBOXES_ENABLED:
            lines += [f"  Staff login     {login}" for login in access.staff_logins]
        lines += [
            f"  Portal API key  {access.portal_key}",
            f"                  (client {access.portal_client}; 'Authorization: Bearer <key>')",
            "",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()
