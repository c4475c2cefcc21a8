"""The simulated clock across processes: each started with Django as the service's are.

The clock is never installed in the test process itself; a writer process sets it, as the
simulator does, and readers (one of them forked before the jumps) report what they see.
"""

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from simulation.clock import CLOCK_ENV

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOLERANCE = timedelta(milliseconds=20)

# Answers each command read from stdin (one JSON line) with a JSON line on stdout.
PROCESS = """
import datetime, json, multiprocessing, os, sys, time
import django

django.setup()
from django.utils import timezone


def reading():
    return {
        "now": timezone.now().isoformat(),
        "local": datetime.datetime.now().isoformat(),
        "today": datetime.date.today().isoformat(),
        "time": time.time(),
        "patched": "time_machine" in sys.modules
        and sys.modules["time_machine"].escape_hatch.is_travelling(),
    }


def serve(connection):
    while connection.recv():
        connection.send(reading())


if os.environ.get("FORK_ONE"):
    fork = multiprocessing.get_context("fork")
    to_forked, forked_end = fork.Pipe()
    fork.Process(target=serve, args=(forked_end,), daemon=True).start()

for line in sys.stdin:
    command, argument = json.loads(line)
    if command == "set":
        from simulation.clock import CLOCK_ENV, clock_set

        os.environ[CLOCK_ENV] = argument["file"]
        clock_set(datetime.datetime.fromisoformat(argument["at"]))
    if command == "read forked":
        to_forked.send(True)
        answer = to_forked.recv()
    else:
        answer = reading()
    print(json.dumps(answer), flush=True)
"""


class Process:
    def __init__(self, **env: str) -> None:
        self._process = subprocess.Popen(  # noqa: S603 (our interpreter, our script)
            [sys.executable, "-c", PROCESS],
            cwd=settings.BASE_DIR,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, command: str, argument: object = None) -> dict:
        self._process.stdin.write(json.dumps([command, argument]) + "\n")
        self._process.stdin.flush()
        answer = json.loads(self._process.stdout.readline())
        answer["now"] = datetime.fromisoformat(answer["now"])
        return answer

    def stop(self) -> None:
        self._process.stdin.close()
        self._process.wait(timeout=10)


@pytest.fixture
def processes():
    started = []

    def start(**env: str) -> Process:
        started.append(Process(**env))
        return started[-1]

    yield start
    for process in started:
        process.stop()


class Writer:
    """The simulator's side: clock_set in a process of its own."""

    def __init__(self, process: Process, clock_file: Path) -> None:
        self._process, self._clock_file = process, clock_file

    def set(self, moment: datetime) -> float:
        """Set the clock; the monotonic time just before, from which the clock has run."""
        before = time.monotonic()
        answer = self._process.ask("set", {"file": str(self._clock_file), "at": moment.isoformat()})
        assert_shows(answer, moment, before)  # the writer itself has moved at once
        return before


def assert_shows(answer: dict, moment: datetime, since: float) -> None:
    """The clock shows ``moment`` plus the real time since ``since`` (at most)."""
    ran = timedelta(seconds=time.monotonic() - since)
    assert moment - TOLERANCE <= answer["now"] <= moment + ran + TOLERANCE
    assert answer["patched"]


def test_every_process_follows_the_clock_through_jumps(processes, tmp_path):
    clock_file = tmp_path / "clock.json"
    writer = Writer(processes(), clock_file)
    monday = datetime(2031, 3, 3, 9, tzinfo=SHANGHAI)
    since = writer.set(monday)
    assert json.loads(clock_file.read_text())["at"] == "2031-03-03T01:00:00+00:00"

    reader = processes(**{CLOCK_ENV: str(clock_file)}, FORK_ONE="1")
    for command in ("read", "read forked"):
        answer = reader.ask(command)
        assert_shows(answer, monday, since)
        assert answer["today"] == "2031-03-03"
        assert answer["local"].startswith("2031-03-03T09:00:")  # local time is still Shanghai's

    thursday = datetime(2031, 3, 6, 9, tzinfo=SHANGHAI)
    since = writer.set(thursday)
    assert_shows(reader.ask("read"), thursday, since)
    assert_shows(reader.ask("read forked"), thursday, since)

    before_midnight = datetime(2031, 3, 6, 23, 59, 59, tzinfo=SHANGHAI)
    since = writer.set(before_midnight)
    for command in ("read", "read forked"):
        answer = reader.ask(command)
        assert_shows(answer, before_midnight, since)
        assert answer["today"] == "2031-03-06"
    # The clock runs at real speed from where it was set: the day turns a second later.
    time.sleep(1.1)
    for command in ("read", "read forked"):
        assert reader.ask(command)["today"] == "2031-03-07"


def test_a_process_without_the_clock_file_keeps_real_time(processes):
    answer = processes().ask("read")

    assert not answer["patched"]
    assert abs(answer["time"] - time.time()) < 5
