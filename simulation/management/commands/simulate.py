import os
import sys
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from simulation.deployment import run_environment
from simulation.run import Options, replay_command, simulate

# Monday after the National Day holiday: a month's end (October's), then November's.
DEFAULT_START = date(2026, 10, 26)


class Command(BaseCommand):
    help = (
        "Drive the whole service (web server, Celery workers and beat, the sandboxes as the "
        "outside world) through N business days of traffic and faults drawn from a seed, on "
        "a simulated clock, in a database and queues of its own; print each day's figures and "
        "invariants, and exit non-zero if any invariant broke (docs/simulation.md)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START)
        parser.add_argument(
            "--scale", type=float, default=6.0, help="Orders per department on an ordinary day."
        )
        parser.add_argument(
            "--keep-database", action="store_true", help="Leave the run's database for a look."
        )

    def handle(self, *args, **options) -> None:
        if options["days"] < 1:
            raise CommandError("--days must be at least 1")
        environment = run_environment()
        if environment is not None:
            os.execve(sys.executable, [sys.executable, *sys.argv], environment)  # noqa: S606
        run = Options(
            days=options["days"],
            seed=options["seed"],
            start=options["start"],
            scale=options["scale"],
            # A directory of the run's own: two runs at once never share one.
            run_dir=Path(settings.VAR_DIR) / "simulation" / settings.CELERY_QUEUE_PREFIX.strip("-"),
            keep_database=options["keep_database"],
        )

        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        if not simulate(run, say):
            raise CommandError(
                f"An invariant broke (above). Replay: {replay_command(run)}; the processes' "
                f"logs are in {run.run_dir / 'logs'}"
            )
        say(f"Every invariant held. Replay: {replay_command(run)}")
