"""A short simulation, run twice at once with one seed: every invariant holds after every
day in both, and both print the same figures day by day (the runs share nothing: each has
its database, queues, ports and processes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from simulation.deployment import DEFAULT_BROKER

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261207
COMMAND = ["manage.py", "simulate", "--days", "2", "--seed", str(SEED), "--scale", "1.5"]
# The lines of each day's figures: what happened, and the books' state after it.
FIGURES = re.compile(r"^(\d{4}-\d{2}-\d{2}: .*|  (orders by status|items of the day|faults|"
                     r"transfers bent): .*)$", re.MULTILINE)  # fmt: skip
CHECK = re.compile(r"^  (ok  |FAIL) ", re.MULTILINE)


def _database_url() -> str:
    db = settings.DATABASES["default"]
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgres://{db.get('USER') or 'postgres'}@{host}:{port}/postgres"


def test_a_seed_gives_the_same_days_and_every_invariant_holds(tmp_path: Path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL or DEFAULT_BROKER,
        "VAR_DIR": str(tmp_path),
    }
    env.pop("CELERY_QUEUE_PREFIX", None)
    runs = [
        subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
            [sys.executable, *COMMAND],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=840)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-6000:]
        assert "FAIL" not in output
        assert f"Replay: manage.py simulate --days 2 --seed {SEED}" in output
    first, second = (FIGURES.findall(output) for output in outputs)
    days = [line for line, _ in first if not line.startswith(" ")]
    assert len(days) >= 4, outputs[0]  # two days of traffic and the nights that settle them
    assert [line for line, _ in first] == [line for line, _ in second]
    # Every day's invariants were checked, and the end's.
    assert len(CHECK.findall(outputs[0])) == (len(days) + 1) * 13
