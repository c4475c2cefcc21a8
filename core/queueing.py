"""Hand work to a worker by the task's name, as a message names it.

A service queues a task without importing the tasks module, which imports the service
to run it: the names are the contract (every one is routed in config/queues.py, and a
test checks that each is a registered task). Without a broker the task runs in-process.
"""

from __future__ import annotations

from threading import Lock

from config.celery_app import app as celery_app
from config.queues import TASK_QUEUES

# Threads loading the tasks modules at once: the one that finds the loading begun by another
# returned before the tasks were registered (NotRegistered on a web process's first tasks).
_loading_tasks = Lock()


def enqueue(task_name: str, *args: object) -> None:
    if task_name not in TASK_QUEUES:
        raise LookupError(f"no task {task_name!r} is routed to a queue")
    task = celery_app.tasks.get(task_name)
    if task is None:  # this process has not loaded the apps' tasks modules yet
        with _loading_tasks:
            celery_app.loader.import_default_modules()
        task = celery_app.tasks[task_name]
    task.delay(*args)
