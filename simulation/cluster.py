"""The service's processes as a deployment runs them, each an OS process of its own.

A ``Cluster`` starts each long-running process (gunicorn, a Celery worker, beat, the
sandboxes' server) in a process group of its own with its output in a file, and can kill
or restart one by name: the simulator's faults and the scale-out test use it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import requests

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 10
TAIL_LINES = 30
Result = TypeVar("Result")


class ClusterFailure(RuntimeError):
    """A process died, or what was waited for did not happen; the message has the logs' tails."""


@dataclass
class Process:
    name: str
    command: list[str]
    extra_env: dict[str, str]
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self) -> str:
        return "\n".join(self.output().splitlines()[-TAIL_LINES:])


@dataclass
class Cluster:
    """The long-running processes, each in a process group of its own, output in a file."""

    logs: Path
    env: dict[str, str]
    processes: dict[str, Process] = field(default_factory=dict)

    def start(self, name: str, command: list[str], **extra_env: str) -> Process:
        log = self.logs / f"{name}.log"
        # Appended to: a restarted process's output follows its earlier life's.
        with log.open("ab") as sink:
            popen = subprocess.Popen(  # noqa: S603 (our interpreter, our arguments)
                command,
                cwd=ROOT,
                env={**self.env, **extra_env},
                stdout=sink,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        self.processes[name] = Process(name, command, extra_env, popen, log)
        return self.processes[name]

    def kill(self, name: str) -> None:
        """SIGKILL to the process and its children: no warm shutdown, work in hand is lost."""
        process = self.processes[name]
        _signal_group(process.popen, signal.SIGKILL)
        process.popen.wait()

    def restart(self, name: str, *, kill: bool = False) -> Process:
        """Stop the process (SIGTERM, or SIGKILL with ``kill``) and start it again."""
        process = self.processes[name]
        if kill:
            self.kill(name)
        else:
            _stop(process)
        return self.start(name, process.command, **process.extra_env)

    def tails(self) -> str:
        return "\n".join(
            f"\n----- {p.name} (exit status {p.popen.poll()}), last lines -----\n{p.tail()}"
            for p in self.processes.values()
        )

    def fail(self, message: str) -> None:
        raise ClusterFailure(f"{message}\n{self.tails()}")

    def check_running(self) -> None:
        for process in self.processes.values():
            if process.popen.poll() is not None:
                self.fail(f"{process.name} exited with status {process.popen.returncode}")

    def wait_for(self, check: Callable[[], Result], *, what: str, seconds: float) -> Result:
        deadline = time.monotonic() + seconds
        while True:
            result = check()
            if result:
                return result
            self.check_running()
            if time.monotonic() > deadline:
                self.fail(f"gave up after {seconds:.0f} s waiting for {what}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to every group (a warm shutdown), SIGKILL to what is left after a while."""
        for process in self.processes.values():
            _signal_group(process.popen, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The leader's children (gunicorn's and Celery's workers) go with the group.
            _signal_group(process.popen, signal.SIGKILL)
            process.popen.wait()


def _stop(process: Process) -> None:
    _signal_group(process.popen, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.popen.wait(timeout=STOP_SECONDS)
    _signal_group(process.popen, signal.SIGKILL)
    process.popen.wait()


def _signal_group(popen: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signum)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
