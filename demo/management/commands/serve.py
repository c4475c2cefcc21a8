import logging
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import requests
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection, connections

from config.env import env_int
from core import embedded_postgres
from demo import runner
from demo.access import DemoAccess, demo_seed
from demo.day import demo_day_seed, seeded_day
from demo.run_lock import AlreadyRunning, run_lock
from integrations.couriers.registry import COURIER_CODES
from integrations.payments.registry import CHANNEL_CODES

VAR = settings.VAR_DIR
BEAT_SCHEDULE_FILE = VAR / "celerybeat-schedule"
METRICS_DIR = VAR / "metrics"
STARTUP_SECONDS = 60
logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run the whole service in the foreground: PostgreSQL (an embedded server in "
        "var/postgres unless DATABASE_URL names one), migrations and demo data, the web "
        "server on 127.0.0.1:$PORT (gunicorn, config/gunicorn.py), the sandboxes on "
        "$SANDBOX_PORT in a process of their own, and the tasks: in-process without "
        "CELERY_BROKER_URL, a Celery worker and beat beside it with one. The first start on "
        "a database also seeds a demo business day."
    )

    def handle(self, *args, **options) -> None:
        port = env_int("PORT", 8000)
        try:
            with run_lock(VAR / "run.lock", port=port):
                self._run(port)
        except AlreadyRunning as running:
            raise CommandError(str(running)) from None

    def _run(self, port: int) -> None:
        # SIGTERM ends the service as Ctrl-C does, so that everything it started is stopped.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        data_dir = _embedded_data_dir()
        if data_dir is not None:
            started = time.monotonic()
            embedded_postgres.ensure_running(data_dir)
            self._say(f"PostgreSQL ({data_dir}) up in {time.monotonic() - started:.1f} s")
        try:
            self._serve(port)
        finally:
            connections.close_all()
            if data_dir is not None:
                embedded_postgres.stop(data_dir)
                self._say("PostgreSQL stopped")

    def _serve(self, port: int) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        access = demo_seed()
        embedded_tasks = settings.CELERY_TASK_ALWAYS_EAGER
        seeded = seeded_day() if settings.SANDBOXES_ENABLED else None
        connections.close_all()  # the children open their own; none is shared across a fork
        base_url = f"http://127.0.0.1:{port}"
        commands = {"web": _web_command()}
        if settings.SANDBOXES_ENABLED:
            commands["sandboxes"] = [sys.executable, "manage.py", "sandboxes"]
        if not embedded_tasks:
            commands.update(runner.celery_commands(beat_schedule=BEAT_SCHEDULE_FILE))
        children_env = {**_metrics_env(), "LOG_HUMAN": os.environ.get("LOG_HUMAN", "1")}
        with runner.child_processes(commands, cwd=settings.BASE_DIR, env=children_env):
            _wait_until_healthy(f"{base_url}/healthz")
            if settings.SANDBOXES_ENABLED:
                _wait_until_healthy(f"{settings.SANDBOX_BASE_URL}/healthz")
            self._print_banner(base_url, access, embedded_tasks=embedded_tasks, seeded=seeded)
            if settings.SANDBOXES_ENABLED and not seeded:
                threading.Thread(
                    target=self._seed_day, args=(base_url, access), name="demo-day", daemon=True
                ).start()
            if embedded_tasks:
                jobs = runner.periodic_jobs_from(settings.CELERY_BEAT_SCHEDULE)
                with runner.periodic_jobs(jobs):
                    _wait_forever()
            else:
                _wait_forever()

    def _seed_day(self, base_url: str, access: DemoAccess) -> None:
        started = time.monotonic()
        try:
            day = demo_day_seed(sandbox_url=settings.SANDBOX_BASE_URL)
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

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _print(self, headline: str, logins: list[str]) -> None:
        self._say("\n".join(["", headline, *(f"  Staff login     {x}" for x in logins), ""]))

    def _print_banner(
        self, base_url: str, access: DemoAccess, *, embedded_tasks: bool, seeded
    ) -> None:
        tasks = "in-process" if embedded_tasks else "Celery worker and beat"
        lines = [
            "",
            f"Payments back-office: database {_database_description()}, tasks {tasks}.",
            f"  Console         {base_url}/console/",
            f"  API docs        {base_url}/api/docs/",
            f"  Admin           {base_url}/admin/",
            f"  Metrics         {base_url}/metrics",
        ]
        if settings.SANDBOXES_ENABLED:
            lines += [
                f"  Sandbox         {settings.SANDBOX_BASE_URL}/sandbox/{code}/"
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
        self._say("\n".join(lines))


def _embedded_data_dir() -> Path | None:
    database = settings.DATABASES["default"]
    return Path(database["DATA_DIR"]) if database["ENGINE"] == "core.embedded_postgres" else None


def _database_description() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0].split()[0]
    data_dir = _embedded_data_dir()
    where = f"embedded, {data_dir}" if data_dir else connection.settings_dict["NAME"]
    connections.close_all()
    return f"PostgreSQL {version} ({where})"


def _web_command() -> list[str]:
    config = settings.BASE_DIR / "config" / "gunicorn.py"
    return [sys.executable, "-m", "gunicorn", "-c", str(config), "config.wsgi:application"]


def _metrics_env() -> dict[str, str]:
    """The web processes share their request metrics through files (prometheus-client)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return {}
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    METRICS_DIR.mkdir(parents=True)
    return {"PROMETHEUS_MULTIPROC_DIR": str(METRICS_DIR)}


def _wait_until_healthy(url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise CommandError(f"{url} did not answer within {STARTUP_SECONDS} s")


def _wait_forever() -> None:
    stop = threading.Event()
    while not stop.wait(1.0):
        pass
